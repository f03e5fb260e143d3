"""Log processing with Ray Data, the seed data platform's batch job in small.

Reads JSON-lines access logs, parses and filters them, aggregates latency and error
rates per service, and writes the result as Parquet. On EKS the input and output would be
S3 prefixes; here they are local directories so the example runs anywhere.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import ray
from ray.data.aggregate import Count, Max, Mean, Sum

SERVICES = ["checkout", "search", "profile", "payments"]


def write_sample_logs(directory: Path, files: int = 8, lines: int = 2_000) -> None:
    """Synthetic access logs, deterministic so the job's output can be checked."""
    rng = random.Random(42)
    directory.mkdir(parents=True, exist_ok=True)
    for index in range(files):
        with (directory / f"access-{index:02d}.jsonl").open("w") as handle:
            for _ in range(lines):
                service = rng.choice(SERVICES)
                status = rng.choices([200, 404, 500], weights=[90, 7, 3])[0]
                record = {
                    "service": service,
                    "status": status,
                    "latency_ms": round(rng.lognormvariate(3.0, 0.6), 2),
                    "path": f"/{service}/{rng.randint(1, 50)}",
                }
                handle.write(json.dumps(record) + "\n")


def parse(row: dict[str, object]) -> dict[str, object]:
    status = int(row["status"])  # type: ignore[call-overload]
    return {
        "service": row["service"],
        "latency_ms": float(row["latency_ms"]),  # type: ignore[arg-type]
        "is_error": int(status >= 500),
        "is_not_found": int(status == 404),
    }


def main() -> None:
    output = Path(os.environ.get("OUTPUT_DIR", tempfile.mkdtemp(prefix="log-pipeline-")))
    source = output / "input"
    write_sample_logs(source)
    ray.init()
    logs = ray.data.read_json(str(source))
    parsed = logs.map(parse).filter(lambda row: row["latency_ms"] > 0)
    summary = parsed.groupby("service").aggregate(
        Count(), Mean("latency_ms"), Max("latency_ms"), Sum("is_error"), Sum("is_not_found")
    )
    result_dir = output / "summary"
    shutil.rmtree(result_dir, ignore_errors=True)  # a rerun replaces, not appends
    summary.write_parquet(str(result_dir))
    rows = sorted(ray.data.read_parquet(str(result_dir)).take_all(), key=lambda r: r["service"])
    total = sum(int(r["count()"]) for r in rows)
    for row in rows:
        print(
            f"{row['service']:>9}: {row['count()']:5d} requests, "
            f"mean {row['mean(latency_ms)']:.1f} ms, errors {row['sum(is_error)']}"
        )
    print(f"processed {total} log lines into {result_dir}")
    assert total == 8 * 2_000, total


if __name__ == "__main__":
    main()

"""Head start time with the Pod's volumes (a bubblewrap view) against without.

Each round starts a bare `ray start --head --block` through the runtime port twice, in
alternating order: once plainly, once in the mount namespace a head with KubeRay's
sample mounts gets (ConfigMap at /home/ray/samples, a 0400 Secret, a PVC folder, an
emptyDir, a private /home/ray). "Started" is the node's agent /api/healthz answering 200.
The time with mounts includes making the volumes' folders. The ratio is the median with
mounts over the median without (goal: < 1.05).

Run: python bench/volume_start.py [ROUNDS]   (default 3)
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import BareRay, healthy, view_command, volume_view, wait

COMMON = [
    "--block",
    "--node-ip-address=127.0.0.1",
    "--num-cpus=1",
    f"--object-store-memory={80 * 2**20}",
]


def one(home: Path | None, round_: int) -> float:
    bare = BareRay()
    start = time.monotonic()
    view = volume_view(home, f"bench-head-{round_}") if home else None
    ports = bare.start(COMMON, view=view)
    wait(lambda: healthy(ports.dashboard_agent_listen), 120)
    elapsed = time.monotonic() - start
    bare.stop_all()
    return elapsed


def spawn_cost(home: Path, runs: int = 20) -> tuple[float, float]:
    """Median seconds to run `python -c pass` plainly and in a fresh view (mounts made
    each time): the direct cost of the view, which the head-start medians blur."""
    plain: list[float] = []
    wrapped: list[float] = []
    for i in range(runs):
        start = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        plain.append(time.monotonic() - start)
        start = time.monotonic()
        argv = view_command([sys.executable, "-c", "pass"], volume_view(home, f"spawn-{i}"))
        subprocess.run(argv, check=True)
        wrapped.append(time.monotonic() - start)
    return statistics.median(plain), statistics.median(wrapped)


def main() -> None:
    if shutil.which("bwrap") is None:
        sys.exit("bubblewrap is not installed: apt-get install -y bubblewrap")
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    home = Path(tempfile.mkdtemp(prefix="rp-bench-volumes-"))
    plain: list[float] = []
    mounted: list[float] = []
    try:
        for i in range(rounds):
            order = [(None, plain), (home, mounted)]
            for where, out in order if i % 2 == 0 else reversed(order):
                out.append(one(where, i))
        bare, viewed = spawn_cost(home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    p, m = statistics.median(plain), statistics.median(mounted)
    print(f"head start without mounts: {p:.2f} s (median of {rounds}: {plain})")
    print(f"head start with mounts:    {m:.2f} s (median of {rounds}: {mounted})")
    print(f"ratio with/without: {m / p:.3f} (goal < 1.05)")
    print(
        f"direct cost of the view: python -c pass {bare * 1000:.0f} ms plainly, "
        f"{viewed * 1000:.0f} ms in a view (+{(viewed - bare) * 1000:.0f} ms, "
        f"{(viewed - bare) / p:.1%} of a head start)"
    )


if __name__ == "__main__":
    main()

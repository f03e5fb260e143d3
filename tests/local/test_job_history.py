"""A RayJob's history stays bounded: a log of any size keeps a tail, retries keep the newest."""

from __future__ import annotations

import json
from pathlib import Path

from rayplane.local.history import Bounds, History, copy_tail, write_tail

GiB = 1024**3


def test_a_gigabyte_log_keeps_only_its_tail_and_says_so(tmp_path: Path) -> None:
    src = tmp_path / "driver.log"
    with src.open("wb") as handle:  # sparse: a 1 GiB log without writing a gigabyte
        handle.truncate(GiB)
        handle.seek(GiB)
        handle.write(b"\nthe last line\n")
    size = GiB + len(b"\nthe last line\n")
    kept = copy_tail(src, tmp_path / "kept.log", 64 * 1024)
    assert kept is not None and kept.truncated and kept.size == size
    text = (tmp_path / "kept.log").read_text()
    first, rest = text.split("\n", 1)
    assert f"this log had {size} bytes" in first and "dropped" in first
    assert rest.endswith("the last line\n")
    assert (tmp_path / "kept.log").stat().st_size <= 64 * 1024 + len(first) + 1


def test_a_short_log_is_kept_whole_without_a_note(tmp_path: Path) -> None:
    src = tmp_path / "driver.log"
    src.write_text("one\ntwo\n")
    kept = copy_tail(src, tmp_path / "kept.log", 1024)
    assert kept is not None and not kept.truncated
    assert (tmp_path / "kept.log").read_text() == "one\ntwo\n"


def test_a_retried_submitter_keeps_only_its_own_output(tmp_path: Path) -> None:
    src = tmp_path / "submitter.log"
    src.write_text("attempt 1 output\n")
    start = src.stat().st_size
    with src.open("a") as handle:
        handle.write("attempt 2 output\n")
    copy_tail(src, tmp_path / "kept.log", 1024, start)
    assert (tmp_path / "kept.log").read_text() == "attempt 2 output\n"


def test_logs_read_through_the_api_are_bounded_too(tmp_path: Path) -> None:
    text = "".join(f"line {i}\n" for i in range(100_000))  # 1 MB
    kept = write_tail(text, tmp_path / "kept.log", 1000)
    lines = (tmp_path / "kept.log").read_text().splitlines()
    assert kept.truncated and "only its last" in lines[0]
    assert lines[1].startswith("line ") and lines[-1] == "line 99999"
    assert (tmp_path / "kept.log").stat().st_size < 1200


def test_retries_keep_one_attempt_per_cluster_and_only_the_newest(tmp_path: Path) -> None:
    history = History(tmp_path, Bounds(attempts=3))
    for n in range(5):
        history.begin("default", "job", "uid-1", f"job-c{n}")
    again = history.begin("default", "job", "uid-1", "job-c4")  # the same attempt, not a new one
    kept = history.attempts("default", "job")
    assert [a.number for a in kept] == [3, 4, 5]
    assert [a.cluster for a in kept] == ["job-c2", "job-c3", "job-c4"]
    assert again.number == 5
    found = history.for_cluster("default", "job-c3")
    assert found is not None and found.number == 4
    assert history.for_cluster("default", "job-c0") is None


def test_a_new_rayjob_of_the_same_name_starts_a_fresh_history(tmp_path: Path) -> None:
    history = History(tmp_path)
    history.begin("default", "job", "old-uid", "job-a")
    attempt = history.begin("default", "job", "new-uid", "job-b")
    assert attempt.number == 1
    assert [a.cluster for a in history.attempts("default", "job")] == ["job-b"]


def test_node_logs_fit_the_attempts_budget_head_first(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("c-head-aaaaa", "c-w-worker-bbbbb", "c-w-worker-ccccc"):
        (logs / f"{name}.log").write_text("a line of ray start output\n" * 100 + f"{name} end\n")
    history = History(tmp_path / "home", Bounds(node_bytes=1000, nodes_total_bytes=2000))
    attempt = history.begin("default", "job", "uid", "c")
    history.keep_node_logs(attempt, sorted(logs.glob("*.log"), reverse=True))
    nodes = attempt.dir / "nodes"
    assert sorted(p.name for p in nodes.iterdir()) == ["c-head-aaaaa.log", "c-w-worker-bbbbb.log"]
    assert (nodes / "c-head-aaaaa.log").read_text().endswith("c-head-aaaaa end\n")
    manifest = json.loads((attempt.dir / "attempt.json").read_text())
    assert manifest["droppedNodeLogs"] == ["c-w-worker-ccccc.log"]
    total = sum(p.stat().st_size for p in nodes.iterdir())
    assert total < 2000 + 2 * 200  # the budget plus each file's one-line note


def test_a_typed_name_never_reads_outside_the_history(tmp_path: Path) -> None:
    history = History(tmp_path / "home")
    history.begin("default", "job", "uid", "c")
    assert history.attempts("default/job", "..") == []
    assert history.for_cluster("..", "c") is None
    assert history.for_cluster("default", "c") is not None

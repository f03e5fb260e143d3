"""The pod index never lets a pass act on a view that has not seen the operator's writes."""

from __future__ import annotations

from typing import Any

from rayplane.kubernetes.pod_index import PodIndex

KEY = ("ns", "c")


def pod(name: str, rv: int, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": str(rv),
            "labels": {"ray.io/cluster": "c"},
            **meta,
        }
    }


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_unlisted_cluster_is_listed_first() -> None:
    index = PodIndex()
    index.observe("ADDED", pod("a", 1))
    assert index.pods(KEY) is None


def test_own_creates_must_be_seen_before_the_index_is_used() -> None:
    index = PodIndex()
    index.listed(KEY, [])
    index.created(KEY, pod("a", 5))
    index.created(KEY, pod("b", 6))
    # The create responses themselves count as seen: both are there.
    assert sorted(p["metadata"]["name"] for p in index.pods(KEY) or []) == ["a", "b"]
    index.observe("DELETED", pod("b", 7))
    # b was created by us and is gone before any list saw it: not trusted, list again.
    assert index.pods(KEY) is None


def test_own_deletes_must_be_seen_going() -> None:
    index = PodIndex()
    index.listed(KEY, [pod("a", 1), pod("b", 2)])
    index.deleted(KEY, "b")
    assert index.pods(KEY) is None
    index.observe("MODIFIED", pod("b", 3, deletionTimestamp="2026-01-01T00:00:00Z"))
    assert index.pods(KEY) is not None
    index.observe("DELETED", pod("b", 4))
    assert [p["metadata"]["name"] for p in index.pods(KEY) or []] == ["a"]


def test_an_older_event_never_overwrites_a_newer_view() -> None:
    index = PodIndex()
    index.listed(KEY, [pod("a", 10, annotations={"v": "new"})])
    index.observe("MODIFIED", pod("a", 9, annotations={"v": "old"}))
    found = index.pods(KEY)
    assert found is not None and found[0]["metadata"]["annotations"] == {"v": "new"}


def test_the_index_is_relisted_after_the_resync_period() -> None:
    clock = Clock()
    index = PodIndex(resync=30.0, clock=clock)
    index.listed(KEY, [pod("a", 1)])
    clock.now = 29.0
    assert index.pods(KEY) is not None
    clock.now = 31.0
    # A deletion the watch missed (a gap) cannot mislead passes for longer than this.
    assert index.pods(KEY) is None


def test_forget_drops_a_deleted_cluster() -> None:
    index = PodIndex()
    index.listed(KEY, [pod("a", 1)])
    index.forget(KEY)
    assert index.pods(KEY) is None

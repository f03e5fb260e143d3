"""What each node of a cluster is doing, from Ray's dashboard: the numbers `rayplane top` shows.

Three reads of the head's dashboard, no extra server:

* ``GET /nodes?view=summary``: every node's raylet (instance id = our node's name, group,
  state, object store used/available) and its logical resources as Ray accounts them
  (``nodeLogicalResources``: "0.0/1.0 CPU\\n0B/2.00GiB memory\\n..."), which is what
  "busy" means to Ray's scheduler on a machine whose nodes share one CPU;
* ``GET /api/v0/tasks`` and ``/api/v0/actors`` (the state API), filtered to RUNNING tasks
  and ALIVE actors, counted by ``node_id``; the CPUs they hold (``required_resources`` of
  running normal tasks and alive actors) are the CPU column when the state API answers,
  because the summary's logical figures lag (seen reading 0/4 with 4 tasks running);
* ``GET /api/cluster_status?format=1``: the autoscaler's report, whose "Pending Demands"
  section is the demand no node can take yet.

A part that fails (the state API times out on a loaded head) leaves its column unknown
(None) instead of failing the whole view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from rayplane.clients.auth import auth_header

_LIMIT = 10_000


@dataclass(frozen=True)
class NodeLoad:
    node_id: str
    name: str  # the instance id: the local node's name (the Pod's name on Kubernetes)
    group: str
    head: bool
    state: str
    cpu_used: float | None
    cpu_total: float | None
    memory: str  # Ray's logical memory "used/total", as `ray status` prints it
    object_store_used: int | None
    object_store_total: int | None
    running_tasks: int | None = None
    alive_actors: int | None = None


@dataclass(frozen=True)
class ClusterLoad:
    nodes: list[NodeLoad]
    pending_demand: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


_CPU = re.compile(r"([\d.]+)/([\d.]+) CPU\b")
_MEMORY = re.compile(r"(\S+/\S+) memory\b")


def _parse_logical(text: str) -> tuple[float | None, float | None, str]:
    cpu = _CPU.search(text)
    memory = _MEMORY.search(text)
    return (
        float(cpu.group(1)) if cpu else None,
        float(cpu.group(2)) if cpu else None,
        memory.group(1) if memory else "",
    )


def _data(reply: httpx.Response) -> Any:
    reply.raise_for_status()
    body = reply.json()
    if not body.get("result", False):
        raise ValueError(str(body.get("msg") or "the dashboard answered result=false"))
    return body.get("data") or {}


def parse_nodes(data: dict[str, Any]) -> list[NodeLoad]:
    """Rows of ``/nodes?view=summary``'s data."""
    logical: dict[str, str] = data.get("nodeLogicalResources") or {}
    rows = []
    for summary in data.get("summary") or []:
        raylet = summary.get("raylet") or {}
        node_id = str(raylet.get("nodeId") or "")
        used, total, memory = _parse_logical(logical.get(node_id, ""))
        store_used = raylet.get("objectStoreUsedMemory")
        store_avail = raylet.get("objectStoreAvailableMemory")
        store_total = (
            int(store_used) + int(store_avail)
            if store_used is not None and store_avail is not None
            else None
        )
        rows.append(
            NodeLoad(
                node_id=node_id,
                name=str(raylet.get("instanceId") or raylet.get("nodeName") or node_id[:8]),
                group=str(raylet.get("nodeTypeName") or ""),
                head=bool(raylet.get("isHeadNode")),
                state=str(raylet.get("state") or ""),
                cpu_used=used,
                cpu_total=total,
                memory=memory,
                object_store_used=None if store_used is None else int(store_used),
                object_store_total=store_total,
            )
        )
    return sorted(rows, key=lambda n: (not n.head, n.group, n.name))


def _entries(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in (data.get("result") or {}).get("result") or [] if isinstance(e, dict)]


def count_by_node(data: dict[str, Any]) -> dict[str, int]:
    """node_id -> entries of a state API list answer."""
    counts: dict[str, int] = {}
    for entry in _entries(data):
        node = str(entry.get("node_id") or "")
        counts[node] = counts.get(node, 0) + 1
    return counts


def cpus_held(tasks: dict[str, Any], actors: dict[str, Any]) -> dict[str, float]:
    """node_id -> CPUs held by its running normal tasks and alive actors (an actor's
    method calls run inside the actor's own reservation, so actor tasks add nothing)."""
    held: dict[str, float] = {}
    holders = [t for t in _entries(tasks) if t.get("type") == "NORMAL_TASK"] + _entries(actors)
    for entry in holders:
        cpu = float((entry.get("required_resources") or {}).get("CPU") or 0.0)
        node = str(entry.get("node_id") or "")
        held[node] = held.get(node, 0.0) + cpu
    return held


def pending_demand(report: str) -> list[str]:
    """The lines of the autoscaler report's "Pending Demands" section (none: empty)."""
    lines = report.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Pending Demands:")
    except StopIteration:
        return []
    out = []
    for line in lines[start + 1 :]:
        text = line.strip()
        if not text or text.endswith(":") or text.startswith("="):
            break
        if not text.startswith("("):  # "(no resource demands)"
            out.append(text)
    return out


def _state_list(
    client: httpx.Client, base: str, kind: str, state: str, headers: dict[str, str]
) -> dict[str, Any]:
    params = {
        "limit": str(_LIMIT),
        "detail": "true",
        "filter_keys": "state",
        "filter_predicates": "=",
        "filter_values": state,
    }
    data: dict[str, Any] = _data(
        client.get(f"{base}/api/v0/{kind}", params=params, headers=headers)
    )
    return data


def cluster_load(client: httpx.Client, dashboard_url: str, token: str | None = None) -> ClusterLoad:
    """Every node's load; raises httpx.HTTPError only when the node list itself fails.
    *token* is the cluster's Ray auth token (token auth refuses the state API without it)."""
    base = dashboard_url.rstrip("/")
    headers = auth_header(token)
    summary = client.get(f"{base}/nodes", params={"view": "summary"}, headers=headers)
    nodes = parse_nodes(_data(summary))
    problems: list[str] = []
    tasks: dict[str, int] | None = None
    actors: dict[str, int] | None = None
    held: dict[str, float] | None = None
    demand: list[str] = []
    try:
        running = _state_list(client, base, "tasks", "RUNNING", headers)
        alive = _state_list(client, base, "actors", "ALIVE", headers)
        tasks, actors = count_by_node(running), count_by_node(alive)
        held = cpus_held(running, alive)
    except (httpx.HTTPError, ValueError) as exc:
        problems.append(f"state API: {type(exc).__name__}: {exc}")
    try:
        reply = client.get(f"{base}/api/cluster_status", params={"format": "1"}, headers=headers)
        status = _data(reply)
        demand = pending_demand(str(status.get("clusterStatus") or ""))
    except (httpx.HTTPError, ValueError) as exc:
        problems.append(f"cluster status: {type(exc).__name__}: {exc}")
    rows = [
        NodeLoad(
            **{
                **n.__dict__,
                "running_tasks": None if tasks is None else tasks.get(n.node_id, 0),
                "alive_actors": None if actors is None else actors.get(n.node_id, 0),
                "cpu_used": n.cpu_used if held is None else held.get(n.node_id, 0.0),
            }
        )
        for n in nodes
    ]
    return ClusterLoad(nodes=rows, pending_demand=demand, problems=problems)

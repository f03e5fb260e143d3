"""Loopback TCP ports for local Ray nodes.

Many nodes of many clusters share one host, and Ray's defaults (6379, 8265, 10001,
52365, 44217, ...) would collide at the second node. Each node therefore gets every port
it listens on chosen up front, so that its command line, the store and the tests all agree
on where it listens.

Ports are drawn at random from a pool below the kernel's ephemeral range, so that an
outgoing connection's source port cannot take one between allocation and ``ray start``,
and so that two allocators that do not share a store rarely pick the same port. Every
candidate is bind-tested on 127.0.0.1; ``exclude`` carries the ports already handed to
other nodes (recorded in the store), which may not be bound yet.
"""

from __future__ import annotations

import errno
import random
import socket
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Final

from rayplane.local.loopback import LOOPBACK_IP

DEFAULT_WORKER_PORT_COUNT: Final = 20
"""Ports for core workers (and the actors they host) per node; one per live worker."""

_POOL_LOW: Final = 20000
_POOL_HIGH_FALLBACK: Final = 32767
_EPHEMERAL_RANGE_FILE: Final = Path("/proc/sys/net/ipv4/ip_local_port_range")
_MAX_ATTEMPTS: Final = 2000


@dataclass(frozen=True)
class NodePorts:
    """Every TCP port one node listens on. Head-only fields are ``None`` on a worker."""

    object_manager: int
    node_manager: int
    dashboard_agent_listen: int
    dashboard_agent_grpc: int
    runtime_env_agent: int
    metrics_export: int
    min_worker: int
    max_worker: int
    gcs: int | None = None
    dashboard: int | None = None
    client_server: int | None = None
    autoscaler_metrics: int | None = None
    dashboard_metrics: int | None = None

    @property
    def is_head(self) -> bool:
        return self.gcs is not None

    def all_ports(self) -> frozenset[int]:
        """Every port of the node, the whole worker range included (for ``exclude``)."""
        ports = {
            value
            for f in fields(self)
            if f.name not in ("min_worker", "max_worker")
            and isinstance(value := getattr(self, f.name), int)
        }
        ports.update(range(self.min_worker, self.max_worker + 1))
        return frozenset(ports)

    def as_dict(self) -> dict[str, int]:
        """JSON-friendly form for the store (head-only ports left out on a worker)."""
        return {
            f.name: value for f in fields(self) if isinstance(value := getattr(self, f.name), int)
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, int]) -> NodePorts:
        """Inverse of :meth:`as_dict`."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def start_args(self) -> list[str]:
        """The ``ray start`` flags that pin these ports (``--dashboard-host`` included)."""
        args = [
            f"--object-manager-port={self.object_manager}",
            f"--node-manager-port={self.node_manager}",
            f"--dashboard-agent-listen-port={self.dashboard_agent_listen}",
            f"--dashboard-agent-grpc-port={self.dashboard_agent_grpc}",
            f"--runtime-env-agent-port={self.runtime_env_agent}",
            f"--metrics-export-port={self.metrics_export}",
            f"--min-worker-port={self.min_worker}",
            f"--max-worker-port={self.max_worker}",
        ]
        if self.gcs is not None:
            args.append(f"--port={self.gcs}")
        if self.dashboard is not None:
            args += [f"--dashboard-port={self.dashboard}", f"--dashboard-host={LOOPBACK_IP}"]
        if self.client_server is not None:
            args.append(f"--ray-client-server-port={self.client_server}")
        return args

    def env(self) -> dict[str, str]:
        """Head ports Ray takes only from the environment (fixed 44217/44227 otherwise)."""
        out: dict[str, str] = {}
        if self.autoscaler_metrics is not None:
            out["AUTOSCALER_METRIC_PORT"] = str(self.autoscaler_metrics)
        if self.dashboard_metrics is not None:
            out["DASHBOARD_METRIC_PORT"] = str(self.dashboard_metrics)
        return out


def ports_in_use(stored: Iterable[Mapping[str, int]]) -> set[int]:
    """Every port taken by nodes recorded as :meth:`NodePorts.as_dict` (worker ranges expanded).

    This is the ``exclude`` to pass when allocating for a new node.
    """
    out: set[int] = set()
    for data in stored:
        out.update(NodePorts.from_dict(data).all_ports())
    return out


def port_is_free(port: int, host: str = LOOPBACK_IP, *, reuse_addr: bool = False) -> bool:
    """Whether a listener could bind ``host:port`` now.

    By default without ``SO_REUSEADDR``: a port still in TIME_WAIT counts as busy, which
    errs on the safe side when allocating. ``reuse_addr=True`` asks what Ray's own servers
    would see (they set it), e.g. to check that a stopped node released its ports.
    A wildcard or dual-stack listener on the port makes the bind fail either way.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if reuse_addr:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _pool() -> range:
    """Candidate ports: from 20000 up to just below the ephemeral range."""
    high = _POOL_HIGH_FALLBACK
    try:
        low_ephemeral = int(_EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low_ephemeral = high + 1
    if low_ephemeral - 1 > _POOL_LOW + 1000:
        high = low_ephemeral - 1
    return range(_POOL_LOW, high + 1)


def _candidates(pool: range, rng: random.Random) -> Iterator[int]:
    for _ in range(_MAX_ATTEMPTS):
        yield rng.choice(pool)


def find_free_ports(
    count: int,
    *,
    exclude: Collection[int] = (),
    host: str = LOOPBACK_IP,
    rng: random.Random | None = None,
) -> list[int]:
    """``count`` distinct free ports, none in ``exclude``."""
    rng = rng or random.SystemRandom()
    taken = set(exclude)
    out: list[int] = []
    for port in _candidates(_pool(), rng):
        if len(out) == count:
            break
        if port in taken or not port_is_free(port, host):
            continue
        taken.add(port)
        out.append(port)
    if len(out) < count:
        raise RuntimeError(f"could not find {count} free loopback ports")
    return out


def find_free_range(
    length: int,
    *,
    exclude: Collection[int] = (),
    host: str = LOOPBACK_IP,
    rng: random.Random | None = None,
) -> tuple[int, int]:
    """A run of ``length`` consecutive free ports ``(first, last)``, none in ``exclude``."""
    if length < 1:
        raise ValueError("length must be positive")
    rng = rng or random.SystemRandom()
    pool = _pool()
    starts = range(pool.start, pool.stop - length + 1)
    taken = set(exclude)
    for first in _candidates(starts, rng):
        block = range(first, first + length)
        if any(p in taken for p in block):
            continue
        if all(port_is_free(p, host) for p in block):
            return first, first + length - 1
    raise RuntimeError(f"could not find {length} consecutive free loopback ports")


def allocate_node_ports(
    *,
    head: bool,
    exclude: Collection[int] = (),
    worker_port_count: int = DEFAULT_WORKER_PORT_COUNT,
    rng: random.Random | None = None,
) -> NodePorts:
    """Choose every port of one node (head or worker), avoiding ``exclude`` and busy ports.

    The ports are free when chosen, not reserved: start the node soon, and record
    :meth:`NodePorts.all_ports` in the store before allocating for the next node.
    """
    rng = rng or random.SystemRandom()
    first, last = find_free_range(worker_port_count, exclude=exclude, rng=rng)
    taken = set(exclude) | set(range(first, last + 1))
    n_single = 11 if head else 6
    singles = find_free_ports(n_single, exclude=taken, rng=rng)
    common = dict(
        object_manager=singles[0],
        node_manager=singles[1],
        dashboard_agent_listen=singles[2],
        dashboard_agent_grpc=singles[3],
        runtime_env_agent=singles[4],
        metrics_export=singles[5],
        min_worker=first,
        max_worker=last,
    )
    if not head:
        return NodePorts(**common)
    return NodePorts(
        **common,
        gcs=singles[6],
        dashboard=singles[7],
        client_server=singles[8],
        autoscaler_metrics=singles[9],
        dashboard_metrics=singles[10],
    )

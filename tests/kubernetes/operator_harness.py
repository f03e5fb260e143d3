"""Run the operator against the in-process fake Kubernetes API, for the operator tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import httpx

from rayplane.kubernetes.kube import Connection
from rayplane.kubernetes.operator import Operator
from rayplane.kubernetes.operator_config import OperatorConfig
from rayplane.kubernetes.testing import FakeKubernetes

TOKEN = "test-token"


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


@asynccontextmanager
async def fake_api(**options: Any) -> AsyncIterator[FakeKubernetes]:
    """The fake API server on its own thread and loop (kopf waits on its loop's tasks)."""
    kube = FakeKubernetes(token=TOKEN, **options).start_in_thread()
    try:
        yield kube
    finally:
        kube.stop_thread()


def config_for(kube: FakeKubernetes, **overrides: Any) -> OperatorConfig:
    settings: dict[str, Any] = {
        "connection": Connection(server=kube.url, token=TOKEN, ca_file=kube.ca_file),
        "leader_election": False,
        "health_address": None,
        "metrics_address": None,
    }
    settings.update(overrides)
    return OperatorConfig(**settings)


@asynccontextmanager
async def running(
    config: OperatorConfig, wait_for: Callable[..., Any], stop_timeout: float = 20.0
) -> AsyncIterator[Operator]:
    """An operator with *config* running on this loop until the block ends; *wait_for* is
    the API server's own (fake or real) polling helper."""
    op = Operator(config)
    task = asyncio.create_task(op.run())
    try:
        await wait_for(lambda: op.ready or task.done())
        if task.done():
            task.result()
        yield op
    finally:
        op.stop()
        await asyncio.wait_for(task, stop_timeout)


@asynccontextmanager
async def operator(kube: FakeKubernetes, **overrides: Any) -> AsyncIterator[Operator]:
    """An operator running against *kube* until the block ends."""
    async with running(config_for(kube, **overrides), kube.wait_for) as op:
        yield op


def status_of(kube: FakeKubernetes, plural: str, namespace: str, name: str) -> dict[str, Any]:
    obj = kube.get(plural, namespace, name)
    return (obj or {}).get("status") or {}


def condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


async def user_edit(
    kube: FakeKubernetes, method: str, path: str, body: Any, content_type: str | None = None
) -> None:
    """A user's write through the API server (as kubectl would send it); it must succeed."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if content_type:
        headers["Content-Type"] = content_type
    async with httpx.AsyncClient(base_url=kube.url) as client:
        answer = await client.request(method, path, json=body, headers=headers)
    assert answer.status_code == 200, answer.text


__all__ = ["condition", "operator", "run", "running", "status_of"]

"""``python -m rayplane.kubernetes.testing``: the fake API server as a process of its own."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path

from rayplane.kubernetes.testing.fake_api.server import FakeKubernetes


async def _serve(args: argparse.Namespace) -> None:
    kube = FakeKubernetes(
        host=args.host,
        port=args.port,
        tls=args.tls,
        token=args.token,
        auto_ready_pods=args.auto_ready_pods,
        record=False,
        history=args.history,
    )
    await kube.start()
    line = kube.url if not kube.ca_file else f"{kube.url} {kube.ca_file}"
    if args.port_file:
        Path(args.port_file).write_text(line + "\n")
    print(line, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await kube.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="An in-process fake Kubernetes API server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--token")
    parser.add_argument("--auto-ready-pods", type=float, default=None)
    parser.add_argument("--history", type=int, default=200_000)
    parser.add_argument("--port-file")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))

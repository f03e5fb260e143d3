"""Talking to a controller over its real Unix socket, raw bytes included."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rayplane.local.server import Handler, serve


@contextmanager
def serving(handler: Handler, **limits: Any) -> Iterator[Path]:
    """The API server on a short socket path (Unix socket paths stop at 107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="rp-api-"))
    path = folder / "api.sock"
    server, thread = serve(path, handler, **limits)
    try:
        yield path
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        shutil.rmtree(folder, ignore_errors=True)


def connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(30)  # a safety net against a hung test, not an assertion
    sock.connect(str(path))
    return sock


def answer(sock: socket.socket) -> tuple[int, Any]:
    """Read one HTTP answer from *sock*: (status, JSON body)."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    data = response.read()
    return response.status, json.loads(data) if data else None


def raw(path: Path, data: bytes) -> tuple[int, Any]:
    with connect(path) as sock:
        sock.sendall(data)
        return answer(sock)


def request(path: Path, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {url} HTTP/1.1\r\nHost: rayplane\r\nContent-Length: {len(data)}\r\n\r\n"
    return raw(path, head.encode() + data)

"""The controller's API: a tiny HTTP server on a Unix socket under $RAYPLANE_HOME.

A Unix socket rather than a TCP port: only users who can read the home directory can
talk to the controller, and there is no port to collide with Ray's. The CLI is its only
intended client; the routes mirror the Kubernetes API's verbs on one resource.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

Handler = Callable[[str, str, dict[str, str], Any], tuple[int, Any]]


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def serve(path: Path, handler: Handler) -> tuple[_Server, threading.Thread]:
    """Serve *handler(method, path, query, body) -> (status, json)* on the socket *path*."""
    if path.exists():
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # a stale socket from a controller that died
        else:
            probe.close()
            raise RuntimeError(f"a controller already answers on {path}")

    class _Request(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def address_string(self) -> str:
            return "local"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _handle(self) -> None:
            url = urlparse(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            try:
                status, payload = handler(self.command, url.path, query, body)
            except Exception as exc:  # the controller must answer, never hang the CLI
                status, payload = 500, {"message": f"{type(exc).__name__}: {exc}"}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = _handle

    server = _Server(str(path), _Request)
    os.chmod(path, 0o600)
    thread = threading.Thread(target=server.serve_forever, name="api", daemon=True)
    thread.start()
    return server, thread

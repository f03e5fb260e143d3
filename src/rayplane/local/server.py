"""The controller's API: a tiny HTTP server on a Unix socket under $RAYPLANE_HOME.

A Unix socket rather than a TCP port: only users who can read the home directory can
talk to the controller, and there is no port to collide with Ray's. The CLI is its only
intended client; the routes mirror the Kubernetes API's verbs on one resource.

Any process of the user can still write to the socket, so the server holds requests to
the API server's own limits: a request body of at most 3 MiB (413 past it, unread), a
whole request within a deadline (a client that stalls is cut off and its thread freed),
400 with the reason for a body that is not UTF-8 JSON, and error answers whose strings
are cut short so a refused 3 MiB value is not echoed back whole.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from rayplane.local.deadlines import Deadlines
from rayplane.local.requestbody import BadRequest, parse_body, truncated

Handler = Callable[[str, str, dict[str, str], Any], tuple[int, Any]]

log = logging.getLogger("rayplane.api")

#: The Kubernetes API server's cap on a request body (--max-request-bytes' default).
MAX_REQUEST_BYTES = 3 * 1024 * 1024
#: How long one request (request line, headers and body) may take to arrive.
REQUEST_TIMEOUT_S = 30.0


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    deadlines: Deadlines | None = None

    def server_close(self) -> None:
        super().server_close()
        if self.deadlines is not None:
            self.deadlines.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-request is routine; anything else is logged once,
        # not printed as a bare traceback on the controller's stderr.
        if isinstance(sys.exc_info()[1], OSError):
            log.debug("an API client went away", exc_info=True)
        else:
            log.warning("an API connection failed", exc_info=True)


def serve(
    path: Path,
    handler: Handler,
    *,
    timeout_s: float = REQUEST_TIMEOUT_S,
    max_request_bytes: int = MAX_REQUEST_BYTES,
) -> tuple[_Server, threading.Thread]:
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

    deadlines = Deadlines()

    class _Request(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        _cut_off = False

        def address_string(self) -> str:
            return "local"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def handle_one_request(self) -> None:
            # One deadline for the whole request, idle keep-alive wait included: a socket
            # timeout alone restarts on every byte, so a trickling client would never end.
            self._deadline = deadlines.add(timeout_s, self._cut)
            try:
                super().handle_one_request()
            finally:
                self._deadline.cancel()

        def _cut(self) -> None:
            self._cut_off = True
            with contextlib.suppress(OSError):  # unblocks the reading thread
                self.connection.shutdown(socket.SHUT_RDWR)

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            """Malformed requests (bad request line, headers) answered in JSON, then closed."""
            self.close_connection = True
            self.request_version = "HTTP/1.1"  # a status line even when the version was bad
            if not self._cut_off:
                reason = message or self.responses.get(code, ("error",))[0]
                self._answer(code, {"message": reason})

        def _handle(self) -> None:
            url = urlparse(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            try:
                body = parse_body(self.headers, self.rfile, max_request_bytes)
            except BadRequest as exc:
                self.close_connection = True  # the rest of the body is never read
                if not self._cut_off:
                    self._answer(exc.status, {"message": exc.message})
                return
            self._deadline.cancel()  # the request is in; the handler may take its time
            try:
                status, payload = handler(self.command, url.path, query, body)
            except Exception as exc:  # the controller must answer, never hang the CLI
                log.exception("%s %s failed", self.command, url.path)
                status, payload = 500, {"message": f"{type(exc).__name__}: {exc}"}
            self._answer(status, payload)

        def _answer(self, status: int, payload: Any) -> None:
            data = json.dumps(truncated(payload) if status >= 400 else payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                self.close_connection = True  # the client went away; nobody to tell

        do_GET = do_PUT = do_POST = do_DELETE = _handle

    server = _Server(str(path), _Request)
    server.deadlines = deadlines
    os.chmod(path, 0o600)
    thread = threading.Thread(target=server.serve_forever, name="api", daemon=True)
    thread.start()
    return server, thread

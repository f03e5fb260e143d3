"""A port-forward to a Pod through the API server's ``pods/portforward`` subresource.

kubectl's port-forward, without kubectl: a listener on 127.0.0.1 (an ephemeral port)
whose every accepted connection opens one WebSocket to the Pod's port and pumps bytes both
ways. The WebSocket speaks Kubernetes' ``v4.channel.k8s.io`` portforward protocol (what
the kubelet and containerd serve, and what the API server proxies): for each requested
port a data channel (0) and an error channel (1), every message prefixed with its channel
byte; the server first sends the port number (2 bytes, little endian) on both channels;
text on the error channel means the kubelet could not connect to the port. One WebSocket
carries one TCP connection, hence one WebSocket per accepted connection.

Each accepted connection costs two threads (one per direction), and at most
``max_connections`` are served at once: a browser on the dashboard opens a handful, a
runaway client cannot exhaust the process. The WebSocket itself is httpx2's (lightkube's
own HTTP stack, with the kubeconfig's TLS and credentials), so no second client library
is needed.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import logging
import secrets
import socket
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx2
from httpx2.websockets import (
    HTTPXWSException,
    WebSocketSession,
)

from rayplane.errors import RayplaneError

log = logging.getLogger(__name__)

PROTOCOL = "v4.channel.k8s.io"
DATA_CHANNEL = 0
ERROR_CHANNEL = 1
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
DEFAULT_MAX_CONNECTIONS = 32
OPEN_TIMEOUT_S = 15.0
"""How long the first WebSocket may take to say which port it serves (a safety net:
a healthy API server answers in milliseconds)."""

Dial = Callable[[], AbstractContextManager[WebSocketSession]]

_LIVE: weakref.WeakSet[PortForward] = weakref.WeakSet()


def _close_all() -> None:
    """Close every open forward before the interpreter joins its threads.

    httpx2's WebSocket reads on non-daemon pool threads; a connection left open (a
    browser tab on the dashboard when the notebook's kernel stops) would otherwise hold
    the process at exit forever. ``threading._register_atexit`` runs before that join
    (``atexit`` runs after it, too late); concurrent.futures uses the same hook, and
    since hooks run newest first, this one is registered after httpx2 has made its first
    pool (on the first dial), so it runs before the pool's join.
    """
    for forward in list(_LIVE):
        forward.close()


_registered = threading.Lock()
_hook: list[bool] = []


def _register_exit_hook() -> None:
    with _registered:
        if _hook:
            return
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            register(_close_all)
        else:  # pragma: no cover - CPython has had the hook since 3.9
            atexit.register(_close_all)
        _hook.append(True)


class PortForwardError(RayplaneError):
    """The API server (or the kubelet behind it) refused or broke the port-forward.

    ``status`` is the HTTP status of a refused upgrade (0 when there was none).
    """

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def _upgrade_headers() -> dict[str, str]:
    return {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Key": base64.b64encode(secrets.token_bytes(16)).decode("ascii"),
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Protocol": PROTOCOL,
    }


def _refusal(response: httpx2.Response) -> str:
    """The API server's Status message of a refused upgrade, else the body's first line."""
    text = response.text.strip()
    try:
        status: Any = json.loads(text)
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("message"):
        return str(status["message"])
    return text.splitlines()[0][:300] if text else response.reason_phrase


@contextlib.contextmanager
def open_channel(client: httpx2.Client, path: str, port: int) -> Iterator[WebSocketSession]:
    """One WebSocket to *port* of the Pod at *path* (``.../pods/NAME/portforward``).

    Unlike httpx2's ``client.websocket``, a refused upgrade keeps the server's message
    (e.g. "pod X does not have a host assigned") in the :class:`PortForwardError`.
    """
    try:
        with client.stream(
            "GET", path, params={"ports": str(port)}, headers=_upgrade_headers()
        ) as response:
            if response.status_code != 101:
                response.read()
                raise PortForwardError(
                    f"the API server answered {response.status_code}: {_refusal(response)}",
                    response.status_code,
                )
            chosen = response.headers.get("sec-websocket-protocol")
            if chosen not in (None, PROTOCOL):
                raise PortForwardError(f"the server chose subprotocol {chosen!r}, not {PROTOCOL}")
            session = WebSocketSession(
                response.extensions["network_stream"],
                max_message_size_bytes=MAX_MESSAGE_BYTES,
                keepalive_ping_interval_seconds=None,
                response=response,
            )
            with session:
                yield session
    except httpx2.HTTPError as exc:
        raise PortForwardError(f"cannot reach the API server: {type(exc).__name__}: {exc}") from exc


def read_preamble(ws: WebSocketSession, timeout: float = OPEN_TIMEOUT_S) -> int:
    """Read the port number the server sends first on the data and the error channel.

    Returns the port; raises PortForwardError when the server sends an error instead or
    closes the WebSocket.
    """
    seen: dict[int, int] = {}
    while len(seen) < 2:
        try:
            message = ws.receive_bytes(timeout=timeout)
        except TimeoutError as exc:
            raise PortForwardError(
                f"the port-forward did not start within {timeout:.0f} s"
            ) from exc
        except HTTPXWSException as exc:
            raise PortForwardError(f"the port-forward closed before it started ({exc!r})") from exc
        if not message:
            continue
        channel, payload = message[0], message[1:]
        if channel in seen or len(payload) != 2:
            raise PortForwardError(
                f"the port-forward failed: {payload.decode('utf-8', 'replace').strip()}"
            )
        seen[channel] = int.from_bytes(payload, "little")
    return seen[DATA_CHANNEL]


class _Connection:
    """One accepted local connection and its WebSocket; two pumps, one per direction."""

    def __init__(self, sock: socket.socket, forward: PortForward) -> None:
        self.sock = sock
        self.forward = forward
        self.done = threading.Event()
        self.ws: WebSocketSession | None = None

    def run(self) -> None:
        try:
            with self.forward.dial() as ws:
                self.ws = ws
                read_preamble(ws)
                upstream = threading.Thread(
                    target=self._upstream, args=(ws,), name="portforward-up", daemon=True
                )
                upstream.start()
                self._downstream(ws)
                self.done.set()
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_RDWR)
                upstream.join(timeout=5)
        except (PortForwardError, HTTPXWSException, OSError) as exc:
            self.forward.note_error(str(exc))
        finally:
            self.done.set()
            self.sock.close()

    def _downstream(self, ws: WebSocketSession) -> None:
        """Pod -> local socket, until the WebSocket closes or the error channel speaks."""
        while True:
            try:
                message = ws.receive_bytes(timeout=0.5)
            except TimeoutError:
                if self.done.is_set():
                    return
                continue
            except HTTPXWSException:
                return
            if not message:
                continue
            channel, payload = message[0], message[1:]
            if channel == DATA_CHANNEL:
                try:
                    self.sock.sendall(payload)
                except OSError:
                    return
            elif channel == ERROR_CHANNEL and payload:
                self.forward.note_error(payload.decode("utf-8", "replace").strip())
                return

    def _upstream(self, ws: WebSocketSession) -> None:
        """Local socket -> Pod; the local end closing closes the WebSocket (v4 has no
        half-close), which ends the downstream pump."""
        try:
            while not self.done.is_set():
                data = self.sock.recv(CHUNK_BYTES)
                if not data:
                    break
                ws.send_bytes(bytes((DATA_CHANNEL,)) + data)
        except Exception:  # the socket or the WebSocket closed (wsproto: a closing state)
            pass
        finally:
            self.done.set()
            with contextlib.suppress(Exception):
                ws.close()


class PortForward:
    """Listen on *host* (an ephemeral port) and forward each connection through *dial*.

    ``start()`` dials once first, so that a Pod that cannot be reached fails here with the
    API server's reason rather than on the first browser request.
    """

    def __init__(
        self,
        dial: Dial,
        *,
        host: str = "127.0.0.1",
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self.dial = dial
        self.host = host
        self._slots = threading.BoundedSemaphore(max_connections)
        self._closed = threading.Event()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._connections: set[_Connection] = set()
        self._lock = threading.Lock()
        self.errors: list[str] = []
        """The last errors of forwarded connections (the kubelet's words), newest last."""

    @property
    def address(self) -> str:
        if self._listener is None:
            raise PortForwardError("the port-forward is not started")
        host, port = self._listener.getsockname()[:2]
        return f"{host}:{port}"

    def start(self) -> str:
        """Check that the Pod's port can be reached, then listen; ``host:port``."""
        with self.dial() as ws:
            read_preamble(ws)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((self.host, 0))
        listener.listen(64)
        listener.settimeout(0.2)
        self._listener = listener
        self._acceptor = threading.Thread(
            target=self._accept, name="portforward-accept", daemon=True
        )
        self._acceptor.start()
        _register_exit_hook()
        _LIVE.add(self)
        return self.address

    def note_error(self, message: str) -> None:
        log.warning("port-forward: %s", message)
        with self._lock:
            self.errors = [*self.errors[-9:], message]

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._closed.is_set():
            if not self._slots.acquire(timeout=0.2):
                continue
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                self._slots.release()
                continue
            except OSError:
                self._slots.release()
                return
            sock.settimeout(None)
            connection = _Connection(sock, self)
            with self._lock:
                self._connections.add(connection)
            threading.Thread(
                target=self._serve, args=(connection,), name="portforward-conn", daemon=True
            ).start()

    def _serve(self, connection: _Connection) -> None:
        try:
            connection.run()
        finally:
            with self._lock:
                self._connections.discard(connection)
            self._slots.release()

    def close(self) -> None:
        """Stop listening and end every forwarded connection."""
        self._closed.set()
        _LIVE.discard(self)
        if self._listener is not None:
            self._listener.close()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.done.set()
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)
            if connection.ws is not None:
                # Closing the WebSocket here, not on the pump's next turn, releases the
                # read httpx2 blocks in (see _close_all).
                with contextlib.suppress(Exception):
                    connection.ws.close()

    def __enter__(self) -> PortForward:
        if self._listener is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

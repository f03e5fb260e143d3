"""The SDK's port-forward against a tiny local server speaking Kubernetes' portforward
WebSocket protocol (``v4.channel.k8s.io``), with a TCP echo server as the Pod's port.

The real API server of tests/kubernetes has no kubelet, so a live Pod cannot be reached
through it (test_sdk_kube.py checks the refusal there); this server plays the kubelet's
side of the protocol as pkg/kubelet/cri/streaming/portforward/websocket.go writes it:
the port number on the data and the error channel first, then channel-prefixed data,
text on the error channel when the Pod's port cannot be dialed.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
import yaml
from lightkube import KubeConfig
from lightkube.config.models import Cluster, User
from typer.testing import CliRunner
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from rayplane.cli import session_cmd
from rayplane.cli.main import app
from rayplane.sdk.kube_backend import KubeBackend
from rayplane.sdk.portforward import PROTOCOL, PortForward, PortForwardError, open_channel

pytestmark = pytest.mark.timeout(60)


@contextlib.contextmanager
def echo_server() -> Iterator[int]:
    """The "Pod's port": echoes every byte back, one thread per connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()


@dataclass
class FakeKubelet:
    """Pods by name: "echo" forwards to the echo server, "refused" has nothing listening,
    "nohost" is refused at the upgrade as the API server refuses an unscheduled Pod."""

    echo_port: int
    url: str = ""
    active: int = 0
    most_active: int = 0
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        self.paths.append(request.path)
        if "upgrade" not in request.headers.get("Connection", "").lower():
            return self.api(request)
        if "/pods/nohost/" in request.path:
            body = json.dumps(
                {
                    "kind": "Status",
                    "status": "Failure",
                    "message": "pod nohost does not have a host assigned",
                    "reason": "BadRequest",
                    "code": 400,
                }
            ).encode()
            headers = Headers([("Content-Type", "application/json")])
            return Response(400, "Bad Request", headers, body)
        return None

    def api(self, request: Request) -> Response:
        """The plain API calls: the RayCluster rc (session reads it first), and the head Pod
        listed by its labels (reach() finds it so)."""
        url = urlsplit(request.path)
        headers = Headers([("Content-Type", "application/json")])
        if url.path == "/apis/ray.io/v1/namespaces/ns/rayclusters/rc":
            rc = {
                "apiVersion": "ray.io/v1",
                "kind": "RayCluster",
                "metadata": {"name": "rc", "namespace": "ns"},
            }
            return Response(200, "OK", headers, json.dumps(rc).encode())
        assert url.path == "/api/v1/namespaces/ns/pods", request.path
        selector = parse_qs(url.query)["labelSelector"][0]
        assert set(selector.split(",")) == {"ray.io/cluster=rc", "ray.io/node-type=head"}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "echo", "namespace": "ns", "labels": {}},
            "spec": {"containers": [{"name": "ray-head", "ports": []}]},
            "status": {"phase": "Running"},
        }
        body = {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [pod]}
        return Response(200, "OK", headers, json.dumps(body).encode())

    def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        url = urlsplit(ws.request.path)
        port = int(parse_qs(url.query)["ports"][0])
        preamble = port.to_bytes(2, "little")
        ws.send(b"\x00" + preamble)
        ws.send(b"\x01" + preamble)
        if "/pods/refused/" in url.path:
            ws.send(b"\x01" + f"error forwarding port {port}: connection refused".encode())
            return
        with self.lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        pod = socket.create_connection(("127.0.0.1", self.echo_port))

        def pod_to_ws() -> None:
            with contextlib.suppress(OSError, ConnectionClosed):
                while data := pod.recv(65536):
                    ws.send(b"\x00" + data)
            with contextlib.suppress(Exception):
                ws.close()

        reader = threading.Thread(target=pod_to_ws, daemon=True)
        reader.start()
        try:
            for message in ws:
                assert isinstance(message, bytes) and message[0] == 0, message
                pod.sendall(message[1:])
        except ConnectionClosed:
            pass
        finally:
            with self.lock:
                self.active -= 1
            with contextlib.suppress(OSError):
                pod.shutdown(socket.SHUT_RDWR)
            reader.join(timeout=5)
            pod.close()


@pytest.fixture
def kubelet() -> Iterator[tuple[FakeKubelet, httpx2.Client]]:
    with echo_server() as echo_port:
        fake = FakeKubelet(echo_port)
        server = serve(
            fake.handler,
            "127.0.0.1",
            0,
            subprotocols=[PROTOCOL],  # type: ignore[list-item]
            process_request=fake.process_request,
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        port = server.socket.getsockname()[1]
        fake.url = f"http://127.0.0.1:{port}"
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}") as client:
            yield fake, client
        server.shutdown()
        thread.join()


def _forward(client: httpx2.Client, pod: str, port: int = 8265, **kw: int) -> PortForward:
    path = f"/api/v1/namespaces/ns/pods/{pod}/portforward"
    return PortForward(lambda: open_channel(client, path, port), **kw)


def _roundtrip(address: str, payload: bytes) -> bytes:
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=20) as conn:
        conn.sendall(payload)
        received = b""
        while len(received) < len(payload):
            chunk = conn.recv(65536)
            assert chunk, f"closed after {len(received)} of {len(payload)} bytes"
            received += chunk
        return received


def test_bytes_go_both_ways_through_the_websocket(
    kubelet: tuple[FakeKubelet, httpx2.Client],
) -> None:
    fake, client = kubelet
    with _forward(client, "echo") as forward:
        assert forward.address.startswith("127.0.0.1:")
        assert _roundtrip(forward.address, b"GET / HTTP/1.1\r\n\r\n") == b"GET / HTTP/1.1\r\n\r\n"
        big = bytes(range(256)) * 4096  # 1 MiB: many messages each way
        assert _roundtrip(forward.address, big) == big
    assert all("ports=8265" in p for p in fake.paths)
    assert all(p.startswith("/api/v1/namespaces/ns/pods/echo/portforward") for p in fake.paths)


def test_concurrent_connections_are_bounded(kubelet: tuple[FakeKubelet, httpx2.Client]) -> None:
    fake, client = kubelet
    with _forward(client, "echo", max_connections=2) as forward:
        results: list[bytes] = []

        def one(i: int) -> None:
            results.append(_roundtrip(forward.address, f"hello {i}".encode() * 1000))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == sorted(f"hello {i}".encode() * 1000 for i in range(6))
    assert 1 <= fake.most_active <= 2


def test_a_refused_upgrade_keeps_the_api_servers_message(
    kubelet: tuple[FakeKubelet, httpx2.Client],
) -> None:
    _, client = kubelet
    forward = _forward(client, "nohost")
    with pytest.raises(PortForwardError) as caught:
        forward.start()
    assert caught.value.status == 400
    assert "pod nohost does not have a host assigned" in str(caught.value)


def test_the_error_channel_ends_the_connection_and_is_kept(
    kubelet: tuple[FakeKubelet, httpx2.Client],
) -> None:
    _, client = kubelet
    with _forward(client, "refused", port=8000) as forward:
        host, port = forward.address.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=20) as conn:
            conn.sendall(b"ping")
            assert conn.recv(100) == b""  # closed, not hanging
        deadline_errors = forward.errors
    assert any("error forwarding port 8000: connection refused" in e for e in deadline_errors)


def test_kube_backend_reach_forwards_to_the_head_pod(
    kubelet: tuple[FakeKubelet, httpx2.Client],
) -> None:
    """KubeBackend.reach end to end: the head Pod found by its labels, its dashboard port
    (KubeRay's default when the container names none) forwarded, closed on exit."""
    fake, _ = kubelet
    config = KubeConfig.from_one(cluster=Cluster(server=fake.url), user=User(token="t")).get()
    backend = KubeBackend(config=config)
    rc = {"kind": "RayCluster", "metadata": {"name": "rc", "namespace": "ns"}}
    try:
        with backend.reach(rc, "dashboard") as address:
            assert _roundtrip(address, b"hello dashboard") == b"hello dashboard"
        host, port = address.rsplit(":", 1)
        with pytest.raises(OSError):
            socket.create_connection((host, int(port)), timeout=5).close()
    finally:
        backend.close()
    assert any("/pods/echo/portforward?ports=8265" in p for p in fake.paths)


def test_session_prints_the_forwarded_urls_and_closes_them(
    kubelet: tuple[FakeKubelet, httpx2.Client], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rayplane session rc` with the fake kubelet as the API server: both ports forwarded
    while it holds (Ctrl-C is simulated by returning from the wait), none after."""
    fake, _ = kubelet
    conf = tmp_path / "kubeconfig"
    conf.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": fake.url}}],
                "users": [{"name": "me", "user": {"token": "t"}}],
                "contexts": [
                    {
                        "name": "fake",
                        "context": {"cluster": "fake", "user": "me", "namespace": "ns"},
                    }
                ],
                "current-context": "fake",
            }
        )
    )
    held: list[str] = []

    def hold() -> None:
        held.extend(fake.paths)

    monkeypatch.setattr(session_cmd, "_hold", hold)
    answer = CliRunner().invoke(app, ["session", "rc", "--kubeconfig", str(conf)])
    assert answer.exit_code == 0, answer.output
    urls = dict(
        line.split(": ", 1)
        for line in answer.output.splitlines()
        if line.startswith(("Ray dashboard", "Ray client"))
    )
    assert urls["Ray dashboard"].strip().startswith("http://127.0.0.1:")
    assert urls["Ray client"].strip().startswith("ray://127.0.0.1:")
    assert any("ports=8265" in p for p in held) and any("ports=10001" in p for p in held)
    port = int(urls["Ray dashboard"].strip().rsplit(":", 1)[1])
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


_EXIT_PROBE = """
import socket, sys, threading
import httpx2
from websockets.sync.server import serve
from rayplane.sdk.portforward import PROTOCOL, PortForward, open_channel

got = threading.Event()

def handler(ws):
    ws.send(b"\\x00\\x8d\\x20")
    ws.send(b"\\x01\\x8d\\x20")
    for _ in ws:
        got.set()

server = serve(handler, "127.0.0.1", 0, subprotocols=[PROTOCOL])
threading.Thread(target=server.serve_forever, daemon=True).start()
client = httpx2.Client(base_url=f"http://127.0.0.1:{server.socket.getsockname()[1]}")
forward = PortForward(lambda: open_channel(client, "/pf", 8333))
host, port = forward.start().rsplit(":", 1)
conn = socket.create_connection((host, int(port)))
conn.sendall(b"x")
assert got.wait(30)
print("leaving with a live connection", flush=True)
"""


def test_a_live_forward_does_not_hold_the_process_at_exit(tmp_path: Path) -> None:
    """A notebook kernel that stops while a browser still has the dashboard open must
    exit: httpx2 reads on non-daemon pool threads, which the interpreter joins."""
    script = tmp_path / "probe.py"
    script.write_text(_EXIT_PROBE)
    answer = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=45,  # safety net: without the exit hook this never returns
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    assert "leaving with a live connection" in answer.stdout

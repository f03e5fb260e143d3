"""The CLI's side of the controller API, and starting the controller when none runs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from typing import Any

import httpx

from rayplane.errors import RayplaneError
from rayplane.local.logs import log_tail
from rayplane.settings import HomeError, LocalSettings, prepare_home, prepare_temp_root

log = logging.getLogger("rayplane.client")


class ControllerError(RayplaneError):
    """The controller could not be reached or refused a request."""

    def __init__(self, message: str, status: int = 0, payload: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.payload = payload


class ControllerClient:
    def __init__(self, settings: LocalSettings) -> None:
        self.settings = settings
        self.socket = settings.home / "controller.sock"
        self._home_checked = False
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket)),
            base_url="http://rayplane",
            timeout=30.0,
        )

    def close(self) -> None:
        self._http.close()

    def _check_home(self, create: bool = False) -> None:
        """Refuse a home another user owns or may write to before trusting its socket:
        whoever answers there would receive every Secret the CLI applies."""
        if self._home_checked or not (create or self.settings.home.exists()):
            return  # no home yet: nothing to trust; ensure_running creates it owner-only
        try:
            for note in prepare_home(self.settings.home):
                log.warning("%s", note)
        except HomeError as exc:
            raise ControllerError(str(exc)) from exc
        self._home_checked = True

    def request(self, method: str, path: str, body: Any = None, **query: str) -> Any:
        self._check_home()
        try:
            response = self._http.request(method, path, json=body, params=query or None)
        except httpx.TransportError as exc:
            raise ControllerError(
                f"the local controller is not running (no answer on {self.socket})"
            ) from exc
        payload = response.json() if response.content else None
        if response.status_code >= 400:
            message = payload.get("message") if isinstance(payload, dict) else response.text
            raise ControllerError(str(message), response.status_code, payload)
        return payload

    def alive(self) -> bool:
        try:
            self.request("GET", "/healthz")
        except ControllerError:
            return False
        return True

    def ensure_running(self, timeout_s: float = 30.0) -> bool:
        """Start `rayplane controller` in the background unless one answers; True if started."""
        self._check_home(create=True)  # refused here, the user reads why, not controller.log
        if self.alive():
            return False
        try:  # the same: a temp root another user could write to is refused before a start
            prepare_temp_root(self.settings.temp_root)
        except HomeError as exc:
            raise ControllerError(str(exc)) from exc
        home = self.settings.home
        output = open(home / "controller.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", "rayplane", "controller", "run"],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,
                env=dict(os.environ, RAYPLANE_HOME=str(home)),
                close_fds=True,
            )
        finally:
            output.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.alive():
                return True
            if child.poll() is not None:  # it said why in its log; say it here, now
                last = log_tail(str(home / "controller.log"), 1) or "no output"
                raise ControllerError(
                    f"the controller exited at start (code {child.returncode}): {last}"
                )
            time.sleep(0.1)
        raise ControllerError(
            f"the controller did not start within {timeout_s:.0f}s; see {home / 'controller.log'}"
        )

    # resource verbs --------------------------------------------------------------------

    def apply(self, doc: dict[str, Any]) -> dict[str, Any]:
        kind, ns, name = _key(doc)
        result: dict[str, Any] = self.request("PUT", f"/resources/{kind}/{ns}/{name}", doc)
        return result

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self.request("GET", f"/resources/{kind}/{namespace}/{name}")
        except ControllerError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    def list(self, kind: str | None = None, namespace: str | None = None) -> list[dict[str, Any]]:
        query = {k: v for k, v in (("kind", kind), ("namespace", namespace)) if v}
        result: list[dict[str, Any]] = self.request("GET", "/resources", **query)
        return result

    def delete(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self.request("DELETE", f"/resources/{kind}/{namespace}/{name}")
        except ControllerError as exc:
            if exc.status == 404:
                return None
            raise
        return result


def _key(doc: dict[str, Any]) -> tuple[str, str, str]:
    meta = doc.get("metadata") or {}
    return str(doc["kind"]), str(meta.get("namespace") or "default"), str(meta["name"])

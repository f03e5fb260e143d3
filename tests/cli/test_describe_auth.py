"""`describe` says where a cluster's Ray auth token is, and never prints the token."""

from __future__ import annotations

from typing import Any

from rayplane.cli import describe
from rayplane.cli.output import out


def _detail(auth: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "kind": "RayCluster",
        "metadata": {"name": "demo", "namespace": "team", "uid": "u", "generation": 1},
        "spec": {},
        "status": {},
        "local": {"nodes": [], "events": [], "notes": [], "auth": auth},
    }


def test_describe_names_the_secret_and_key_and_how_to_read_it() -> None:
    auth = {"mode": "token", "secret": "demo", "key": "auth_token", "namespace": "team"}
    with out.capture() as captured:
        describe.render(_detail(auth))
    text = " ".join(captured.get().split())
    assert "Auth token: Secret demo key auth_token" in text
    assert "rayplane get secret demo -n team -o yaml" in text


def test_describe_says_when_auth_is_off() -> None:
    with out.capture() as captured:
        describe.render(_detail({"mode": "disabled"}))
    assert "mode: disabled" in captured.get()

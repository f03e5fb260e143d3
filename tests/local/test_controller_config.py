"""The controller API for Secrets and ConfigMaps: stored, validated, deleted at once, private."""

from __future__ import annotations

import base64
import stat
from typing import Any

from rayplane.local.controller import Controller

PATH = "/resources/Secret/default/redis-password-secret"


def secret(**fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "redis-password-secret"},
        **fields,
    }


def test_put_get_list_delete_a_secret(controller: Controller) -> None:
    code, created = controller.handle("PUT", PATH, {}, secret(stringData={"password": "pw"}))
    assert code == 200
    # Stored as the API server stores it: stringData folded into base64 data.
    assert created["data"] == {"password": base64.b64encode(b"pw").decode()}
    assert "stringData" not in created
    assert created["metadata"]["namespace"] == "default"

    code, got = controller.handle("GET", PATH, {}, None)
    assert code == 200 and got["data"] == created["data"]
    code, listed = controller.handle("GET", "/resources", {"kind": "Secret"}, None)
    assert [d["metadata"]["name"] for d in listed] == ["redis-password-secret"]

    code, _ = controller.handle("DELETE", PATH, {}, None)
    assert code == 200
    # No finalizer: gone at once, not after a reconcile pass.
    assert controller.handle("GET", PATH, {}, None)[0] == 404
    assert controller.handle("DELETE", PATH, {}, None)[0] == 404


def test_the_same_data_again_is_unchanged_and_new_data_is_a_new_generation(
    controller: Controller,
) -> None:
    first = controller.handle("PUT", PATH, {}, secret(stringData={"password": "pw"}))[1]
    again = controller.handle(
        "PUT", PATH, {}, secret(data={"password": base64.b64encode(b"pw").decode()})
    )[1]
    changed = controller.handle("PUT", PATH, {}, secret(stringData={"password": "new"}))[1]
    assert first["metadata"]["generation"] == again["metadata"]["generation"] == 1
    assert changed["metadata"]["generation"] == 2


def test_an_invalid_secret_is_refused_with_its_findings(controller: Controller) -> None:
    code, body = controller.handle("PUT", PATH, {}, secret(data={"password": "not base64!"}))
    assert code == 422
    assert [f["path"] for f in body["findings"]] == ["data.password"]
    assert controller.handle("GET", PATH, {}, None)[0] == 404
    code, body = controller.handle(
        "PUT", "/resources/ConfigMap/default/x", {}, secret(stringData={})
    )
    # A Secret body sent as a ConfigMap: the URL and the body disagree, a bad request.
    assert code == 400 and "kind" in body["message"]
    assert controller.handle("GET", "/resources/ConfigMap/default/x", {}, None)[0] == 404


def test_the_reconcile_loop_leaves_config_objects_alone(controller: Controller) -> None:
    controller.handle("PUT", PATH, {}, secret(stringData={"password": "pw"}))
    controller.handle(
        "PUT",
        "/resources/ConfigMap/default/cm",
        {},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "b"}},
    )
    controller.reconcile_all()
    stored = controller.store.get("Secret", "default", "redis-password-secret")
    assert stored is not None and stored.status is None
    assert controller.store.events(stored.uid) == []


def test_the_state_file_holding_secrets_is_owner_only(controller: Controller) -> None:
    controller.handle("PUT", PATH, {}, secret(stringData={"password": "pw"}))
    home = controller.settings.home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    files = sorted(home.glob("state.db*"))
    assert [p.name for p in files] == ["state.db", "state.db-shm", "state.db-wal"]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

"""The volume plan of a Pod: what a local node mounts where, and what it refuses to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from rayplane.reconcile.volumes import (
    MAX_OBJECT_BYTES,
    PodInfo,
    VolumeError,
    object_bytes,
    plan_volumes,
    volume_files,
)


def pod(mounts: list[dict[str, Any]], volumes: list[dict[str, Any]], **container: Any) -> Any:
    return {
        "containers": [{"name": "ray-head", "volumeMounts": mounts, **container}],
        "volumes": volumes,
    }


CODE = {"name": "code", "configMap": {"name": "code"}}
WHERE = "headGroupSpec.template.spec"


def lookup_of(objects: Mapping[tuple[str, str], Mapping[str, bytes]]) -> Any:
    return lambda kind, name: objects.get((kind, name))


def test_kuberay_sample_mount_is_planned_read_only_with_the_default_working_dir() -> None:
    plan = plan_volumes(pod([{"name": "code", "mountPath": "/home/ray/samples"}], [CODE]), WHERE)
    assert plan.problems == ()
    (mount,) = plan.mounts
    assert (mount.path, mount.kind, mount.mode) == ("/home/ray/samples", "configMap", "ro")
    assert plan.working_dir == "/home/ray"


@pytest.mark.parametrize(
    ("mount", "field"),
    [
        ({"name": "code", "mountPath": "/home/ray/../../etc"}, "mountPath"),
        ({"name": "code", "mountPath": "relative/path"}, "mountPath"),
        ({"name": "code", "mountPath": "/"}, "mountPath"),
        ({"name": "code", "mountPath": "/x", "subPath": "../../secrets"}, "subPath"),
        ({"name": "code", "mountPath": "/x", "subPath": "/etc"}, "subPath"),
        ({"name": "nope", "mountPath": "/x"}, "name"),
    ],
)
def test_a_mount_that_would_leave_its_place_is_refused_by_field(
    mount: dict[str, Any], field: str
) -> None:
    plan = plan_volumes(pod([mount], [CODE]), WHERE)
    assert plan.mounts == ()
    (problem,) = plan.problems
    assert f"{WHERE}.containers[0].volumeMounts[0].{field}" in problem


def test_a_volume_name_or_claim_that_would_leave_the_home_is_refused() -> None:
    volumes = [
        {"name": "../../x", "emptyDir": {}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "../../../etc"}},
    ]
    mounts = [{"name": "../../x", "mountPath": "/a"}, {"name": "data", "mountPath": "/b"}]
    plan = plan_volumes(pod(mounts, volumes), WHERE)
    assert plan.mounts == ()
    assert "DNS-1123 label" in plan.problems[0] and "/a is not mounted" in plan.problems[0]
    assert "claimName '../../../etc'" in plan.problems[1]


def test_an_unsupported_kind_is_named_with_its_mount_path() -> None:
    volumes = [{"name": "gcs", "csi": {"driver": "gcsfuse.csi.storage.gke.io"}}]
    plan = plan_volumes(pod([{"name": "gcs", "mountPath": "/data"}], volumes), WHERE)
    assert plan.mounts == ()
    assert "csi volume" in plan.problems[0] and "/data is missing" in plan.problems[0]


def test_a_bad_working_dir_falls_back_to_home_ray() -> None:
    plan = plan_volumes(pod([], [], workingDir="../up"), WHERE)
    assert plan.working_dir == "/home/ray"
    assert "workingDir" in plan.problems[0]


def test_configmap_items_defaultmode_and_item_mode() -> None:
    plan = plan_volumes(
        pod(
            [{"name": "s", "mountPath": "/etc/s"}],
            [
                {
                    "name": "s",
                    "secret": {
                        "secretName": "creds",
                        "defaultMode": 0o400,
                        "items": [
                            {"key": "token", "path": "dir/token"},
                            {"key": "ca", "path": "ca.pem", "mode": 0o444},
                        ],
                    },
                }
            ],
        ),
        WHERE,
    )
    lookup = lookup_of({("Secret", "creds"): {"token": b"t", "ca": b"c", "other": b"o"}})
    files = volume_files(plan.mounts[0], lookup, PodInfo("n", "default"), WHERE)
    assert [(f.path, f.data, oct(f.mode)) for f in files] == [
        ("dir/token", b"t", "0o400"),
        ("ca.pem", b"c", "0o444"),
    ]


def test_an_item_path_that_escapes_is_refused() -> None:
    volume = {
        "name": "code",
        "configMap": {"name": "code", "items": [{"key": "a", "path": "../../a"}]},
    }
    plan = plan_volumes(pod([{"name": "code", "mountPath": "/x"}], [volume]), WHERE)
    with pytest.raises(VolumeError, match=r"items\[0\]\.path '../../a' holds '\.\.'"):
        volume_files(
            plan.mounts[0],
            lookup_of({("ConfigMap", "code"): {"a": b"1"}}),
            PodInfo("n", "d"),
            WHERE,
        )


def test_missing_objects_wait_unless_optional() -> None:
    plan = plan_volumes(pod([{"name": "code", "mountPath": "/x"}], [CODE]), WHERE)
    with pytest.raises(VolumeError, match='configmap "code" not found'):
        volume_files(plan.mounts[0], lookup_of({}), PodInfo("n", "d"), WHERE)
    optional = {"name": "code", "configMap": {"name": "code", "optional": True}}
    plan = plan_volumes(pod([{"name": "code", "mountPath": "/x"}], [optional]), WHERE)
    assert volume_files(plan.mounts[0], lookup_of({}), PodInfo("n", "d"), WHERE) == []


def test_a_configmap_over_one_mebibyte_is_refused() -> None:
    plan = plan_volumes(pod([{"name": "code", "mountPath": "/x"}], [CODE]), WHERE)
    huge = {("ConfigMap", "code"): {"big": b"x" * (MAX_OBJECT_BYTES + 1)}}
    with pytest.raises(VolumeError, match="1 MiB"):
        volume_files(plan.mounts[0], lookup_of(huge), PodInfo("n", "d"), WHERE)


def test_downward_api_and_projected_files() -> None:
    volume = {
        "name": "p",
        "projected": {
            "sources": [
                {"configMap": {"name": "code"}},
                {
                    "downwardAPI": {
                        "items": [
                            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                            {
                                "path": "group",
                                "fieldRef": {"fieldPath": "metadata.labels['ray.io/group']"},
                            },
                        ]
                    }
                },
            ]
        },
    }
    plan = plan_volumes(pod([{"name": "p", "mountPath": "/etc/p"}], [volume]), WHERE)
    info = PodInfo("head-x", "default", labels={"ray.io/group": "headgroup", "a": "b"})
    files = volume_files(
        plan.mounts[0], lookup_of({("ConfigMap", "code"): {"k": b"v"}}), info, WHERE
    )
    assert {f.path: f.data for f in files} == {
        "k": b"v",
        "labels": b'a="b"\nray.io/group="headgroup"',
        "name": b"head-x",
        "group": b"headgroup",
    }


def test_object_bytes_reads_binary_data_and_merges_string_data() -> None:
    assert object_bytes("ConfigMap", {"data": {"a": "1"}, "binaryData": {"b": "AAE="}}) == {
        "a": b"1",
        "b": b"\x00\x01",
    }
    assert object_bytes("Secret", {"data": {"a": "eA=="}, "stringData": {"a": "y"}}) == {"a": b"y"}

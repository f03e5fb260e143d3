"""Tests for converting cluster-launcher YAML into a KubeRay RayCluster."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayplane.api.convert import (
    Conversion,
    ConversionError,
    convert_cluster_launcher,
    installed_ray_version,
)
from rayplane.api.launcher_fields import dns1035_name
from rayplane.api.launcher_resources import kuberay_resources_param
from tests.support import SEED_ENV

SEED_EXAMPLE = Path("/work/shared/examples/ec2-cluster-launcher.yaml")

# The seed's own example, inlined so the tests do not depend on the shared tree.
EC2_LAUNCHER_YAML = """\
cluster_name: ${CLUSTER_NAME}

provider:
    type: aws
    region: ${AWS_REGION}
    availability_zone: ${AWS_REGION}a
    use_internal_ips: true

auth:
    ssh_user: ec2-user

setup_commands:
    - sudo dnf install -y python-unversioned-command
    - sudo dnf install -y python3-pip
    - pip install -U "ray[default,data]" pandas pyarrow boto3

max_workers: 16

available_node_types:
    head_node:
        resources: {"CPU": 4, "Intel": 1}
        node_config:
            InstanceType: m7i.xlarge
            ImageId: ${X86_AMI_ID}
            SubnetId: ${PRIV_SUBNET_ID}
            SecurityGroupIds:
                - ${HEAD_SG_ID}
            IamInstanceProfile:
                Name: ray-instance-profile
        min_workers: 0
        max_workers: 0
    x86_worker_node:
        resources: {"CPU": 4, "Intel": 1}
        node_config:
            InstanceType: m7i.2xlarge
            ImageId: ${X86_AMI_ID}
            SubnetId: ${PRIV_SUBNET_ID}
            SecurityGroupIds:
                - ${WORKER_SG_ID}
            IamInstanceProfile:
                Name: ray-instance-profile
        min_workers: 4
        max_workers: 8
    arm_worker_node:
        resources: {"CPU": 4, "Graviton": 1}
        node_config:
            InstanceType: m8g.2xlarge
            ImageId: ${ARM_AMI_ID}
            SubnetId: ${PRIV_SUBNET_ID}
            SecurityGroupIds:
                - ${WORKER_SG_ID}
            IamInstanceProfile:
                Name: ray-instance-profile
        min_workers: 4
        max_workers: 8

head_node_type: head_node
"""


def _minimal(**overrides: Any) -> dict[str, Any]:
    """A small valid launcher config to perturb in error tests."""
    config: dict[str, Any] = {
        "cluster_name": "demo",
        "provider": {"type": "aws", "region": "us-west-2"},
        "head_node_type": "head",
        "available_node_types": {
            "head": {"resources": {"CPU": 2}, "node_config": {}},
            "worker": {
                "resources": {"CPU": 2, "Special": 3},
                "node_config": {},
                "min_workers": 1,
                "max_workers": 3,
            },
        },
    }
    config.update(overrides)
    return config


def _groups(conversion: Conversion) -> dict[str, dict[str, Any]]:
    return {g["groupName"]: g for g in conversion.resource["spec"]["workerGroupSpecs"]}


def _container(group: dict[str, Any]) -> dict[str, Any]:
    containers = group["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


@pytest.fixture
def seed() -> Conversion:
    return convert_cluster_launcher(EC2_LAUNCHER_YAML, SEED_ENV)


def test_inline_copy_matches_the_shared_seed_example() -> None:
    if not SEED_EXAMPLE.exists():
        pytest.skip("shared example not present")
    text = SEED_EXAMPLE.read_text()
    assert yaml.safe_load(text) == yaml.safe_load(EC2_LAUNCHER_YAML)


def test_seed_top_level(seed: Conversion) -> None:
    resource = seed.resource
    version = installed_ray_version()
    assert resource["apiVersion"] == "ray.io/v1"
    assert resource["kind"] == "RayCluster"
    assert resource["metadata"] == {"name": "ec2-ray"}
    spec = resource["spec"]
    assert spec["rayVersion"] == version
    assert spec["enableInTreeAutoscaling"] is True
    assert seed.unset_variables == []


def test_seed_worker_groups(seed: Conversion) -> None:
    groups = _groups(seed)
    assert list(groups) == ["x86_worker_node", "arm_worker_node"]
    for name, custom in (("x86_worker_node", "Intel"), ("arm_worker_node", "Graviton")):
        group = groups[name]
        assert (group["minReplicas"], group["maxReplicas"], group["replicas"]) == (4, 8, 4)
        assert group["rayStartParams"] == {"resources": f'"{{\\"{custom}\\": 1}}"'}
        container = _container(group)
        assert container["name"] == "ray-worker"
        assert container["image"] == f"rayproject/ray:{installed_ray_version()}"
        assert container["resources"] == {"requests": {"cpu": "4"}, "limits": {"cpu": "4"}}


def test_seed_head(seed: Conversion) -> None:
    head = seed.resource["spec"]["headGroupSpec"]
    assert head["rayStartParams"] == {
        "dashboard-host": "0.0.0.0",
        "resources": '"{\\"Intel\\": 1}"',
    }
    container = _container(head)
    assert container["name"] == "ray-head"
    assert container["resources"]["limits"]["cpu"] == "4"
    assert container["resources"]["requests"]["cpu"] == "4"


def test_seed_notes_name_dropped_fields_by_path(seed: Conversion) -> None:
    text = "\n".join(seed.notes)
    for path in (
        "available_node_types.head_node.node_config",
        "available_node_types.x86_worker_node.node_config",
        "available_node_types.arm_worker_node.node_config",
        "auth",
        "setup_commands",
        "provider",
    ):
        assert any(note.startswith(path) for note in seed.notes), path
    assert "InstanceType m8g.2xlarge" in text
    assert "3 commands" in text
    # Nothing hints at an annotation or other invented field.
    assert "annotations" not in json.dumps(seed.resource)


def test_unset_variables_are_reported_and_left_in_place() -> None:
    env = {"CLUSTER_NAME": "ec2-ray", "AWS_REGION": "us-west-2"}
    conversion = convert_cluster_launcher(EC2_LAUNCHER_YAML, env)
    assert conversion.unset_variables == [
        "X86_AMI_ID",
        "PRIV_SUBNET_ID",
        "HEAD_SG_ID",
        "WORKER_SG_ID",
        "ARM_AMI_ID",
    ]
    assert conversion.resource["metadata"]["name"] == "ec2-ray"


def test_unset_cluster_name_is_reported_and_sanitized() -> None:
    conversion = convert_cluster_launcher(EC2_LAUNCHER_YAML, {})
    assert "CLUSTER_NAME" in conversion.unset_variables
    assert conversion.resource["metadata"]["name"] == "cluster-name"
    assert any(note.startswith("cluster_name '${CLUSTER_NAME}'") for note in conversion.notes)


def test_bare_dollar_placeholders_and_substitution_in_nested_strings() -> None:
    config = _minimal(cluster_name="$PREFIX-${SUFFIX}")
    config["available_node_types"]["worker"]["labels"] = {"zone": "$ZONE"}
    conversion = convert_cluster_launcher(config, {"PREFIX": "team", "SUFFIX": "a"})
    assert conversion.resource["metadata"]["name"] == "team-a"
    assert _groups(conversion)["worker"]["labels"] == {"zone": "$ZONE"}
    assert conversion.unset_variables == ["ZONE"]


def test_input_mapping_is_not_mutated() -> None:
    config = _minimal(cluster_name="${NAME}")
    before = copy.deepcopy(config)
    convert_cluster_launcher(config, {"NAME": "x"})
    assert config == before


def test_numeric_placeholders_in_integer_fields() -> None:
    config = _minimal()
    worker = config["available_node_types"]["worker"]
    worker["resources"]["CPU"] = "${CPUS}"
    worker["max_workers"] = "${MAX}"
    conversion = convert_cluster_launcher(config, {"CPUS": "8", "MAX": "5"})
    group = _groups(conversion)["worker"]
    assert group["maxReplicas"] == 5
    assert _container(group)["resources"]["limits"]["cpu"] == "8"


def test_cluster_name_is_made_dns1035() -> None:
    assert dns1035_name("Ray_On_AWS") == "ray-on-aws"
    assert dns1035_name("9lives") == "ray-9lives"
    assert dns1035_name("a" * 80) == "a" * 53
    conversion = convert_cluster_launcher(_minimal(cluster_name="My.Cluster"), {})
    assert conversion.resource["metadata"]["name"] == "my-cluster"
    assert any("became metadata.name 'my-cluster'" in note for note in conversion.notes)
    clean = convert_cluster_launcher(_minimal(), {})
    assert not any(note.startswith("cluster_name") for note in clean.notes)


def test_namespace_defaults_and_global_max_workers() -> None:
    config = _minimal(provider={"type": "aws", "namespace": "ml"}, max_workers=6)
    del config["available_node_types"]["worker"]["max_workers"]
    conversion = convert_cluster_launcher(config, {})
    assert conversion.resource["metadata"] == {"name": "demo", "namespace": "ml"}
    assert _groups(conversion)["worker"]["maxReplicas"] == 6

    bare = _minimal()
    del bare["available_node_types"]["worker"]["max_workers"]
    del bare["available_node_types"]["worker"]["min_workers"]
    group = _groups(convert_cluster_launcher(bare, {}))["worker"]
    assert (group["minReplicas"], group["maxReplicas"], group["replicas"]) == (0, 2, 0)


def test_fixed_size_cluster_does_not_autoscale() -> None:
    config = _minimal()
    config["available_node_types"]["worker"].update(min_workers=3, max_workers=3)
    config["available_node_types"]["worker"]["idle_timeout_s"] = 30
    conversion = convert_cluster_launcher(config, {})
    spec = conversion.resource["spec"]
    assert spec["enableInTreeAutoscaling"] is False
    assert "idleTimeoutSeconds" not in _groups(conversion)["worker"]
    assert any("worker.idle_timeout_s was not carried over" in n for n in conversion.notes)


def test_gpu_memory_labels_and_autoscaler_options() -> None:
    config = _minimal(idle_timeout_minutes=2.5, upscaling_speed=1.0)
    worker = config["available_node_types"]["worker"]
    worker["resources"] = {"CPU": 8, "GPU": 2, "memory": 17179869184, "Special": 3}
    worker.update(labels={"accelerator": "a10g"}, idle_timeout_s=90, priority=5)
    config["available_node_types"]["head"]["resources"] = {"CPU": 0}
    conversion = convert_cluster_launcher(config, {})
    spec = conversion.resource["spec"]
    assert spec["autoscalerOptions"] == {
        "idleTimeoutSeconds": 150,
        "upscalingMode": "Conservative",
        "version": "v2",
    }
    group = _groups(conversion)["worker"]
    assert group["labels"] == {"accelerator": "a10g"}
    assert group["idleTimeoutSeconds"] == 90
    assert group["priority"] == 5
    assert _container(group)["resources"] == {
        "requests": {"cpu": "8"},
        "limits": {"cpu": "8", "nvidia.com/gpu": "2", "memory": "17179869184"},
    }
    head = spec["headGroupSpec"]
    assert head["rayStartParams"] == {"dashboard-host": "0.0.0.0", "num-cpus": "0"}
    assert "resources" not in _container(head)
    assert any("upscalingMode Conservative" in note for note in conversion.notes)

    fast = convert_cluster_launcher(_minimal(upscaling_speed=50), {})
    assert fast.resource["spec"]["autoscalerOptions"] == {"upscalingMode": "Default"}


def test_head_type_with_workers_becomes_a_group_too() -> None:
    config = _minimal()
    config["available_node_types"]["head"].update(min_workers=1, max_workers=2)
    groups = _groups(convert_cluster_launcher(config, {}))
    assert list(groups) == ["head", "worker"]
    assert (groups["head"]["minReplicas"], groups["head"]["maxReplicas"]) == (1, 2)


def test_resources_param_encoding() -> None:
    assert kuberay_resources_param({"A": 1, "B": 2}) == '"{\\"A\\": 1, \\"B\\": 2}"'


# -- errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c.pop("available_node_types"), "available_node_types is missing"),
        (lambda c: c.pop("head_node_type"), "head_node_type is missing"),
        (lambda c: c.update(head_node_type="nope"), "head_node_type 'nope'"),
        (
            lambda c: c["available_node_types"]["worker"].update(resources=[1]),
            "available_node_types.worker.resources must be a mapping",
        ),
        (
            lambda c: c["available_node_types"]["worker"]["resources"].update(CPU=1.5),
            "available_node_types.worker.resources.CPU must be a non-negative integer",
        ),
        (
            lambda c: c["available_node_types"]["worker"]["resources"].update(CPU="${N}"),
            "unset placeholder",
        ),
        (
            lambda c: c["available_node_types"]["worker"]["resources"].update(X=True),
            "available_node_types.worker.resources.X",
        ),
        (
            lambda c: c["available_node_types"]["worker"].pop("resources"),
            "available_node_types.worker.resources is missing",
        ),
        (
            lambda c: c["available_node_types"]["worker"].update(min_workers=5),
            "available_node_types.worker.min_workers (5) is larger",
        ),
        (
            lambda c: c["available_node_types"]["worker"]["resources"].update({'a"b': 1}),
            "custom resource names cannot contain",
        ),
        (lambda c: c.update(cluster_name="___"), "cluster_name '___'"),
        (lambda c: c.update(upscaling_speed="fast"), "upscaling_speed must be a number"),
    ],
)
def test_malformed_input_names_the_path(mutate: Any, message: str) -> None:
    config = _minimal()
    mutate(config)
    with pytest.raises(ConversionError, match=_escape(message)):
        convert_cluster_launcher(config, {})


def _escape(text: str) -> str:
    return re.escape(text)


def test_non_mapping_and_invalid_yaml() -> None:
    with pytest.raises(ConversionError, match="mapping at the top level"):
        convert_cluster_launcher("- a\n- b\n", {})
    with pytest.raises(ConversionError, match="not valid YAML"):
        convert_cluster_launcher("a: [1,\n", {})
    assert issubclass(ConversionError, ValueError)


# -- round trip through Ray's own KubeRay reader ------------------------------------


def test_output_round_trips_through_rays_kuberay_autoscaling_config(seed: Conversion) -> None:
    autoscaling_config = pytest.importorskip("ray.autoscaler._private.kuberay.autoscaling_config")
    ray_cr = copy.deepcopy(seed.resource)
    ray_cr["metadata"].setdefault("namespace", "default")
    derived = autoscaling_config._derive_autoscaling_config_from_ray_cr(ray_cr)
    node_types = derived["available_node_types"]
    assert node_types["x86_worker_node"]["resources"] == {"CPU": 4, "Intel": 1}
    assert node_types["arm_worker_node"]["resources"] == {"CPU": 4, "Graviton": 1}
    assert node_types["headgroup"]["resources"] == {"CPU": 4, "Intel": 1}
    assert node_types["x86_worker_node"]["min_workers"] == 4
    assert node_types["x86_worker_node"]["max_workers"] == 8
    for name, custom in (("x86_worker_node", {"Intel": 1}), ("arm_worker_node", {"Graviton": 1})):
        group = _groups(seed)[name]
        assert autoscaling_config._get_custom_resources({}, group["rayStartParams"], name) == custom


def test_full_featured_output_round_trips_through_ray() -> None:
    autoscaling_config = pytest.importorskip("ray.autoscaler._private.kuberay.autoscaling_config")
    config = _minimal(idle_timeout_minutes=3, upscaling_speed=1)
    worker = config["available_node_types"]["worker"]
    worker["resources"] = {"CPU": 8, "GPU": 2, "memory": 2**34, "Special": 3, "Other": 1}
    worker.update(labels={"accelerator": "a10g"}, idle_timeout_s=90, priority=5)
    conversion = convert_cluster_launcher(config, {})
    ray_cr = copy.deepcopy(conversion.resource)
    ray_cr["metadata"]["namespace"] = "default"
    derived = autoscaling_config._derive_autoscaling_config_from_ray_cr(ray_cr)
    node_type = derived["available_node_types"]["worker"]
    assert node_type["resources"] == {
        "CPU": 8,
        "GPU": 2,
        "memory": 2**34,
        "Special": 3,
        "Other": 1,
    }
    assert node_type["labels"] == {"accelerator": "a10g"}
    assert node_type["idle_timeout_s"] == 90.0
    assert node_type["priority"] == 5
    assert (node_type["min_workers"], node_type["max_workers"]) == (1, 3)
    assert derived["idle_timeout_minutes"] == 3.0
    assert derived["upscaling_speed"] == 1

"""The `ray start` builder: KubeRay's rules, as a user sees them in the node's command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from rayplane.api.quantity import QuantityError
from rayplane.api.raycluster import RayCluster, RayClusterSpec
from rayplane.reconcile.raystart import (
    RayStartCommand,
    build_ray_start,
    head_port,
    ray_resources,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "raycluster-basic.yaml"
FQDN = "raycluster-basic-head-svc.raydata.svc.cluster.local:6379"


def spec(
    *,
    head: dict[str, Any] | None = None,
    worker: dict[str, Any] | None = None,
    **top: Any,
) -> RayClusterSpec:
    """A RayClusterSpec with one head and one worker group ("workers")."""
    head_doc: dict[str, Any] = {"template": {"spec": {"containers": [{"name": "ray-head"}]}}}
    worker_doc: dict[str, Any] = {
        "groupName": "workers",
        "replicas": 1,
        "template": {"spec": {"containers": [{"name": "ray-worker"}]}},
    }
    head_doc.update(head or {})
    worker_doc.update(worker or {})
    return RayClusterSpec.model_validate(
        {"headGroupSpec": head_doc, "workerGroupSpecs": [worker_doc], **top}
    )


def container(**resources: Any) -> dict[str, Any]:
    return {"template": {"spec": {"containers": [{"name": "ray", "resources": resources}]}}}


def head_cmd(s: RayClusterSpec, **kw: Any) -> RayStartCommand:
    return build_ray_start(s, None, head_address=None, **kw)


def worker_cmd(s: RayClusterSpec, **kw: Any) -> RayStartCommand:
    kw.setdefault("head_address", "head:6379")
    return build_ray_start(s, s.worker_group_specs[0], **kw)


# -- the seed example ---------------------------------------------------------------------------


def example() -> RayCluster:
    return RayCluster.model_validate(yaml.safe_load(EXAMPLE.read_text()))


def test_example_head_command_is_kuberays() -> None:
    cmd = head_cmd(example().spec)
    assert cmd.shell() == (
        "ray start --head --block --dashboard-agent-listen-port=52365 "
        "--dashboard-host=0.0.0.0 --memory=4294967296 --metrics-export-port=8080 "
        "--no-monitor --num-cpus=2"
    )
    # What KubeRay puts in KUBERAY_GEN_RAY_START_CMD, padding included.
    assert cmd.kuberay_shell() == (
        "ray start --head  --block  --dashboard-agent-listen-port=52365  "
        "--dashboard-host=0.0.0.0  --memory=4294967296  --metrics-export-port=8080  "
        "--no-monitor  --num-cpus=2 "
    )
    assert cmd.argv() == [
        "ray",
        "start",
        "--head",
        "--block",
        "--dashboard-agent-listen-port=52365",
        "--dashboard-host=0.0.0.0",
        "--memory=4294967296",
        "--metrics-export-port=8080",
        "--no-monitor",
        "--num-cpus=2",
    ]


def test_example_worker_command_is_kuberays() -> None:
    cluster = example()
    cmd = build_ray_start(cluster.spec, cluster.spec.worker_group_specs[0], head_address=FQDN)
    assert cmd.shell() == (
        f"ray start --address={FQDN} --block --dashboard-agent-listen-port=52365 "
        "--memory=8589934592 --metrics-export-port=8080 --num-cpus=4"
    )
    assert cmd.kuberay_shell().startswith(f"ray start  --address={FQDN}  --block ")
    assert not cmd.head
    assert cmd.params["num-cpus"] == "4"


def test_example_ray_resources_match_the_autoscalers_view() -> None:
    cluster = example()
    assert ray_resources(cluster.spec, None) == {"CPU": 2, "memory": 4 * 2**30}
    assert ray_resources(cluster.spec, cluster.spec.worker_group_specs[0]) == {
        "CPU": 4,
        "memory": 8 * 2**30,
    }


# -- defaults --------------------------------------------------------------------------------


def test_head_defaults() -> None:
    cmd = head_cmd(spec())
    assert cmd.params == {
        "dashboard-host": "0.0.0.0",
        "metrics-export-port": "8080",
        "block": "true",
        "dashboard-agent-listen-port": "52365",
    }
    assert cmd.argv()[:3] == ["ray", "start", "--head"]


def test_worker_defaults_address_to_the_head() -> None:
    cmd = worker_cmd(spec(), head_address="10.0.0.1:6379")
    assert cmd.params == {
        "address": "10.0.0.1:6379",
        "metrics-export-port": "8080",
        "block": "true",
        "dashboard-agent-listen-port": "52365",
    }
    assert "--head" not in cmd.argv()
    assert "dashboard-host" not in cmd.params


def test_worker_without_head_address_gets_no_address() -> None:
    assert "address" not in worker_cmd(spec(), head_address=None).params


def test_no_monitor_only_with_in_tree_autoscaling() -> None:
    assert "no-monitor" not in head_cmd(spec()).params
    assert head_cmd(spec(enableInTreeAutoscaling=True)).params["no-monitor"] == "true"
    assert "no-monitor" not in worker_cmd(spec(enableInTreeAutoscaling=True)).params


def test_no_monitor_and_block_are_forced_over_user_values() -> None:
    s = spec(
        enableInTreeAutoscaling=True,
        head={"rayStartParams": {"no-monitor": "false", "block": "false"}},
    )
    cmd = head_cmd(s)
    assert cmd.params["no-monitor"] == "true"
    assert cmd.params["block"] == "true"
    assert "--block" in cmd.argv()


def test_head_port() -> None:
    assert head_port(spec()) == "6379"
    assert head_port(spec(head={"rayStartParams": {"port": "6380"}})) == "6380"


# -- rendering ------------------------------------------------------------------------------


def test_flags_are_sorted_by_name() -> None:
    s = spec(head={"rayStartParams": {"zeta": "1", "alpha": "2", "object-store-memory": "3"}})
    flags = head_cmd(s).flags()
    assert flags == sorted(flags)
    assert flags[0] == "--alpha=2"


@pytest.mark.parametrize("value", ["true", "True", "TRUE"])
def test_true_becomes_a_bare_flag(value: str) -> None:
    cmd = head_cmd(spec(head={"rayStartParams": {"disable-usage-stats": value}}))
    assert "--disable-usage-stats" in cmd.argv()
    assert "--disable-usage-stats" in cmd.shell().split()


@pytest.mark.parametrize("value", ["false", "False"])
def test_false_drops_the_flag(value: str) -> None:
    cmd = head_cmd(spec(head={"rayStartParams": {"disable-usage-stats": value}}))
    assert not any("disable-usage-stats" in arg for arg in cmd.argv())
    assert cmd.params["disable-usage-stats"] == value  # kept in params, only not rendered


@pytest.mark.parametrize("name", ["log-color", "include-dashboard", "include-log-monitor"])
def test_the_three_exceptions_keep_explicit_booleans(name: str) -> None:
    off = head_cmd(spec(head={"rayStartParams": {name: "false"}}))
    on = head_cmd(spec(head={"rayStartParams": {name: "true"}}))
    assert f"--{name}=false" in off.argv()
    assert f"--{name}=true" in on.argv()


def test_other_values_render_as_key_equals_value() -> None:
    cmd = head_cmd(spec(head={"rayStartParams": {"object-store-memory": "100000000"}}))
    assert "--object-store-memory=100000000" in cmd.argv()


# -- container resources ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpu", "expected"),
    [("500m", "1"), ("2", "2"), (2, "2"), ("1500m", "2"), ("0.1", "1"), ("4", "4")],
)
def test_num_cpus_is_the_cpu_limit_rounded_up(cpu: Any, expected: str) -> None:
    cmd = head_cmd(spec(head=container(limits={"cpu": cpu}, requests={"cpu": "100"})))
    assert cmd.params["num-cpus"] == expected


def test_num_cpus_falls_back_to_the_request() -> None:
    assert head_cmd(spec(head=container(requests={"cpu": "3"}))).params["num-cpus"] == "3"
    # A zero limit counts as absent, as Quantity.IsZero() does in KubeRay.
    zero_limit = container(limits={"cpu": "0"}, requests={"cpu": "250m"})
    assert head_cmd(spec(head=zero_limit)).params["num-cpus"] == "1"


def test_no_cpu_anywhere_leaves_num_cpus_to_ray() -> None:
    assert "num-cpus" not in head_cmd(spec(head=container(limits={"memory": "1Gi"}))).params


@pytest.mark.parametrize(
    ("memory", "expected"),
    [("4Gi", "4294967296"), ("1G", "1000000000"), ("1500Mi", str(1500 * 2**20)), (1024, "1024")],
)
def test_memory_is_the_memory_limit_in_bytes(memory: Any, expected: str) -> None:
    assert head_cmd(spec(head=container(limits={"memory": memory}))).params["memory"] == expected


def test_memory_request_alone_gives_no_memory_flag() -> None:
    assert "memory" not in head_cmd(spec(head=container(requests={"memory": "4Gi"}))).params


@pytest.mark.parametrize("key", ["nvidia.com/gpu", "amd.com/gpu", "nvidia.com/mig-2g.32gb"])
def test_num_gpus_from_any_gpu_limit(key: str) -> None:
    cmd = worker_cmd(spec(worker=container(limits={key: "2", "cpu": "1"})))
    assert cmd.params["num-gpus"] == "2"


def test_gpu_only_requested_or_zero_is_not_used() -> None:
    assert (
        "num-gpus" not in worker_cmd(spec(worker=container(requests={"nvidia.com/gpu": 1}))).params
    )
    assert "num-gpus" not in worker_cmd(spec(worker=container(limits={"nvidia.com/gpu": 0}))).params


def test_first_gpu_key_in_sorted_order_wins() -> None:
    cmd = worker_cmd(spec(worker=container(limits={"nvidia.com/gpu": 4, "amd.com/gpu": 1})))
    assert cmd.params["num-gpus"] == "1"


def test_tpu_limit_becomes_a_custom_resource() -> None:
    cmd = worker_cmd(spec(worker=container(limits={"google.com/tpu": "4", "cpu": "8"})))
    assert cmd.params["resources"] == """'{"TPU":4}'"""
    assert """--resources='{"TPU":4}'""" in cmd.shell()
    assert """--resources={"TPU":4}""" in cmd.argv()  # the shell's quotes removed


def test_neuron_limit_becomes_neuron_cores() -> None:
    cmd = worker_cmd(spec(worker=container(limits={"aws.amazon.com/neuroncore": "2"})))
    assert cmd.params["resources"] == """'{"neuron_cores":2}'"""


def test_accelerator_is_merged_into_user_resources() -> None:
    worker = {
        **container(limits={"google.com/tpu": 4}),
        "rayStartParams": {"resources": "'{\"A\": 1}'"},
    }
    assert worker_cmd(spec(worker=worker)).params["resources"] == """'{"A":1,"TPU":4}'"""


def test_accelerator_already_in_user_resources_is_left_alone() -> None:
    params = {"resources": "'{\"TPU\": 8}'"}
    worker = {**container(limits={"google.com/tpu": 4}), "rayStartParams": params}
    assert worker_cmd(spec(worker=worker)).params["resources"] == params["resources"]


def test_escaped_resources_param_still_gets_gpus() -> None:
    # Ray's docs spell custom resources as a shell-quoted JSON string.
    params = {"resources": '"{\\"A\\": 1}"'}
    worker = {**container(limits={"nvidia.com/gpu": 1}), "rayStartParams": params}
    cmd = worker_cmd(spec(worker=worker))
    assert cmd.params["num-gpus"] == "1"
    assert cmd.params["resources"] == params["resources"]
    assert '--resources={"A": 1}' in cmd.argv()


def test_invalid_container_quantity_raises() -> None:
    with pytest.raises(QuantityError):
        head_cmd(spec(head=container(limits={"cpu": "lots"})))


# -- precedence ------------------------------------------------------------------------------


def test_user_params_win_over_container_resources() -> None:
    head = {
        **container(limits={"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": 1}),
        "rayStartParams": {
            "num-cpus": "0",
            "memory": "1000",
            "num-gpus": "0",
            "dashboard-host": "127.0.0.1",
            "metrics-export-port": "9090",
            "dashboard-agent-listen-port": "52400",
        },
    }
    params = head_cmd(spec(head=head)).params
    assert params["num-cpus"] == "0"
    assert params["memory"] == "1000"
    assert params["num-gpus"] == "0"
    assert params["dashboard-host"] == "127.0.0.1"
    assert params["metrics-export-port"] == "9090"
    assert params["dashboard-agent-listen-port"] == "52400"


def test_user_address_wins_for_workers() -> None:
    cmd = worker_cmd(spec(worker={"rayStartParams": {"address": "elsewhere:1"}}))
    assert cmd.params["address"] == "elsewhere:1"


def test_group_resources_override_params_and_container() -> None:
    worker = {
        **container(limits={"cpu": "8", "memory": "8Gi", "nvidia.com/gpu": 2}),
        "rayStartParams": {"num-cpus": "16", "resources": "'{\"old\": 1}'"},
        "resources": {"CPU": "3", "memory": "1Gi", "GPU": "1", "custom": "2", "half": "500m"},
    }
    params = worker_cmd(spec(worker=worker)).params
    assert params["num-cpus"] == "3"
    assert params["memory"] == str(2**30)
    assert params["num-gpus"] == "1"
    assert params["resources"] == """'{"custom":2,"half":0.5}'"""  # replaces the param


def test_group_resources_skip_unparseable_values() -> None:
    params = worker_cmd(spec(worker={"resources": {"CPU": "many", "A": "1"}})).params
    assert "num-cpus" not in params
    assert params["resources"] == """'{"A":1}'"""


def test_group_labels_render_sorted_and_override_the_param() -> None:
    worker = {"labels": {"zone": "b", "accel": "none"}, "rayStartParams": {"labels": "x=y"}}
    cmd = worker_cmd(spec(worker=worker))
    assert cmd.params["labels"] == "accel=none,zone=b"
    assert "--labels=accel=none,zone=b" in cmd.argv()


def test_head_group_labels_and_resources() -> None:
    s = spec(head={"labels": {"role": "head"}, "resources": {"CPU": "0"}})
    assert head_cmd(s).params["labels"] == "role=head"
    assert head_cmd(s).params["num-cpus"] == "0"


def test_extra_is_applied_last() -> None:
    extra = {
        "dashboard-agent-listen-port": "52401",
        "temp-dir": "/tmp/rp/node-1",
        "node-ip-address": "127.0.0.1",
        "num-cpus": "1",
        "include-dashboard": "false",
    }
    s = spec(enableInTreeAutoscaling=True, head=container(limits={"cpu": "4"}))
    cmd = head_cmd(s, extra=extra)
    for key, value in extra.items():
        assert cmd.params[key] == value
    assert "--include-dashboard=false" in cmd.argv()
    assert "--temp-dir=/tmp/rp/node-1" in cmd.argv()


def test_extra_can_replace_the_worker_address() -> None:
    cmd = worker_cmd(spec(), head_address="a:1", extra={"address": "127.0.0.1:7000"})
    assert cmd.params["address"] == "127.0.0.1:7000"


def test_spec_is_not_mutated() -> None:
    s = spec(worker={"resources": {"CPU": "3"}, "labels": {"a": "b"}})
    before = s.model_dump()
    worker_cmd(s)
    head_cmd(s, extra={"port": "1"})
    assert s.model_dump() == before


# -- GCS fault tolerance -------------------------------------------------------------------------


def test_redis_credentials_are_env_references_on_the_head() -> None:
    s = spec(
        gcsFaultToleranceOptions={
            "redisAddress": "redis:6379",
            "redisPassword": {"value": "secret"},
            "redisUsername": {"value": "user"},
        }
    )
    cmd = head_cmd(s)
    assert cmd.params["redis-password"] == "$REDIS_PASSWORD"
    assert cmd.params["redis-username"] == "$REDIS_USERNAME"
    assert "secret" not in cmd.shell()
    assert "--redis-password=$REDIS_PASSWORD" in cmd.argv()  # literal without an env
    expanded = cmd.argv({"REDIS_PASSWORD": "s3cr3t", "REDIS_USERNAME": "u"})
    assert "--redis-password=s3cr3t" in expanded
    assert "--redis-username=u" in expanded
    assert "redis-password" not in worker_cmd(s).params


def test_no_redis_params_without_credentials_or_with_rocksdb() -> None:
    assert (
        "redis-password"
        not in head_cmd(spec(gcsFaultToleranceOptions={"redisAddress": "r:1"})).params
    )
    rocks = spec(gcsFaultToleranceOptions={"backend": "rocksdb", "redisPassword": {"value": "x"}})
    assert "redis-password" not in head_cmd(rocks).params


# -- argv quoting -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        ("plain", None, "plain"),
        ("'single $X'", {"X": "1"}, "single $X"),
        ('"double $X"', {"X": "1"}, "double 1"),
        ("${X}-y", {"X": "1"}, "1-y"),
        ("$MISSING", {}, ""),
        ("$MISSING", None, "$MISSING"),
        ("a\\ b", None, "a b"),
        ("'unbalanced", None, "'unbalanced"),
        ("cost$", {}, "cost$"),
    ],
)
def test_argv_does_the_quote_removal_bash_does(
    value: str, env: dict[str, str] | None, expected: str
) -> None:
    cmd = head_cmd(spec(head={"rayStartParams": {"system-config": value}}))
    assert f"--system-config={expected}" in cmd.argv(env)
    assert f"--system-config={value}" in cmd.shell()


# -- ray_resources ------------------------------------------------------------------------------


def test_ray_resources_precedence() -> None:
    worker = {
        **container(
            limits={"cpu": "8", "nvidia.com/gpu": 2},
            requests={"cpu": "1", "memory": "2Gi"},
        ),
        "rayStartParams": {"num-cpus": "6"},
    }
    assert ray_resources(spec(), spec(worker=worker).worker_group_specs[0]) == {
        "CPU": 6,
        "GPU": 2,
        "memory": 2 * 2**30,  # the request: the autoscaler falls back to it
    }


def test_ray_resources_from_group_field() -> None:
    worker = {"resources": {"CPU": "2", "GPU": "1", "memory": "1G", "TPU": "4", "A": "3"}}
    group = spec(worker=worker).worker_group_specs[0]
    assert ray_resources(spec(), group) == {
        "CPU": 2,
        "GPU": 1,
        "TPU": 4,
        "memory": 10**9,
        "A": 3,
    }


def test_ray_resources_from_escaped_param_and_tpu_limit() -> None:
    worker = {
        **container(limits={"cpu": "1", "google.com/tpu": "4"}),
        "rayStartParams": {"resources": '"{\\"Custom1\\": 1}"'},
    }
    group = spec(worker=worker).worker_group_specs[0]
    assert ray_resources(spec(), group) == {"CPU": 1, "TPU": 4, "Custom1": 1}


def test_ray_resources_without_cpu_leaves_it_out() -> None:
    assert ray_resources(spec(), None) == {}


# -- pinned options (the local runtime's) ---------------------------------------------------------


def test_a_pinned_option_is_dropped_in_every_spelling_click_reads_as_it() -> None:
    # Click splits --name=value at the first "=" and runs after bash-like quote removal, so
    # all three keys reach --dashboard-host; only the runtime's value may.
    hostile = {
        "dashboard-host=0.0.0.0": "true",
        "dashboard-host": "0.0.0.0",
        "dash'board-host'": "0.0.0.0",
        "port": "6379",
        "ray-debugger-external": "true",
        "num-cpus": "1",
    }
    cmd = head_cmd(
        spec(head={"rayStartParams": hostile}),
        extra={"dashboard-host": "127.0.0.1", "port": "7000"},
        reserved=frozenset({"ray-debugger-external"}),
    )
    assert dict(cmd.dropped) == {k: v for k, v in hostile.items() if k != "num-cpus"}
    argv = cmd.argv()
    hosts = [a for a in argv if a.startswith("--dashboard-host")]
    assert hosts == ["--dashboard-host=127.0.0.1"]
    assert [a for a in argv if a.startswith("--port")] == ["--port=7000"]
    assert "--ray-debugger-external" not in argv and "--num-cpus=1" in argv
    assert argv[-2:] == ["--dashboard-host=127.0.0.1", "--port=7000"]  # pins come last


def test_kuberay_defaults_under_a_pin_are_not_reported_as_the_users() -> None:
    # The head's default dashboard-host=0.0.0.0 and the default ports are ours to replace.
    cmd = head_cmd(spec(), extra={"dashboard-host": "127.0.0.1", "metrics-export-port": "9"})
    assert cmd.dropped == ()
    assert cmd.params["dashboard-host"] == "127.0.0.1"


def test_a_flag_that_becomes_pinned_only_after_expansion_is_left_out() -> None:
    cmd = head_cmd(
        spec(head={"rayStartParams": {"dashboard-host$X": "0.0.0.0"}}),
        extra={"dashboard-host": "127.0.0.1"},
    )
    argv = cmd.argv({"X": ""})
    assert [a for a in argv if a.startswith("--dashboard-host")] == ["--dashboard-host=127.0.0.1"]


def test_a_worker_param_cannot_make_it_a_head_where_the_runtime_pins() -> None:
    s = spec(worker={"rayStartParams": {"head": "true", "num-cpus": "1"}})
    pinned = worker_cmd(s, extra={"address": "127.0.0.1:7000"})
    assert "--head" not in pinned.argv() and pinned.dropped == (("head", "true"),)
    # Without pins (Kubernetes) the command stays exactly KubeRay's.
    assert "--head" in worker_cmd(s).argv()

"""The settings root: built in one place from the environment and the flags, handed down.

Each builder takes the environment as a dict here, the way the entry points pass theirs.
"""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import pytest

from rayplane.api.validation import FeatureGates
from rayplane.kubernetes.cli import config_from_argv
from rayplane.settings import (
    HomeError,
    LocalSettings,
    SettingsError,
    load,
    load_gates,
    load_kuberay,
    load_local,
    load_operator,
    prepare_temp_root,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "rayplane"

# Modules that may touch os.environ: the builder, and code that builds or sets up a
# process's own environment (a child's env, or this process's before Ray is imported).
# Everything else takes its settings from the root.
PROCESS_ENVIRONMENT = {
    "settings/loader.py",  # the one settings builder
    "local/loopback.py",  # a child's env with the loopback switches
    "local/client.py",  # the controller child's env
    "local/ray_envs.py",  # pip's env while building, a node's PATH into its Ray env
    "local/ray_cli.py",  # this process's env before Ray is imported
    "local/autoscaler.py",  # the same, in the autoscaler child
    "sdk/connect.py",  # a driver's env, and this process's before ray.init (loopback)
    "clients/ray_packages.py",  # Ray's own RAY_RUNTIME_ENV_IGNORE_GITIGNORE, read as Ray does
    "demo/text_app.py",  # a user's Serve app
    "cli/main.py",  # $VARS of a user's cluster-launcher file (convert)
}


def _reads_environment(source: str) -> bool:
    """Code (not a docstring or a string of code for a Pod) that names os.environ/getenv."""
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "getenv")
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(alias.name in ("environ", "getenv") for alias in node.names)
        ):
            return True
    return False


def test_only_the_builder_and_process_environment_code_read_the_environment() -> None:
    readers = {
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if _reads_environment(path.read_text(encoding="utf-8"))
        # Test support (a cache directory, a child's KUBECONFIG) is not the product.
        and not path.is_relative_to(SRC / "kubernetes" / "testing")
    }
    assert readers <= PROCESS_ENVIRONMENT, sorted(readers - PROCESS_ENVIRONMENT)


def test_local_settings_come_from_the_environment_with_defaults_for_the_rest() -> None:
    env = {
        "RAYPLANE_HOME": "/srv/rp",
        "RAYPLANE_STOP_GRACE": "5",
        "RAYPLANE_LOCAL_AUTOSCALER": "off",
        "RAYPLANE_TEMP_ROOT": "",
        "AUTOSCALER_UPDATE_INTERVAL_S": "2.5",
    }
    local = load_local(env)
    assert local.home == Path("/srv/rp")
    assert local.stop_grace_s == 5.0
    assert local.local_autoscaler is False
    assert local.autoscaler_interval_s == 2.5
    assert local.temp_root == LocalSettings().temp_root  # empty means unset
    assert local.apply_timeout_s == LocalSettings().apply_timeout_s
    with pytest.raises(SettingsError, match="RAYPLANE_APPLY_TIMEOUT='soon' is not a number"):
        load_local({"RAYPLANE_APPLY_TIMEOUT": "soon"})


def test_the_flag_overrides_the_environment_gate_by_gate_and_errors_say_where() -> None:
    env = {"RAYPLANE_FEATURE_GATES": "RayCronJob=true,RayClusterMTLS=true"}
    gates = load_gates(env, "RayClusterMTLS=false")
    assert gates.RayCronJob and not gates.RayClusterMTLS
    assert load(env).gates == FeatureGates.parse(env["RAYPLANE_FEATURE_GATES"])
    with pytest.raises(SettingsError, match=r"^RAYPLANE_FEATURE_GATES: unknown feature gate"):
        load_gates({"RAYPLANE_FEATURE_GATES": "Nope=true"})
    with pytest.raises(SettingsError, match=r"^--feature-gates: feature gate RayCronJob needs"):
        load_gates({}, "RayCronJob=yes")


def test_operator_flags_win_over_the_deployment_environment() -> None:
    env = {
        "WATCH_NAMESPACE": "a, b",
        "POD_NAMESPACE": "ray-system",
        "POD_NAME": "op-0",
        "LOG_LEVEL": "debug",
        # The local runtime's variable: the operator, like KubeRay's, takes only the flag.
        "RAYPLANE_FEATURE_GATES": "RayCronJob=true",
    }
    settings = load_operator([], env)
    op = settings.operator
    assert op.namespaces == ("a", "b")
    assert op.leader_election_namespace == "ray-system"
    assert op.pod_name == "op-0"
    assert op.log_level == "debug"
    assert settings.gates == FeatureGates()
    flags = ["--watch-namespace", "c", "--leader-election-namespace", "x", "--log-level", "WARN"]
    op = load_operator([*flags, "--feature-gates", "RayCronJob=true"], env).operator
    assert (op.namespaces, op.leader_election_namespace, op.log_level) == (("c",), "x", "WARN")
    assert load_operator(["--feature-gates", "RayCronJob=true"], env).gates.RayCronJob
    with pytest.raises(SettingsError, match=r"^--feature-gates: unknown"):
        load_operator(["--feature-gates", "Nope=true"], {})


def test_the_operator_config_carries_kuberays_variables_and_the_gates_to_the_reconcilers(
    tmp_path: Path,
) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    env = {
        "CLUSTER_DOMAIN": "corp.internal",
        "ENABLE_PROBES_INJECTION": "false",
        "RAYJOB_STATUS_CHECK_TIMEOUT_SECONDS": "10",
        "ENABLE_ZERO_DOWNTIME": "false",
        "POD_NAME": "op-0",
        "UNRELATED": "x",
    }
    assert set(load_kuberay(env).variables) == set(env) - {"POD_NAME", "UNRELATED"}
    config = config_from_argv(
        [
            "--feature-gates", "SidecarSubmitterRestart=true,RayJobDeletionPolicy=false",
            "--token-file", str(token),
            "--metrics-addr", "0",
            "--health-probe-bind-address", "127.0.0.1:9000",
            "--webhook-port", "9443",
            "--enable-leader-election=false",
        ],
        env,
    )  # fmt: skip
    assert config.build.cluster_domain == "corp.internal"
    assert config.build.probes_injection is False
    assert config.job_options.status_check_timeout_seconds == 10
    assert config.job_options.sidecar_submitter_restart is True
    assert config.job_options.deletion_policy is False
    assert config.service_options.zero_downtime is False
    assert config.service_options.gates == config.gates
    assert config.connection.token == "s3cret"
    assert config.metrics_address is None
    assert config.health_address == "127.0.0.1:9000"
    assert config.webhook_cert is not None and config.webhook_cert.endswith("/tls.crt")
    assert config.leader_election is False
    assert config.identity is not None and config.identity.startswith("op-0_")


def test_nothing_set_gives_kuberays_defaults() -> None:
    config = config_from_argv([], {})
    assert config.namespaces == ()
    assert config.leader_election_namespace == "default"
    assert config.health_address == "0.0.0.0:8082"
    assert config.metrics_address == "0.0.0.0:8080"
    assert config.zero_downtime is True
    assert config.gates == FeatureGates()
    assert config.build.cluster_domain == "cluster.local"


def test_a_temp_root_too_long_for_rays_sockets_is_refused_with_the_limit_and_a_fix() -> None:
    # Ray's sockets go ~74 bytes below the root; past 107 bytes every node dies at start
    # with nothing in its log that says why (seen as an unprivileged user with a long path).
    long_root = "/tmp/rayplane-nobody-t4b5d15g/user/t"
    with pytest.raises(SettingsError, match=r"RAYPLANE_TEMP_ROOT='/tmp/rayplane-nobody.*36 bytes"):
        load_local({"RAYPLANE_TEMP_ROOT": long_root})
    assert load_local({"RAYPLANE_TEMP_ROOT": "/tmp/rp-12345678"}).temp_root == Path(
        "/tmp/rp-12345678"
    )


def test_the_temp_root_is_per_user_and_one_another_user_could_touch_is_refused(
    tmp_path: Path,
) -> None:
    assert LocalSettings().temp_root == Path(f"/tmp/rayplane-{os.geteuid()}")
    fresh = tmp_path / "fresh"
    prepare_temp_root(fresh)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(HomeError, match=r"RAYPLANE_TEMP_ROOT .*shared is writable by group"):
        prepare_temp_root(shared)
    if os.geteuid() == 0:  # only root can give a folder away
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 65534, 65534)
        with pytest.raises(HomeError, match=r"is owned by uid 65534, not by you"):
            prepare_temp_root(theirs)

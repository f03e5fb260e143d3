"""A failed Serve app is one line naming the cause, from Ray 2.60's own messages.

The JSON answers under serve_messages/ were captured from real clusters (see its README);
the lines below are what `apply` prints and `describe` shows, so they are asserted whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rayplane.api.rayservice import RayService
from rayplane.clients.serve_api import parse_serve_state
from rayplane.reconcile.service import (
    Cause,
    ObservedService,
    ServeFailure,
    cause_of,
    serve_failures,
)
from rayplane.reconcile.service.model import ServeApp, ServeDeployment
from tests.reconcile.test_service_reconciler import (
    apps,
    observed_cluster,
    run,
    service,
    with_status,
)

MESSAGES = Path(__file__).parent / "serve_messages"


def captured(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((MESSAGES / name).read_text())
    return payload


def failures(name: str, cluster: str = "c1") -> dict[str, ServeFailure]:
    apps = parse_serve_state(captured(name)).applications
    return {f.app: f for f in serve_failures(cluster, apps)}


def test_kuberay_sample_whose_working_dir_cannot_be_fetched() -> None:
    (failure,) = failures("kuberay-different-port.json").values()
    assert failure.line == (
        "app fruit_app: DEPLOY_FAILED: runtime env setup failed: "
        "requests.exceptions.ConnectionError: cannot fetch "
        "https://github.com/ray-project/test_dag/archive/"
        "78b4a5da38796123d9f9ffff59bab2792a043e95.zip: "
        "Failed to resolve 'github.com' ([Errno -2] Name or service not known)"
    )
    assert failure.deployment is None
    assert failure.cluster == "c1"
    assert failure.cause.kind == "requests.exceptions.ConnectionError"
    # The whole traceback is kept for the log, not dropped.
    assert failure.text.count("\n") > 100
    assert "RuntimeEnvSetupError" in failure.text


@pytest.mark.parametrize(
    ("app", "line"),
    [
        (
            "refused",
            "app refused: DEPLOY_FAILED: runtime env setup failed: "
            "requests.exceptions.ConnectionError: cannot fetch http://127.0.0.1:38515/app.zip: "
            "[Errno 111] Connection refused",
        ),
        (
            "notfound",
            "app notfound: DEPLOY_FAILED: runtime env setup failed: "
            "requests.exceptions.HTTPError: 404 Client Error: File not found for url: "
            "http://127.0.0.1:43795/missing.zip",
        ),
        (
            "noimport",
            "app noimport: DEPLOY_FAILED: deploying the app failed: "
            "ModuleNotFoundError: No module named 'no_such_module'",
        ),
        (
            "ctor",
            "app ctor, deployment Pricer: DEPLOY_FAILED: failed to start 3 times in a row: "
            "ValueError: price must be positive, got -1",
        ),
        (
            "builder",
            "app builder: DEPLOY_FAILED: deploying the app failed: "
            "RuntimeError: MODEL_PATH is not set",
        ),
        (
            "override",
            "app override: DEPLOY_FAILED: "
            "ValueError: Deployment 'NoSuchDeployment' does not exist. Available: ['Pricer']",
        ),
    ],
)
def test_each_real_failure_is_one_line_with_its_cause(app: str, line: str) -> None:
    found = failures("six-failures.json")
    assert found[app].line == line
    assert "\n" not in found[app].line


def test_a_running_app_is_not_a_failure() -> None:
    assert "flaky" not in failures("six-failures.json")


def test_a_constructor_being_retried_is_not_a_failure_yet() -> None:
    found = failures("ctor-retrying.json")
    # Serve says "Retrying 2 more time(s)" on an UPDATING deployment: wait, do not fail.
    assert "ctor" not in found
    assert "noimport" not in found  # DEPLOYING again after the new PUT


def test_failing_health_checks_are_not_a_failure_serve_retries_them() -> None:
    # flaky's replica failed its health check: UNHEALTHY with no exception. Serve restarts
    # it (the capture a second later has it HEALTHY again), so a wait must not stop here.
    assert "flaky" not in failures("health-check-unhealthy.json")


def test_unhealthy_deployment_whose_replicas_cannot_start_is_a_failure() -> None:
    # Ray 2.60's message when replicas of a deployment that ran fail to start again
    # (deployment_state.py, REPLICA_STARTUP_FAILED after the deployment was HEALTHY).
    message = (
        "The deployment failed to start 3 times in a row. This may be due to a problem with "
        "its constructor or initial health check failing. See controller logs for details. "
        'Error:\nTraceback (most recent call last):\n  File "app.py", line 9, in __init__\n'
        "OSError: [Errno 28] No space left on device: '/models/cache'\n"
    )
    apps = {
        "llm": ServeApp(
            status="UNHEALTHY",
            message="The deployments ['Model'] are UNHEALTHY.",
            deployments={"Model": ServeDeployment(status="UNHEALTHY", message=message)},
        )
    }
    (failure,) = serve_failures("c1", apps)
    assert failure.line == (
        "app llm, deployment Model: UNHEALTHY: failed to start 3 times in a row: "
        "OSError: [Errno 28] No space left on device: '/models/cache'"
    )


def test_cause_is_clipped_to_one_readable_line() -> None:
    text = 'Traceback (most recent call last):\n  File "x", line 1\nValueError: ' + "x" * 900
    cause = cause_of(text)
    assert cause.kind == "ValueError"
    assert len(cause.message) == 400 and cause.message.endswith("…")


def test_multi_line_exception_message_is_joined() -> None:
    text = (
        "Traceback (most recent call last):\n"
        '  File "app.py", line 3, in <module>\n'
        "KeyError: 'MODEL_PATH'\n"
        "  hint: set it in runtime_env.env_vars\n"
    )
    assert cause_of(text) == Cause("KeyError", "'MODEL_PATH' hint: set it in runtime_env.env_vars")


def test_a_word_and_colon_is_not_taken_for_an_exception() -> None:
    text = 'Traceback (most recent call last):\n  File "x"\nNote: see the log\nOSError: disk full'
    assert cause_of(text).line == "OSError: disk full"


def test_app_without_any_message_still_fails_with_a_reason() -> None:
    apps = {"a": ServeApp(status="DEPLOY_FAILED")}
    (failure,) = serve_failures("c1", apps)
    assert failure.line == "app a: DEPLOY_FAILED: Serve gave no message"


def test_failed_deployment_under_a_deploying_app_counts() -> None:
    apps = {
        "": ServeApp(
            status="DEPLOYING",
            deployments={
                "ok": ServeDeployment(status="HEALTHY"),
                "bad": ServeDeployment(status="DEPLOY_FAILED", message="gave up"),
            },
        )
    }
    (failure,) = serve_failures("c1", apps)
    assert failure.app == "default"
    assert failure.line == "app default, deployment bad: DEPLOY_FAILED: gave up"


# -- the reconciler reports them for the cluster it brings up -----------------------------


def _first_pass() -> tuple[RayService, str]:
    svc = service()
    first = run(svc)
    pending = first.status.pending_service_status
    assert pending is not None and pending.ray_cluster_name
    return with_status(svc, first), pending.ray_cluster_name


def test_plan_carries_the_pending_clusters_failures() -> None:
    svc, name = _first_pass()
    bad = parse_serve_state(captured("kuberay-different-port.json")).applications
    cluster = observed_cluster(svc, name, serve_apps=bad)  # type: ignore[arg-type]
    plan = run(svc, ObservedService.of(svc, [cluster]))
    (failure,) = plan.serve_failures
    assert failure.cluster == name
    assert failure.cause.kind == "requests.exceptions.ConnectionError"
    # KubeRay's status is unchanged: the app's status and message as Serve gave them.
    pending = plan.status.pending_service_status
    assert pending is not None and pending.application_statuses is not None
    assert pending.application_statuses["fruit_app"].status == "DEPLOY_FAILED"


def test_plan_has_no_failures_while_apps_deploy() -> None:
    svc, name = _first_pass()
    cluster = observed_cluster(svc, name, serve_apps=apps("DEPLOYING"))
    plan = run(svc, ObservedService.of(svc, [cluster]))
    assert plan.serve_failures == ()
    ready = run(svc, ObservedService.of(svc, [observed_cluster(svc, name)]))
    assert ready.serve_failures == ()


def test_failures_of_a_config_being_replaced_are_not_reported() -> None:
    svc, name = _first_pass()
    bad = parse_serve_state(captured("kuberay-different-port.json")).applications
    old = observed_cluster(svc, name, serve_apps=bad, cached="the config before the fix")  # type: ignore[arg-type]
    plan = run(svc, ObservedService.of(svc, [old]))
    assert [type(a).__name__ for a in plan.actions] == ["ApplyServeConfig"]
    assert plan.serve_failures == ()


def test_a_wrapper_whose_message_is_a_traceback_is_not_the_cause() -> None:
    # Serve's replica raises RuntimeError(traceback.format_exc()) around the user's error
    # (see ctor in six-failures.json); an exception Python prints without a module path
    # (defined in __main__) must not lose to that wrapper.
    text = (
        "Traceback (most recent call last):\n"
        '  File "replica.py", line 1928, in initialize\n'
        "RuntimeError: Traceback (most recent call last):\n"
        '  File "app.py", line 8, in __init__\n'
        "Boom: the model file is missing\n"
    )
    assert cause_of(text).line == "Boom: the model file is missing"
    cut_short = 'Traceback (most recent call last):\n  File "app.py", line 8\n    x = 1 +\n'
    assert cause_of(cut_short).line == "x = 1 +"

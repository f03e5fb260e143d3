"""KubeRay's RayService rules (validation.go ValidateRayServiceSpec)."""

from __future__ import annotations

import re

import yaml

from rayplane.api.findings import Findings
from rayplane.api.loading import describe_yaml_error, safe_load
from rayplane.api.rayservice import RayService
from rayplane.api.validation.cluster import validate_cluster_spec
from rayplane.api.validation.gates import FeatureGates
from rayplane.api.validation.meta import check_template_meta
from rayplane.api.validation.paths import join

INITIALIZING_TIMEOUT = "ray.io/initializing-timeout"
# Go's time.ParseDuration: an optional sign, then number+unit pairs ("1h30m", ".5s", "+2m").
_GO_DURATION = re.compile(r"^[+-]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+$")
_GO_INT = re.compile(r"^[+-]?[0-9]+$")


def validate_rayservice(svc: RayService, out: Findings, gates: FeatureGates) -> None:
    spec = svc.spec
    annotations = svc.metadata.annotations or {}
    timeout = annotations.get(INITIALIZING_TIMEOUT)
    # KubeRay ignores an empty annotation.
    if timeout and not _positive_duration(timeout):
        out.error(
            f"metadata.annotations[{INITIALIZING_TIMEOUT}]",
            f"'{timeout}' is not a positive duration.",
            timeout,
            "a Go duration such as 10m or 90s, or seconds",
        )
    validate_cluster_spec(
        spec.ray_cluster_config, "spec.rayClusterConfig", out, gates, annotations, standalone=False
    )
    cluster = spec.ray_cluster_config
    if cluster.auth_options and cluster.auth_options.enable_k8s_token_auth:
        out.error(
            "spec.rayClusterConfig.authOptions.enableK8sTokenAuth",
            "is not supported for RayService.",
            True,
        )
    head_service = cluster.head_group_spec.head_service
    if head_service and head_service.metadata and head_service.metadata.name:
        out.error(
            "spec.rayClusterConfig.headGroupSpec.headService.metadata.name",
            "cannot be set for a RayService: the controller names the head Service "
            "<service>-head-svc so that it survives cluster upgrades. Remove it.",
            head_service.metadata.name,
        )
    if spec.serve_service is not None:
        check_template_meta(spec.serve_service.metadata, "spec.serveService.metadata", out)
    if spec.ray_cluster_deletion_delay_seconds < 0:
        out.error(
            "spec.rayClusterDeletionDelaySeconds",
            f"is {spec.ray_cluster_deletion_delay_seconds}; it must be 0 or more.",
            spec.ray_cluster_deletion_delay_seconds,
            ">= 0",
        )
    if spec.serve_config_v2:
        _check_serve_config(spec.serve_config_v2, out)
    for field, attr in (
        ("serviceUnhealthySecondThreshold", "service_unhealthy_second_threshold"),
        ("deploymentUnhealthySecondThreshold", "deployment_unhealthy_second_threshold"),
    ):
        if attr in spec.model_fields_set:
            out.warn(f"spec.{field}", "is deprecated and ignored by KubeRay (#1685).")
    _check_incremental(svc, out, gates)


def _positive_duration(text: str) -> bool:
    """KubeRay's check: a Go duration > 0, or else an integer number of seconds > 0."""
    if _GO_DURATION.match(text):
        return not text.startswith("-") and any(ch in "123456789" for ch in text)
    if _GO_INT.match(text):
        return int(text) > 0
    return False


def _check_serve_config(text: str, out: Findings) -> None:
    try:
        parsed = safe_load(text)
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        problem = describe_yaml_error(exc) if isinstance(exc, yaml.YAMLError) else f": {exc}"
        out.error("spec.serveConfigV2", f"is not valid YAML{problem}.")
        return
    if not isinstance(parsed, dict) or not isinstance(parsed.get("applications"), list):
        out.error(
            "spec.serveConfigV2",
            "must be a Serve config with an `applications:` list (the output of `serve build`).",
        )
        return
    for index, app in enumerate(parsed["applications"]):
        if not isinstance(app, dict) or not app.get("import_path"):
            out.error(
                f"spec.serveConfigV2.applications[{index}]",
                "needs import_path (module:deployment), e.g. import_path: app.main:app.",
            )


def _check_incremental(svc: RayService, out: Findings, gates: FeatureGates) -> None:
    strategy = svc.spec.upgrade_strategy
    if not strategy or strategy.type != "NewClusterWithIncrementalUpgrade":
        return
    path = "spec.upgradeStrategy"
    if not gates.RayServiceIncrementalUpgrade:
        out.error(
            join(path, "type"),
            "needs the RayServiceIncrementalUpgrade feature gate. "
            + gates.hint("RayServiceIncrementalUpgrade"),
        )
    if not svc.spec.ray_cluster_config.autoscaling:
        out.error(
            "spec.rayClusterConfig.enableInTreeAutoscaling",
            "incremental upgrades need the autoscaler; set it to true.",
            svc.spec.ray_cluster_config.enable_in_tree_autoscaling,
        )
    options = strategy.cluster_upgrade_options
    opath = join(path, "clusterUpgradeOptions")
    if options is None:
        out.error(opath, "is required for NewClusterWithIncrementalUpgrade.")
        return
    surge = 100 if options.max_surge_percent is None else options.max_surge_percent
    if not 0 <= surge <= 100:
        out.error(join(opath, "maxSurgePercent"), f"is {surge}; it must be 0 to 100.", surge)
    step = options.step_size_percent
    if step is None or not 0 <= step <= 100 or step > surge:
        out.error(
            join(opath, "stepSizePercent"),
            f"is {step}; it must be 0 to 100 and at most maxSurgePercent ({surge}).",
            step,
        )
    if options.interval_seconds is None or options.interval_seconds <= 0:
        out.error(join(opath, "intervalSeconds"), "must be more than 0.", options.interval_seconds)
    if not options.gateway_class_name:
        out.error(join(opath, "gatewayClassName"), "is required for incremental upgrades.")

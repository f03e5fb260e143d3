"""KubeRay's RayJob rules (validation.go ValidateRayJobSpec and friends)."""

from __future__ import annotations

import itertools

import yaml

from rayplane.api.findings import Findings
from rayplane.api.loading import describe_yaml_error, safe_load
from rayplane.api.rayjob import RayJob, RayJobSpec
from rayplane.api.validation.cluster import validate_cluster_spec
from rayplane.api.validation.gates import FeatureGates
from rayplane.api.validation.meta import check_template_meta
from rayplane.api.validation.paths import join

_ORDER = {"DeleteWorkers": 0, "DeleteCluster": 1, "DeleteSelf": 2}


def validate_rayjob(job: RayJob, out: Findings, gates: FeatureGates) -> None:
    spec = job.spec
    _check_basics(spec, out)
    _check_cluster_source(job, out, gates)
    _check_modes(spec, out)
    _check_submitter(spec, out)
    _check_deletion(spec, out, gates)
    status = job.status
    if (
        status
        and status.job_deployment_status == "Waiting"
        and spec.submission_mode != "InteractiveMode"
    ):
        out.error(
            "status.jobDeploymentStatus", "Waiting is only valid in InteractiveMode.", "Waiting"
        )


def _check_basics(spec: RayJobSpec, out: Findings) -> None:
    if spec.suspend and not spec.shutdown_after_job_finishes:
        out.error(
            "spec.suspend",
            "a RayJob can only be suspended with "
            "shutdownAfterJobFinishes: true (suspending deletes its cluster).",
            True,
        )
    if spec.ttl_seconds_after_finished < 0:
        out.error(
            "spec.ttlSecondsAfterFinished",
            f"is {spec.ttl_seconds_after_finished}; it must be 0 or more.",
            spec.ttl_seconds_after_finished,
            ">= 0",
        )
    if spec.ttl_seconds_after_finished > 0 and not spec.shutdown_after_job_finishes:
        out.error(
            "spec.ttlSecondsAfterFinished",
            "only takes effect with "
            "shutdownAfterJobFinishes: true; set that too, or remove the TTL.",
            spec.ttl_seconds_after_finished,
        )
    for field, value in (
        ("activeDeadlineSeconds", spec.active_deadline_seconds),
        ("preRunningDeadlineSeconds", spec.pre_running_deadline_seconds),
    ):
        if value is not None and value <= 0:
            out.error(f"spec.{field}", f"is {value}; it must be more than 0.", value, "> 0")
    if spec.backoff_limit < 0:
        out.error(
            "spec.backoffLimit",
            f"is {spec.backoff_limit}; it must be 0 or more.",
            spec.backoff_limit,
            ">= 0",
        )
    if spec.runtime_env_yaml:
        try:
            parsed = safe_load(spec.runtime_env_yaml)
        except (yaml.YAMLError, RecursionError, ValueError) as exc:
            problem = describe_yaml_error(exc) if isinstance(exc, yaml.YAMLError) else f": {exc}"
            out.error("spec.runtimeEnvYAML", f"is not valid YAML{problem}.")
        else:
            if parsed is not None and not isinstance(parsed, dict):
                out.error(
                    "spec.runtimeEnvYAML",
                    "must be a YAML mapping such as 'pip: [pandas]' or 'working_dir: ./src'.",
                    spec.runtime_env_yaml,
                )
    if (
        not spec.entrypoint
        and spec.submission_mode != "InteractiveMode"
        and not _custom_submitter(spec)
    ):
        out.error(
            "spec.entrypoint",
            f"is required in {spec.submission_mode}: the command the job "
            "runs, e.g. entrypoint: python my_script.py.",
        )


def _custom_submitter(spec: RayJobSpec) -> bool:
    """A K8sJobMode submitter that runs its own command (KubeRay's "light-weight submitter"
    sample) submits what it wants: KubeRay's default `ray job submit -- <entrypoint>` is
    not run, so no entrypoint is needed (KubeRay requires none in any mode)."""
    template = spec.submitter_pod_template
    if spec.submission_mode != "K8sJobMode" or template is None or template.spec is None:
        return False
    containers = template.spec.containers or []
    return bool(containers and containers[0].command)


def _check_cluster_source(job: RayJob, out: Findings, gates: FeatureGates) -> None:
    spec = job.spec
    has_spec = spec.ray_cluster_spec is not None
    selector = spec.cluster_selector
    # KubeRay's ValidateRayJobSpec: a non-empty clusterSelector selects "cluster selector
    # mode", which wins over a rayClusterSpec (still validated below); neither is an error.
    if not has_spec and not selector:
        out.error(
            "spec",
            "set one of rayClusterSpec (a cluster for this job) or "
            "clusterSelector (ray.io/cluster: NAME of an existing cluster).",
        )
    elif has_spec and selector:
        out.warn(
            "spec.rayClusterSpec",
            "is not used: clusterSelector is set, so the job runs on the selected cluster "
            "(as in KubeRay). Remove one of them to say which you mean.",
        )
    if selector:
        if not selector.get("ray.io/cluster"):
            out.error("spec.clusterSelector", "needs a non-empty ray.io/cluster: NAME.", selector)
        if spec.suspend:
            out.error(
                "spec.suspend",
                "cannot be used with clusterSelector; suspending deletes "
                "the job's cluster, which a selected cluster is not.",
                True,
            )
        if spec.submission_mode == "SidecarMode":
            out.error(
                "spec.submissionMode",
                "SidecarMode needs a cluster of the job's own "
                "(rayClusterSpec), not a clusterSelector.",
                "SidecarMode",
            )
    if spec.ray_cluster_spec is not None:
        cluster = spec.ray_cluster_spec
        validate_cluster_spec(
            cluster,
            "spec.rayClusterSpec",
            out,
            gates,
            job.metadata.annotations or {},
            standalone=False,
        )
        auth = cluster.auth_options
        if auth and auth.enable_k8s_token_auth:
            out.error(
                "spec.rayClusterSpec.authOptions.enableK8sTokenAuth",
                "is not supported for RayJob.",
                True,
            )


def _check_submitter(spec: RayJobSpec, out: Findings) -> None:
    template = spec.submitter_pod_template
    if template is not None:
        check_template_meta(template.metadata, "spec.submitterPodTemplate.metadata", out)
    if template is not None and not template.spec.containers:
        out.error(
            "spec.submitterPodTemplate.spec.containers",
            "the submitter pod template has no container; Kubernetes requires one. Add "
            "containers: [{name: ray-job-submitter, image: rayproject/ray:2.60.0}], or remove "
            "submitterPodTemplate to get KubeRay's default submitter.",
            [],
        )


def _check_modes(spec: RayJobSpec, out: Findings) -> None:
    if spec.submission_mode == "InteractiveMode" and spec.backoff_limit > 0:
        out.error(
            "spec.backoffLimit",
            "InteractiveMode does not retry; set backoffLimit: 0.",
            spec.backoff_limit,
            "0",
        )
    if spec.submission_mode == "SidecarMode":
        if spec.submitter_pod_template is not None:
            out.error(
                "spec.submitterPodTemplate",
                "SidecarMode runs the submitter inside the head pod; remove submitterPodTemplate.",
            )
        if spec.submitter_config is not None:
            out.error(
                "spec.submitterConfig",
                "SidecarMode runs the submitter inside the head pod; remove submitterConfig.",
            )
        cluster = spec.ray_cluster_spec
        policy = cluster.head_group_spec.template.spec.restart_policy if cluster else None
        if policy not in (None, "Never"):
            out.error(
                "spec.rayClusterSpec.headGroupSpec.template.spec.restartPolicy",
                f"is {policy}; SidecarMode needs Never.",
                policy,
                "Never",
            )


def _check_deletion(spec: RayJobSpec, out: Findings, gates: FeatureGates) -> None:
    strategy = spec.deletion_strategy
    if strategy is None:
        return
    path = "spec.deletionStrategy"
    if not gates.RayJobDeletionPolicy:
        out.error(
            path,
            "needs the RayJobDeletionPolicy feature gate. " + gates.hint("RayJobDeletionPolicy"),
        )
    # KubeRay counts deletionRules as configured only when the list is non-empty.
    rules = strategy.deletion_rules or []
    legacy = strategy.on_success is not None or strategy.on_failure is not None
    if not rules and not legacy:
        out.error(
            path,
            "is empty; set deletionRules (a list of {policy, condition}) or both "
            "legacy fields onSuccess and onFailure.",
        )
        return
    if rules:
        if legacy:
            out.error(
                path,
                "deletionRules cannot be combined with the legacy onSuccess/onFailure; "
                "use deletionRules only.",
            )
        if spec.shutdown_after_job_finishes:
            out.error(
                "spec.shutdownAfterJobFinishes",
                "cannot be combined with "
                "deletionStrategy.deletionRules; express the shutdown as a DeleteCluster "
                "rule.",
                True,
            )
        _check_rules(spec, path, out)
        return
    policies: list[tuple[str, str | None]] = []
    for field, value in (("onSuccess", strategy.on_success), ("onFailure", strategy.on_failure)):
        if value is None or value.policy is None:
            out.error(
                join(path, field),
                "the legacy form needs both onSuccess and onFailure, each with a policy.",
            )
        else:
            policies.append((join(join(path, field), "policy"), value.policy))
    _check_policies(spec, policies, out)


def _check_policies(
    spec: RayJobSpec, policies: list[tuple[str, str | None]], out: Findings
) -> None:
    """Rules shared by both forms; *policies* pairs each policy with its field path."""
    for where, policy in policies:
        if spec.cluster_selector and policy in ("DeleteCluster", "DeleteWorkers"):
            out.error(
                where,
                f"{policy} cannot be used with clusterSelector: the selected "
                "cluster is not the job's to delete.",
                policy,
            )
        if (
            policy == "DeleteWorkers"
            and spec.ray_cluster_spec is not None
            and spec.ray_cluster_spec.autoscaling
        ):
            out.error(
                where,
                "DeleteWorkers cannot be used with autoscaling; the autoscaler would "
                "bring the workers back.",
                policy,
            )
        if policy == "DeleteNone" and spec.shutdown_after_job_finishes:
            out.error(where, "DeleteNone contradicts shutdownAfterJobFinishes: true.", policy)


def _check_rules(spec: RayJobSpec, path: str, out: Findings) -> None:
    rules = spec.deletion_strategy.deletion_rules if spec.deletion_strategy else None
    seen: set[tuple[str, str]] = set()
    ttl_by: dict[str, dict[str, int]] = {}
    for index, rule in enumerate(rules or []):
        rpath = join(join(path, "deletionRules"), index)
        cond = rule.condition
        statuses = [s for s in (cond.job_status, cond.job_deployment_status) if s]
        if len(statuses) != 1:
            out.error(
                join(rpath, "condition"), "needs exactly one of jobStatus or jobDeploymentStatus."
            )
        if cond.ttl_seconds < 0:
            out.error(
                join(join(rpath, "condition"), "ttlSeconds"),
                f"is {cond.ttl_seconds}; it must be 0 or more.",
                cond.ttl_seconds,
                ">= 0",
            )
        if len(statuses) != 1:
            continue
        # jobStatus FAILED and jobDeploymentStatus Failed are different conditions.
        status = ("jobStatus " if cond.job_status else "jobDeploymentStatus ") + statuses[0]
        key = (rule.policy, status)
        if key in seen:
            out.error(
                rpath,
                f"repeats policy {rule.policy} for {status}; each (policy, status) "
                "pair may appear once.",
            )
            continue
        seen.add(key)
        ttl_by.setdefault(status, {})[rule.policy] = cond.ttl_seconds
    for status, ttls in ttl_by.items():
        ordered = sorted((p for p in ttls if p in _ORDER), key=_ORDER.__getitem__)
        for low, high in itertools.pairwise(ordered):
            if ttls[low] > ttls[high]:
                out.error(
                    join(path, "deletionRules"),
                    f"for {status}, {low} has ttlSeconds "
                    f"{ttls[low]} but {high} has {ttls[high]}; TTLs must satisfy "
                    "DeleteWorkers <= DeleteCluster <= DeleteSelf.",
                )
    _check_policies(
        spec,
        [
            (join(join(join(path, "deletionRules"), i), "policy"), r.policy)
            for i, r in enumerate(rules or [])
        ],
        out,
    )

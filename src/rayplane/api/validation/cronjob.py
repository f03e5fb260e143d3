"""KubeRay's RayCronJob rules (validation.go ValidateRayCronJobSpec).

The same rules run at admission (`validate`, `apply`, the webhook) and in the
reconciler, as KubeRay runs them in its reconciler. The name limit (36, so that
``<name>-<10-digit minute>`` stays a valid RayJob name) is checked with the other names,
in :func:`rayplane.api.validation._check_identity`.
"""

from __future__ import annotations

from rayplane.api.cron import CronError, load_zone, parse
from rayplane.api.findings import Finding, Findings
from rayplane.api.raycronjob import RayCronJob
from rayplane.api.rayjob import RayJob
from rayplane.api.validation.gates import FeatureGates
from rayplane.api.validation.job import validate_rayjob

TEMPLATE = "spec.jobTemplate"


def validate_raycronjob_spec(cron: RayCronJob, out: Findings, gates: FeatureGates) -> None:
    """schedule, timeZone and jobTemplate (as a RayJob's spec), in KubeRay's order."""
    spec = cron.spec
    if "TZ" in spec.schedule:
        out.error(
            "spec.schedule",
            f"{spec.schedule!r} names a time zone (TZ= or CRON_TZ=), which KubeRay does not "
            "allow in the schedule; remove it and set spec.timeZone instead, e.g. "
            "timeZone: Asia/Taipei.",
            spec.schedule,
        )
    else:
        try:
            parse(spec.schedule)
        except CronError as exc:
            out.error(
                "spec.schedule",
                f"invalid cron schedule: {exc}. Write five fields (minute hour day-of-month "
                "month day-of-week), e.g. '*/5 * * * *', or a descriptor such as @hourly.",
                spec.schedule,
            )
    if spec.time_zone is not None:
        if spec.time_zone == "":
            out.error(
                "spec.timeZone",
                "must not be an empty string; omit the field to use the controller's local "
                "time zone, or name one, e.g. timeZone: UTC.",
                "",
            )
        else:
            try:
                load_zone(spec.time_zone)
            except CronError as exc:
                out.error(
                    "spec.timeZone",
                    f"invalid time zone: {exc}; use an IANA name such as Europe/Berlin, "
                    "America/New_York or UTC.",
                    spec.time_zone,
                )
    # The template is a RayJob's spec: KubeRay runs ValidateRayJobSpec on it.
    template = Findings()
    validate_rayjob(RayJob(spec=spec.job_template), template, gates)
    out.items.extend(_under_template(f) for f in template.items)


def _under_template(finding: Finding) -> Finding:
    """A RayJob finding at spec.X, moved to spec.jobTemplate.X where the user wrote it."""
    path = finding.path
    if path == "spec" or path.startswith(("spec.", "spec[")):
        path = TEMPLATE + path[len("spec") :]
    return Finding(path, finding.message, finding.value, finding.allowed, finding.severity)

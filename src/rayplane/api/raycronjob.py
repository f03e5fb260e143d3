"""RayCronJob (ray.io/v1, KubeRay 1.6+, alpha gate ``RayCronJob``): RayJobs on a schedule.

KubeRay's type (apis/ray/v1/raycronjob_types.go) has only four spec fields and one status
field. It has none of batch/v1 CronJob's concurrencyPolicy, startingDeadlineSeconds or
history limits, so neither do we: a misspelled or CronJob-only field is an error here
instead of being pruned silently by the API server.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rayplane.api.base import Open, Strict
from rayplane.api.common import Resource
from rayplane.api.rayjob import RayJobSpec


class RayCronJobSpec(Strict):
    # Required in KubeRay's CRD; a RayJob's spec, without metadata (KubeRay sets the child's).
    job_template: RayJobSpec
    # A standard five-field cron line or a robfig/cron descriptor (@hourly, @every 5m, ...).
    schedule: str
    # IANA name; unset means the controller's local zone. The CRD has minLength: 1.
    time_zone: str | None = Field(default=None, json_schema_extra={"minLength": 1})
    # Stops new RayJobs only; RayJobs already created run on.
    suspend: bool | None = None


class RayCronJobStatus(Open):
    last_schedule_time: str | None = Field(default=None, json_schema_extra={"format": "date-time"})


class RayCronJob(Resource):
    kind: Literal["RayCronJob"] = "RayCronJob"
    spec: RayCronJobSpec
    status: RayCronJobStatus | None = None

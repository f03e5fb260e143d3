"""A RayService handle: where it serves, and why it does not."""

from __future__ import annotations

from typing import Any, ClassVar

from rayplane.sdk.resource import Resource
from rayplane.sdk.status import status_of


def _last_line(text: Any) -> str:
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


class RayService(Resource):
    """A RayService. ``apply`` waits until it serves, and stops at once with a one-line
    cause when a Serve app fails to deploy."""

    kind: ClassVar[str] = "RayService"
    api_version: ClassVar[str] = "ray.io/v1"

    @property
    def endpoint(self) -> str | None:
        """The Serve endpoint's URL once it serves, else None.

        Locally this is the stable port the controller forwards to the active cluster.
        """
        fresh = self._fetch()
        endpoint = ((fresh or {}).get("local") or {}).get("endpoint")
        return str(endpoint) if endpoint else None

    def describe(self) -> str:
        """A short text: state and reason, conditions, each Serve app and unhealthy
        deployment with the last line of its message, and the nodes."""
        obj = self.refresh().object
        st = status_of(obj)
        lines = [f"RayService {self.namespace}/{self.name}: {st.state}"]
        if st.reason:
            lines[0] += f" ({st.reason})"
        for c in st.conditions:
            lines.append(f"  condition {c.type}={c.status} {c.reason} {c.message}".rstrip())
        for which in ("activeServiceStatus", "pendingServiceStatus"):
            apps = (st.raw.get(which) or {}).get("applicationStatuses") or {}
            for app, info in apps.items():
                line = f"  {which[:-13]} app {app}: {info.get('status')}"
                if info.get("message"):
                    line += f" - {_last_line(info['message'])}"
                lines.append(line)
                for dep, dinfo in (info.get("serveDeploymentStatuses") or {}).items():
                    if dinfo.get("status") != "HEALTHY":
                        line = f"    deployment {dep}: {dinfo.get('status')}"
                        if dinfo.get("message"):
                            line += f" - {_last_line(dinfo['message'])}"
                        lines.append(line)
        for node in self.backend.nodes(obj):
            why = f" - {node.reason}" if node.reason else ""
            lines.append(f"  node {node.name} ({node.group}): {node.state}{why}")
        failure_log = (obj.get("local") or {}).get("serveFailureLog")
        if failure_log:  # the full text of the failures whose one line is shown above
            lines.append(f"  failure log: {failure_log} (rayplane logs rayservice/{self.name})")
        return "\n".join(lines)

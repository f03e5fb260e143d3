"""A failed Serve application, told in one line.

Serve reports a failed deploy as a status (an app or deployment DEPLOY_FAILED, or a
deployment UNHEALTHY whose replicas cannot start again) and a message that is usually a
whole Python traceback, often several chained ones (a RuntimeEnvSetupError wrapping the
download's ConnectionError, a RayTaskError wrapping the app's ImportError). Nobody can
read 60 lines in a table cell, and a wait that ignores the status runs into its timeout
with no reason at all. So the reconciler reduces each failure to a typed
:class:`ServeFailure`: which app and deployment, the status, and the cause, which is the
*innermost* exception's type and message as Python printed it last (that is the one that
names the URL that could not be fetched, or the module that could not be imported). The
full text stays on the value for a log.

The messages these functions read are Ray 2.60's (python/ray/serve/_private/
application_state.py and deployment_state.py); tests/reconcile/serve_messages/ holds real
ones captured from a local cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from rayplane.reconcile.service.model import DEFAULT_APP_NAME, AppView

# Serve's status of an application or a deployment that means it failed for good:
# the build, the runtime env or the replicas' start failed.
DEPLOY_FAILED = "DEPLOY_FAILED"
# It ran, then its replicas stopped passing health checks (which Serve retries and may
# recover from) or starting: a failure only when an exception says why.
UNHEALTHY = "UNHEALTHY"
FAILED_STATUSES = frozenset({DEPLOY_FAILED, UNHEALTHY})

# The longest cause kept on the one line; the log has the rest.
MAX_CAUSE = 400

# The last line of a Python traceback: a (dotted) exception name at column 0, optionally
# RayTaskError's "(InnerError)", then ": message" or nothing.
_EXCEPTION_LINE = re.compile(
    r"^(?P<type>[A-Za-z_][\w.]*(?:\([A-Za-z_][\w.]*\))?)(?:: (?P<message>.*))?$"
)
_TRACEBACK = "Traceback (most recent call last):"
# Lines that end an exception's (multi-line) message in a printed chain.
_CHAIN_BREAKS = (
    "Traceback (most recent call last)",
    "The above exception was the direct cause",
    "During handling of the above exception",
)
# requests/urllib3's way of saying which URL could not be fetched.
_POOL = re.compile(
    r"^(?P<scheme>HTTPS?)ConnectionPool\(host='(?P<host>[^']*)', port=(?P<port>\d+)\): "
    r"Max retries exceeded with url: (?P<path>\S+)(?: \(Caused by (?P<caused>.*)\))?$"
)
_ERRNO = re.compile(r"(\[Errno -?\d+\][^'\")]*|Failed to resolve '[^']*'(?: \(\[Errno[^)]*\))?)")
# Ray's first line before the traceback, by what it says happened.
_HEADLINES = (
    (re.compile(r"^Runtime env setup for app '.*' failed:?$"), "runtime env setup failed"),
    (re.compile(r"^Deploying app '.*' failed with exception:?$"), "deploying the app failed"),
    (re.compile(r"^Unexpected error occurred while"), "unexpected error"),
    (re.compile(r"^The deployment failed to start (\d+) times in a row"), "failed to start"),
)


@dataclass(frozen=True)
class Cause:
    """The exception a Serve message ends with: ``kind`` is its type as Python printed it
    (``requests.exceptions.ConnectionError``), "" when the message holds no traceback;
    ``message`` its message on one line; ``context`` what Ray said was being done
    ("runtime env setup failed"), "" when it did not say."""

    kind: str
    message: str
    context: str = ""

    @property
    def line(self) -> str:
        text = f"{self.kind}: {self.message}" if self.kind and self.message else self.kind
        text = text or self.message
        return f"{self.context}: {text}" if self.context else text


@dataclass(frozen=True)
class ServeFailure:
    """One failed Serve application of a cluster, from the Serve API's statuses.

    ``deployment`` is the deployment whose message carried the cause (None: the app's own
    message did, e.g. its import or runtime env failed before any deployment existed);
    ``status`` is the failing app's or deployment's Serve status; ``text`` the message as
    Serve gave it, traceback and all, for a log.
    """

    cluster: str
    app: str
    deployment: str | None
    status: str
    cause: Cause
    text: str

    @property
    def line(self) -> str:
        """``app A, deployment D: STATUS: context: Type: message``, one line."""
        where = f"app {self.app}" + (f", deployment {self.deployment}" if self.deployment else "")
        return f"{where}: {self.status}: {self.cause.line}"


def serve_failures(cluster: str, apps: Mapping[str, AppView]) -> tuple[ServeFailure, ...]:
    """Every failed application of *cluster*, by app name, with its most telling cause.

    An app has failed when it or one of its deployments is DEPLOY_FAILED, or a deployment is
    UNHEALTHY with an exception in its message (replicas that fail to start after it ran).
    An UNHEALTHY app whose deployments only fail health checks has not: Serve restarts
    those replicas and the app may recover. The cause is the first message that holds an
    exception, a deployment's before the app's; else a failed deployment's message, since
    the app's is then only Serve's summary ("Failed to update the deployments ['X']."); else
    the app's.
    """
    found: list[ServeFailure] = []
    for name in sorted(apps):
        app = apps[name]
        failed = [
            (dep_name, dep.status, dep.message)
            for dep_name, dep in sorted(app.deployments.items())
            if dep.status == DEPLOY_FAILED
            or (dep.status == UNHEALTHY and cause_of(dep.message).kind)
        ]
        if app.status != DEPLOY_FAILED and not failed:
            continue
        own: tuple[str | None, str, str] = (
            None,
            app.status if app.status in FAILED_STATUSES else failed[0][1],
            app.message,
        )
        telling = [d for d in failed if cause_of(d[2]).kind]
        own_telling = [own] if cause_of(own[2]).kind else []
        with_text = [c for c in (*telling, *own_telling, *failed, own) if c[2].strip()]
        deployment, status, text = with_text[0] if with_text else own
        found.append(
            ServeFailure(
                cluster=cluster,
                app=name or DEFAULT_APP_NAME,
                deployment=deployment,
                status=status,
                cause=cause_of(text) if text.strip() else Cause("", "Serve gave no message"),
                text=text,
            )
        )
    return tuple(found)


def cause_of(text: str) -> Cause:
    """The last exception printed in *text* (a Serve status message), on one line.

    A printed chain ends with the exception that was raised last, and the Serve messages
    wrap the one that matters innermost; either way it is the last exception line of the
    text. A message with no traceback is its first non-empty line.
    """
    lines = text.splitlines()
    context = _context(lines)
    if _TRACEBACK not in text:
        first = next((line.strip() for line in lines if line.strip()), "")
        return Cause("", _clip(first), "")
    found = _exception_at(lines, strict=True) or _exception_at(lines, strict=False)
    if found is None:  # a traceback cut short: its last line is the best there is
        last = next((line.strip() for line in reversed(lines) if line.strip()), "")
        return Cause("", _clip(last), context)
    at, match = found
    message = [match["message"] or ""]
    for more in lines[at + 1 :]:
        if not more.strip() or more.startswith(_CHAIN_BREAKS) or _is_node_prefixed(more):
            break
        message.append(more.strip())
    return Cause(match["type"], _clip(_tell_url(" ".join(m for m in message if m))), context)


def _exception_at(lines: list[str], *, strict: bool) -> tuple[int, re.Match[str]] | None:
    """The last exception line, its index and match; *strict* wants a name that looks like one (an
    exception defined in ``__main__`` prints without a module path, so a second look takes
    any ``Name: message`` line). A wrapper whose message is itself a traceback is skipped."""
    for at in range(len(lines) - 1, -1, -1):
        match = _EXCEPTION_LINE.match(lines[at])
        if match is None or (strict and not _looks_like_exception(match["type"])):
            continue
        if (match["message"] or "").startswith(_TRACEBACK):
            continue  # Serve's replica wraps the user's traceback in a RuntimeError's message
        return at, match
    return None


def _context(lines: list[str]) -> str:
    first = next((line.strip() for line in lines if line.strip()), "")
    for pattern, said in _HEADLINES:
        match = pattern.match(first)
        if match:
            return f"{said} {match.group(1)} times in a row" if match.groups() else said
    return ""


def _looks_like_exception(name: str) -> bool:
    """An exception's name, not a word that happens to start a line with a colon: Python's
    exceptions are dotted paths or end in Error/Exception/Exit/Interrupt/Warning/Failure."""
    base = name.split("(")[0]
    return "." in base or base.endswith(
        ("Error", "Exception", "Exit", "Interrupt", "Warning", "Failure", "Timeout")
    )


def _is_node_prefixed(line: str) -> bool:
    return line.startswith("[Node ") and _TRACEBACK in line


def _tell_url(message: str) -> str:
    """requests' "HTTPConnectionPool(host=..., port=...): Max retries exceeded with url: /p
    (Caused by NewConnectionError(...: [Errno 111] Connection refused))" as the URL that
    could not be fetched and why: ``http://host:port/p: [Errno 111] Connection refused``."""
    match = _POOL.match(message)
    if match is None:
        return message
    scheme = match["scheme"].lower()
    default = {"http": "80", "https": "443"}[scheme]
    port = "" if match["port"] == default else f":{match['port']}"
    url = f"{scheme}://{match['host']}{port}{match['path']}"
    caused = match["caused"] or ""
    why = _ERRNO.search(caused)
    reason = why.group(1).strip() if why else caused
    return f"cannot fetch {url}" + (f": {reason}" if reason else "")


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_CAUSE else text[: MAX_CAUSE - 1] + "…"

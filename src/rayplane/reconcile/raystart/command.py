"""The one `ray start` command line, built from a group spec by KubeRay's rules.

Both runtimes start Ray nodes with what this module returns: the Kubernetes runtime puts
``shell()`` into the Ray container's args (and ``kuberay_shell()`` into
KUBERAY_GEN_RAY_START_CMD), the local runtime runs ``argv()`` as a process. Keeping a
single builder is what makes a YAML behave the same in both places: a group gets the same
CPUs, memory, GPUs, custom resources and labels whether it is a Pod or a process.

The rules are KubeRay's (ray-operator/controllers/ray/common/pod.go, at feeaf72):

1. ``updateRayStartParamsResources``: the group's top-level ``resources`` overwrite
   num-cpus / memory / num-gpus (CPU, memory, keys ending in "gpu", case-insensitive, as
   ``Quantity.Value()``, i.e. rounded up) and *replace* the ``resources`` param with the
   other entries as JSON.
2. ``updateRayStartParamsLabels``: the group's ``labels`` replace the ``labels`` param with
   ``k=v,k2=v2`` in key order.
3. ``setMissingRayStartParams``: workers default ``address`` to the head; the head defaults
   ``dashboard-host=0.0.0.0``; both default ``metrics-export-port=8080`` and
   ``dashboard-agent-listen-port=52365``; ``block=true`` is forced.
4. With in-tree autoscaling the head gets ``no-monitor=true`` (forced): the autoscaler runs
   beside Ray instead of Ray's own monitor.
5. GCS FT with ``gcsFaultToleranceOptions.redisUsername/redisPassword`` (Redis backend) set
   ``redis-username=$REDIS_USERNAME`` / ``redis-password=$REDIS_PASSWORD`` on the head; the
   variables come from the container env, so the secret never appears in the command.
6. ``generateRayStartCommand``: only when absent, num-cpus from container 0's CPU limit,
   else its request; memory from the memory *limit* only; num-gpus from the first
   (sorted) non-zero limit whose key ends in "gpu" (or is an NVIDIA MIG slice); the first
   TPU (google.com/tpu) or Neuron (aws.amazon.com/neuroncore) limit is merged into the
   ``resources`` JSON unless it already names an accelerator.

Flags are sorted; "true" becomes a bare ``--k``; "false" drops the flag, except for
log-color, include-dashboard and include-log-monitor, which take ``--k=false``.

Pinned flags (the local runtime's ports, hosts and directories) are not params a user can
reach: every user param that names a pinned option the way Ray's click parser reads it
(the text between ``--`` and the first ``=`` of the finished argument, matched exactly) is
dropped and reported in ``dropped``, and the pinned flags are rendered after all others,
so even a spelling missed here would lose to them (click keeps an option's last value).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rayplane.api.raycluster import HeadGroupSpec, RayClusterSpec, WorkerGroupSpec
from rayplane.reconcile.raystart.options import option_name, render
from rayplane.reconcile.raystart.resources import (
    apply_container_resources,
    apply_group_resources,
    ray_container,
)
from rayplane.reconcile.raystart.shell import shell_word

DEFAULT_GCS_PORT = "6379"
DEFAULT_METRICS_PORT = "8080"
DEFAULT_DASHBOARD_AGENT_LISTEN_PORT = "52365"


@dataclass(frozen=True)
class RayStartCommand:
    """A `ray start` invocation: the merged params and their renderings.

    ``params`` holds every flag (without ``--``) with its final string value, including
    ``block`` and the derived resources, so callers can read e.g. ``params["num-cpus"]``
    instead of parsing the command.
    """

    head: bool
    params: dict[str, str]
    pinned: frozenset[str] = frozenset()
    dropped: tuple[tuple[str, str], ...] = ()

    def flags(self) -> list[str]:
        """The rendered flags in KubeRay's order (sorted by name), shell-quoted as written.

        Pinned flags come last (each part sorted), so they are the values click keeps.
        """
        return self._rendered(pinned=False) + self._rendered(pinned=True)

    def argv(self, env: Mapping[str, str] | None = None) -> list[str]:
        """The command as an exec argv: ["ray", "start", ("--head",) ...flags].

        On Kubernetes the flags pass through bash, so users write shell-quoted values (Ray's
        docs spell custom resources ``'"{\\"A\\": 1}"'``) and ``$VAR`` references (GCS FT's
        ``$REDIS_PASSWORD``). Here each flag gets the same quote removal bash would do, so
        the process sees the same argument. With *env*, ``$VAR``/``${VAR}`` outside single
        quotes expand as bash would (unset → empty); without it they stay literal.
        """
        head = ["--head"] if self.head else []
        free = [shell_word(flag, env) for flag in self._rendered(pinned=False)]
        if self.pinned:
            # Quote removal and $VAR expansion can still turn a flag into a pinned one (a
            # key like dash'board-host'): checked again on the words click will read.
            owned = {f"--{key}" for key in (*self.pinned, "head")}
            free = [word for word in free if word.split("=", 1)[0] not in owned]
        pinned = [shell_word(flag, env) for flag in self._rendered(pinned=True)]
        return ["ray", "start", *head, *free, *pinned]

    def _rendered(self, *, pinned: bool) -> list[str]:
        keys = sorted(key for key in self.params if (key in self.pinned) == pinned)
        rendered = (render(key, self.params[key]) for key in keys)
        return [flag for flag in rendered if flag is not None]

    def shell(self) -> str:
        """A readable one-liner, ``ray start --head --block --dashboard-host=0.0.0.0 ...``.

        Values are inserted verbatim (as KubeRay does), so the line is meant for ``bash -c``.
        """
        head = ["--head"] if self.head else []
        return " ".join(["ray", "start", *head, *self.flags()])

    def kuberay_shell(self) -> str:
        """Byte for byte what KubeRay generates (its env KUBERAY_GEN_RAY_START_CMD).

        KubeRay pads every flag with a space on both sides, hence the double spaces; tools
        that compare against KubeRay's pods see exactly the same string.
        """
        padded = "".join(f" {flag} " for flag in self.flags())
        return f"ray start --head {padded}" if self.head else f"ray start {padded}"


def head_port(spec: RayClusterSpec) -> str:
    """The head's GCS port: rayStartParams["port"] or 6379 (KubeRay's GetHeadPort)."""
    return spec.head_group_spec.ray_start_params.get("port", DEFAULT_GCS_PORT)


def build_ray_start(
    spec: RayClusterSpec,
    group: WorkerGroupSpec | None,
    *,
    head_address: str | None,
    extra: Mapping[str, str] | None = None,
    reserved: frozenset[str] = frozenset(),
) -> RayStartCommand:
    """Build the `ray start` command of the head (*group* None) or of a worker group.

    *head_address* is the worker's default ``--address`` (``<fqdn>:<port>`` on Kubernetes,
    ``127.0.0.1:<port>`` locally); a user-given ``address`` param wins; it is unused for the
    head. *extra* holds what only the runtime decides (local ports, ``temp-dir``,
    ``node-ip-address``): those options are pinned, and so are the *reserved* ones, which
    the runtime leaves unset, and ``head``, which the group decides. A param reaching a
    pinned option in any spelling click accepts is left out and listed in ``dropped``
    (key, value, the user's only) for the runtime to report. Without pins (Kubernetes)
    the command is exactly KubeRay's.

    Raises QuantityError when a container quantity is not a quantity (validation rejects
    such specs before they get here). Unparseable entries of the group ``resources`` field
    are skipped, as KubeRay skips them.
    """
    is_head = group is None
    source: HeadGroupSpec | WorkerGroupSpec = spec.head_group_spec if group is None else group
    params = dict(source.ray_start_params)

    apply_group_resources(params, source.resources)
    if source.labels:
        params["labels"] = ",".join(f"{k}={source.labels[k]}" for k in sorted(source.labels))

    if is_head:
        params.setdefault("dashboard-host", "0.0.0.0")
    elif head_address and "address" not in params:
        params["address"] = head_address
    params.setdefault("metrics-export-port", DEFAULT_METRICS_PORT)
    params["block"] = "true"
    params.setdefault("dashboard-agent-listen-port", DEFAULT_DASHBOARD_AGENT_LISTEN_PORT)

    if is_head and spec.autoscaling:
        params["no-monitor"] = "true"
    if is_head:
        _apply_redis_credentials(params, spec)

    container = ray_container(source)
    if container is not None and container.resources is not None:
        apply_container_resources(params, container.resources)

    pinned = frozenset(extra or {}) | reserved
    dropped: list[tuple[str, str]] = []
    if pinned:
        for key in list(params):
            if option_name(key, params[key]) in pinned | {"head"}:
                value = params.pop(key)
                if source.ray_start_params.get(key) == value:  # the user's, not a default
                    dropped.append((key, value))
    params.update(extra or {})
    return RayStartCommand(is_head, params, pinned, tuple(dropped))


def _apply_redis_credentials(params: dict[str, str], spec: RayClusterSpec) -> None:
    options = spec.gcs_fault_tolerance_options
    if options is None or options.backend == "rocksdb":
        return
    if options.redis_username is not None:
        params["redis-username"] = "$REDIS_USERNAME"
    if options.redis_password is not None:
        params["redis-password"] = "$REDIS_PASSWORD"

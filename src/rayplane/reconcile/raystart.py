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

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from rayplane.api.k8s import Container, Quantity, ResourceRequirements
from rayplane.api.quantity import QuantityError, parse_quantity
from rayplane.api.raycluster import HeadGroupSpec, RayClusterSpec, WorkerGroupSpec

DEFAULT_GCS_PORT = "6379"
DEFAULT_METRICS_PORT = "8080"
DEFAULT_DASHBOARD_AGENT_LISTEN_PORT = "52365"

# Boolean flags that must reach `ray start` as `--k=false` rather than being dropped
# (convertParamMap's specialParameterOptions).
FALSE_KEPT = frozenset({"log-color", "include-dashboard", "include-log-monitor"})

# Container resource names that KubeRay turns into Ray custom resources.
ACCELERATORS = {"aws.amazon.com/neuroncore": "neuron_cores", "google.com/tpu": "TPU"}

_MIG = re.compile(r"nvidia\.com/mig-\d+g\.\d+gb$")
_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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
        free = [_shell_word(flag, env) for flag in self._rendered(pinned=False)]
        if self.pinned:
            # Quote removal and $VAR expansion can still turn a flag into a pinned one (a
            # key like dash'board-host'): checked again on the words click will read.
            owned = {f"--{key}" for key in (*self.pinned, "head")}
            free = [word for word in free if word.split("=", 1)[0] not in owned]
        pinned = [_shell_word(flag, env) for flag in self._rendered(pinned=True)]
        return ["ray", "start", *head, *free, *pinned]

    def _rendered(self, *, pinned: bool) -> list[str]:
        keys = sorted(key for key in self.params if (key in self.pinned) == pinned)
        rendered = (_render(key, self.params[key]) for key in keys)
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


def option_name(key: str, value: str) -> str:
    """The `ray start` option a param reaches, as click reads its rendered flag.

    Click splits ``--name=value`` at the first ``=`` and matches the name exactly (Ray's
    ``start`` command has no aliases and no token normalization), so the key
    ``dashboard-host=0.0.0.0`` with value "true" is the option ``dashboard-host``.
    """
    flag = _render(key, value) or f"--{key}"
    return _shell_word(flag, None).removeprefix("--").split("=", 1)[0]


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

    _apply_group_resources(params, source.resources)
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

    container = _ray_container(source)
    if container is not None and container.resources is not None:
        _apply_container_resources(params, container.resources)

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


def ray_resources(spec: RayClusterSpec, group: WorkerGroupSpec | None) -> dict[str, int]:
    """The Ray resources a node of the group offers, as the stock autoscaler computes them.

    These are the rules of Ray's ``autoscaling_config._get_ray_resources_from_group_spec``
    (Ray 2.60), so that a local autoscaler config and the node types the KubeRay autoscaler
    derives agree: CPU = resources.CPU > num-cpus > cpu limit > cpu request (rounded up);
    GPU = resources.GPU > num-gpus > first limit-then-request key ending in "gpu";
    memory = resources.memory > memory param > memory limit > memory request; TPU from
    resources.TPU, the custom resources or google.com/tpu; custom resources from the
    ``resources`` field when set (exclusively), else from the ``resources`` param.

    Keys are left out when nothing sets them (Ray would detect them when the node starts;
    the stock autoscaler refuses a group without CPU). This differs from the `ray start`
    flags in one documented way: the autoscaler falls back to the memory *request* when
    there is no limit, while `ray start` gets no --memory then.
    """
    source: HeadGroupSpec | WorkerGroupSpec = spec.head_group_spec if group is None else group
    fields = source.resources or {}
    params = source.ray_start_params
    container = _ray_container(source)
    limits: dict[str, Quantity] = {}
    requests: dict[str, Quantity] = {}
    if container is not None and container.resources is not None:
        limits = dict(container.resources.limits or {})
        requests = dict(container.resources.requests or {})

    def first(field: str, param: str, key: str) -> int | None:
        if field in fields:
            return _ceil(fields[field])
        if param in params:
            return _ceil(params[param])
        for found in (limits, requests):
            if key in found:
                return _ceil(found[key])
        return None

    resources: dict[str, int] = {}
    cpu = first("CPU", "num-cpus", "cpu")
    if cpu is not None:
        resources["CPU"] = cpu

    gpu: int | None = None
    if "GPU" in fields:
        gpu = _ceil(fields["GPU"])
    elif "num-gpus" in params:
        gpu = _ceil(params["num-gpus"])
    else:
        for key, value in [*limits.items(), *requests.items()]:
            amount = _ceil(value) if key.endswith("gpu") else None
            if amount:
                gpu = amount
                break
    if gpu is not None:
        resources["GPU"] = gpu

    custom: dict[str, int] = {}
    if fields:
        for key, value in fields.items():
            amount = _ceil(value) if key not in {"CPU", "GPU", "TPU", "memory"} else None
            if amount is not None:
                custom[key] = amount
    elif "resources" in params:
        parsed = _parse_resources_param(params["resources"])
        custom = {k: math.ceil(v) for k, v in parsed.items() if math.isfinite(v)}

    tpu: int | None = None
    if "TPU" in fields:
        tpu = _ceil(fields["TPU"])
    elif "TPU" in custom:
        tpu = custom["TPU"]
    else:
        for found in (limits, requests):
            amount = _ceil(found["google.com/tpu"]) if "google.com/tpu" in found else None
            if amount:
                tpu = amount
                break
    if tpu is not None and "TPU" not in custom:
        resources["TPU"] = tpu

    memory = first("memory", "memory", "memory")
    if memory is not None:
        resources["memory"] = memory
    resources.update(custom)
    return resources


def is_gpu_resource_key(key: str) -> bool:
    """KubeRay's IsGPUResourceKey: "...gpu" (nvidia.com/gpu) or an NVIDIA MIG slice."""
    return key.endswith("gpu") or _MIG.search(key) is not None


# -- the steps -----------------------------------------------------------------------------


def _ray_container(source: HeadGroupSpec | WorkerGroupSpec) -> Container | None:
    """Container 0 is the Ray container by KubeRay's convention (RayContainerIndex)."""
    containers = source.template.spec.containers
    return containers[0] if containers else None


def _apply_group_resources(params: dict[str, str], resources: Mapping[str, str] | None) -> None:
    if not resources:
        return
    custom: dict[str, float] = {}
    for name in sorted(resources):  # sorted: Go's map order is random, ours is not
        try:
            value = parse_quantity(resources[name])
        except QuantityError:
            continue
        lowered = name.lower()
        if lowered == "cpu":
            params["num-cpus"] = str(math.ceil(value))
        elif lowered == "memory":
            params["memory"] = str(math.ceil(value))
        elif is_gpu_resource_key(lowered):
            params["num-gpus"] = str(math.ceil(value))
        else:
            custom[name] = float(value)
    if custom:
        params["resources"] = f"'{_go_json(custom)}'"


def _apply_redis_credentials(params: dict[str, str], spec: RayClusterSpec) -> None:
    options = spec.gcs_fault_tolerance_options
    if options is None or options.backend == "rocksdb":
        return
    if options.redis_username is not None:
        params["redis-username"] = "$REDIS_USERNAME"
    if options.redis_password is not None:
        params["redis-password"] = "$REDIS_PASSWORD"


def _apply_container_resources(params: dict[str, str], resources: ResourceRequirements) -> None:
    limits = resources.limits or {}
    requests = resources.requests or {}
    if "num-cpus" not in params:
        for found in (limits, requests):
            cpu = _nonzero(found.get("cpu"))
            if cpu is not None:
                params["num-cpus"] = str(math.ceil(cpu))
                break
    if "memory" not in params:
        memory = _nonzero(limits.get("memory"))
        if memory is not None:
            params["memory"] = str(math.ceil(memory))
    _apply_accelerators(params, limits)


def _apply_accelerators(params: dict[str, str], limits: Mapping[str, Quantity]) -> None:
    """num-gpus and the first TPU/Neuron limit (KubeRay's addWellKnownAcceleratorResources).

    KubeRay gives up on *all* accelerators, GPUs included, when the ``resources`` param is
    not JSON it can read (e.g. the escaped form from Ray's docs); we read that form too,
    and when even that fails we still derive num-gpus and only skip the merge.
    """
    if not limits:
        return
    resources: dict[str, float] | None
    try:
        resources = _parse_resources_param(params.get("resources"))
    except ValueError:
        resources = None
    accelerator_done = resources is None or any(name in resources for name in ACCELERATORS.values())
    for key in sorted(limits):
        value = parse_quantity(limits[key])
        if value == 0:
            continue
        if "num-gpus" not in params and is_gpu_resource_key(key):
            params["num-gpus"] = str(math.ceil(value))
        if not accelerator_done and resources is not None and key in ACCELERATORS:
            resources[ACCELERATORS[key]] = float(value)
            params["resources"] = f"'{_go_json(resources)}'"
            accelerator_done = True


# -- helpers -----------------------------------------------------------------------------


def _nonzero(value: Quantity | None) -> Decimal | None:
    if value is None:
        return None
    parsed = parse_quantity(value)
    return parsed if parsed != 0 else None


def _ceil(value: Quantity) -> int | None:
    """The rounded-up amount, or None for a value that is no quantity: an unchecked
    rayStartParams string such as num-cpus: "--foo", which `ray start` refuses itself."""
    try:
        return math.ceil(parse_quantity(value))
    except QuantityError:
        return None


def _render(key: str, value: str) -> str | None:
    lowered = value.lower()
    if lowered in ("true", "false") and key not in FALSE_KEPT:
        return f"--{key}" if lowered == "true" else None
    return f"--{key}={value}"


def _parse_resources_param(text: str | None) -> dict[str, float]:
    """The ``resources`` param as a dict; accepts KubeRay's and Ray's documented spellings.

    ``'{"A": 1}'`` (KubeRay trims surrounding quotes) and ``'"{\\"A\\": 1}"'`` (Ray's docs,
    a shell-quoted JSON string). Raises ValueError for anything else.
    """
    if text is None:
        return {}
    candidates = [text.strip("'\"` "), _shell_word(text, None)]
    for candidate in candidates:
        try:
            loaded = json.loads(candidate)
            if isinstance(loaded, str):
                loaded = json.loads(loaded)
        except ValueError:
            continue
        if isinstance(loaded, dict) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in loaded.values()
        ):
            return {str(k): float(v) for k, v in loaded.items()}
    raise ValueError(f"rayStartParams resources {text!r} is not a JSON object of numbers")


def _go_json(values: Mapping[str, float]) -> str:
    """json.Marshal of a map[string]float64: sorted keys, no spaces, Go's float format."""
    items = (f"{json.dumps(k)}:{_go_float(values[k])}" for k in sorted(values))
    return "{" + ",".join(items) + "}"


def _go_float(value: float) -> str:
    """Go's encoding/json float64 format: 4 not 4.0, 0.5, 1e-7, 1e+21."""
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        return re.sub(r"e-0(\d)$", r"e-\1", repr(value))
    if value == int(value):
        return str(int(value))
    return format(Decimal(repr(value)), "f")


def _shell_word(text: str, env: Mapping[str, str] | None) -> str:
    """Quote removal (and, with *env*, parameter expansion) of one bash word.

    Handles '...', "..." (where only $ ` " \\ and newline are escapable), backslash escapes
    and $VAR / ${VAR}. Unquoted whitespace is kept rather than splitting the word: a flag is
    one argument here. Unbalanced quotes are kept literally.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "'":
            end = text.find("'", i + 1)
            if end < 0:
                out.append(text[i:])
                break
            out.append(text[i + 1 : end])
            i = end + 1
        elif char == '"':
            end = _closing_double_quote(text, i + 1)
            if end < 0:
                out.append(text[i:])
                break
            j = i + 1
            while j < end:
                if text[j] == "\\" and j + 1 < end and text[j + 1] in '$`"\\\n':
                    out.append(text[j + 1])
                    j += 2
                elif text[j] == "$":
                    expanded, j = _expand(text, j, env)
                    out.append(expanded)
                else:
                    out.append(text[j])
                    j += 1
            i = end + 1
        elif char == "\\" and i + 1 < n:
            out.append(text[i + 1])
            i += 2
        elif char == "$":
            expanded, i = _expand(text, i, env)
            out.append(expanded)
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _closing_double_quote(text: str, start: int) -> int:
    j = start
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == '"':
            return j
        j += 1
    return -1


def _expand(text: str, start: int, env: Mapping[str, str] | None) -> tuple[str, int]:
    """Expand the $VAR or ${VAR} at *start*; returns the text and the index after it."""
    if text.startswith("${", start):
        end = text.find("}", start + 2)
        name = text[start + 2 : end] if end >= 0 else ""
        if end < 0 or not _VAR.fullmatch(name):
            return "$", start + 1
        stop = end + 1
    else:
        match = _VAR.match(text, start + 1)
        if match is None:
            return "$", start + 1
        name, stop = match.group(), match.end()
    if env is None:
        return text[start:stop], stop
    return env.get(name, ""), stop

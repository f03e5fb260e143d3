"""Which of a Pod's volumes a local node gets, where, and what its files hold.

On Kubernetes the kubelet gives a container its volumes at their ``mountPath``s. Locally a
node runs in its own mount namespace (bubblewrap) with the same view; this module decides
that view from the Pod spec alone, so both the runtime and ``describe`` read one answer:
which mount comes from which volume, which volume kinds cannot be honoured here, and which
paths are refused because they would leave the node's view (``..`` in a ``mountPath``,
``subPath`` or item ``path``, as Kubernetes' validation refuses them too).

The files of ``configMap``, ``secret``, ``downwardAPI`` and ``projected`` volumes are
computed here as well, from a lookup the runtime passes in, so the rules the kubelet
follows (``items``, ``defaultMode``, per-item ``mode``, ``optional``) are tested without a
filesystem. Writing them is the runtime's job.
"""

from __future__ import annotations

import base64
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from rayplane.errors import RayplaneError

DEFAULT_WORKING_DIR: Final = "/home/ray"
"""The Ray image's home and working directory: a private writable folder per node."""

DEFAULT_MODE: Final = 0o644
"""Kubernetes' default file mode of projected keys (defaultMode 420)."""

MAX_OBJECT_BYTES: Final = 1024 * 1024
"""Kubernetes refuses a ConfigMap or Secret over 1 MiB; a volume refuses it too."""

FILE_KINDS: Final = ("configMap", "secret", "downwardAPI", "projected")
SUPPORTED: Final = (*FILE_KINDS, "emptyDir", "hostPath", "persistentVolumeClaim")
HOST_PATH_TYPES: Final = (
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
)

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

Lookup = Callable[[str, str], Mapping[str, bytes] | None]
"""(kind, name) -> the object's keys and bytes, or None when no such object is stored."""


class VolumeError(RayplaneError):
    """A volume's files cannot be made; the node waits, as a Pod waits in FailedMount."""


@dataclass(frozen=True)
class Mount:
    """One ``volumeMounts`` entry joined with the volume it names."""

    volume: str
    kind: str
    path: str
    sub_path: str
    read_only: bool
    source: Mapping[str, Any]

    def show(self, source: str) -> str:
        """``source -> path (ro|rw)``, as ``describe`` lists it."""
        sub = f" subPath {self.sub_path}" if self.sub_path else ""
        return f"{self.volume} ({self.kind} {source}){sub} -> {self.path} ({self.mode})"

    @property
    def mode(self) -> str:
        return "ro" if self.read_only or self.kind in ("configMap", "secret") else "rw"


@dataclass(frozen=True)
class VolumePlan:
    """A container's mounts, its working directory, and what cannot be given it."""

    mounts: tuple[Mount, ...] = ()
    working_dir: str = DEFAULT_WORKING_DIR
    problems: tuple[str, ...] = ()

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.working_dir, *(m.path for m in self.mounts))


@dataclass(frozen=True)
class File:
    """One file of a volume: a relative path, its bytes and its mode."""

    path: str
    data: bytes
    mode: int = DEFAULT_MODE


@dataclass(frozen=True)
class PodInfo:
    """What a ``downwardAPI`` volume may read of the Pod (the node)."""

    name: str
    namespace: str
    uid: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


def _bad_path(path: str, *, absolute: bool) -> str:
    """Why *path* is refused, or "" (Kubernetes: no ``..`` element, absolute or not)."""
    if not path or "\0" in path:
        return "is empty"
    if absolute and not path.startswith("/"):
        return "is not an absolute path"
    if not absolute and path.startswith("/"):
        return "must be a relative path"
    if ".." in path.split("/"):
        return "holds '..', which would leave the volume"
    return ""


def _kind(volume: Mapping[str, Any]) -> str:
    kinds = [key for key in volume if key != "name"]
    return kinds[0] if kinds else "emptyDir"


def plan_volumes(pod_spec: Mapping[str, Any], where: str) -> VolumePlan:
    """The mounts of the Pod's first container (the Ray container), checked.

    *where* is the template's field path (``headGroupSpec.template.spec``), used in every
    problem so the user can find the line. A refused or unsupported mount is left out of
    the plan and named in ``problems``; the node still starts without it.
    """
    containers = pod_spec.get("containers") or [{}]
    container: Mapping[str, Any] = containers[0] or {}
    volumes = {str(v.get("name")): v for v in pod_spec.get("volumes") or [] if isinstance(v, dict)}
    problems: list[str] = []
    mounts: list[Mount] = []
    working_dir = str(container.get("workingDir") or DEFAULT_WORKING_DIR)
    why = _bad_path(working_dir, absolute=True)
    if why:
        problems.append(
            f"{where}.containers[0].workingDir {working_dir!r} {why}; the node runs in "
            f"{DEFAULT_WORKING_DIR}. Give an absolute path without '..'."
        )
        working_dir = DEFAULT_WORKING_DIR
    working_dir = posixpath.normpath(working_dir)
    for index, raw in enumerate(container.get("volumeMounts") or []):
        path = f"{where}.containers[0].volumeMounts[{index}]"
        name = str(raw.get("name") or "")
        target = str(raw.get("mountPath") or "")
        sub = str(raw.get("subPath") or "")
        why = _bad_path(target, absolute=True)
        if not why and posixpath.normpath(target) == "/":
            why = "is the root; a volume cannot replace the whole filesystem"
        if why:
            problems.append(f"{path}.mountPath {target!r} {why}; this mount is not made.")
            continue
        if sub and (why := _bad_path(sub, absolute=False)):
            problems.append(f"{path}.subPath {sub!r} {why}; this mount is not made.")
            continue
        if raw.get("subPathExpr"):
            problems.append(
                f"{path}.subPathExpr is not expanded locally; mount {target} is not made. "
                "Use subPath."
            )
            continue
        volume = volumes.get(name)
        if volume is None:
            problems.append(
                f"{path}.name {name!r} names no entry of {where}.volumes; add the volume or "
                "fix the name. This mount is not made."
            )
            continue
        kind = _kind(volume)
        if not _LABEL.match(name) or len(name) > 63:
            problems.append(
                f"{where}.volumes[{name!r}].name is not a DNS-1123 label (lowercase letters, "
                f"digits and '-', at most 63); {target} is not mounted. Rename the volume."
            )
            continue
        claim = str((volume.get(kind) or {}).get("claimName") or "")
        if kind == "persistentVolumeClaim" and (not _SUBDOMAIN.match(claim) or len(claim) > 253):
            problems.append(
                f"{where}.volumes[{name}].persistentVolumeClaim.claimName {claim!r} is not a "
                f"DNS-1123 name; {target} is not mounted. Use a name such as data-claim."
            )
            continue
        if kind not in SUPPORTED:
            problems.append(
                f"{where}.volumes[{name}] is a {kind} volume, which the local runtime cannot "
                f"provide (no {kind} driver on this machine): {target} is missing in the node. "
                "Use a hostPath or persistentVolumeClaim volume locally."
            )
            continue
        mounts.append(
            Mount(
                volume=name,
                kind=kind,
                path=posixpath.normpath(target),
                sub_path=posixpath.normpath(sub) if sub else "",
                read_only=bool(raw.get("readOnly")),
                source=volume.get(kind) or {},
            )
        )
    return VolumePlan(tuple(mounts), working_dir, tuple(problems))


def _mode(value: Any, default: int) -> int:
    return int(value) & 0o777 if isinstance(value, int) and not isinstance(value, bool) else default


def _check_size(kind: str, name: str, data: Mapping[str, bytes]) -> None:
    size = sum(len(k) + len(v) for k, v in data.items())
    if size > MAX_OBJECT_BYTES:
        raise VolumeError(
            f'{kind.lower()} "{name}" holds {size} bytes, over Kubernetes\' limit of '
            f"{MAX_OBJECT_BYTES} (1 MiB); split it or use a hostPath or PVC volume."
        )


def key_files(
    kind: str, source: Mapping[str, Any], lookup: Lookup, default_mode: int, where: str
) -> list[File]:
    """The files a configMap or secret source gives: every key, or its ``items``."""
    name = str(source.get("name") or source.get("secretName") or "")
    optional = bool(source.get("optional"))
    data = lookup(kind, name)
    word = kind.lower()
    if data is None:
        if optional:
            return []
        raise VolumeError(
            f'{where}: {word} "{name}" not found; apply a kind: {kind} with that name, or '
            "mark the volume optional: true"
        )
    _check_size(kind, name, data)
    items = source.get("items")
    if not items:
        return [File(key, value, default_mode) for key, value in sorted(data.items())]
    out = []
    for index, item in enumerate(items):
        key = str(item.get("key") or "")
        path = str(item.get("path") or "")
        why = _bad_path(path, absolute=False)
        if why:
            raise VolumeError(f"{where}.items[{index}].path {path!r} {why}; use a plain name.")
        if key not in data:
            if optional:
                continue
            raise VolumeError(
                f'{where}.items[{index}].key "{key}" is not in {word} "{name}"; add it or '
                "mark the volume optional: true"
            )
        out.append(File(posixpath.normpath(path), data[key], _mode(item.get("mode"), default_mode)))
    return out


def _field(pod: PodInfo, field_path: str) -> bytes:
    if field_path == "metadata.name":
        return pod.name.encode()
    if field_path == "metadata.namespace":
        return pod.namespace.encode()
    if field_path == "metadata.uid":
        return pod.uid.encode()
    for attr in ("labels", "annotations"):
        values: Mapping[str, str] = getattr(pod, attr)
        if field_path == f"metadata.{attr}":
            lines = [f'{k}="{v}"' for k, v in sorted(values.items())]
            return "\n".join(lines).encode()
        prefix = f"metadata.{attr}['"
        if field_path.startswith(prefix) and field_path.endswith("']"):
            return values.get(field_path[len(prefix) : -2], "").encode()
    raise VolumeError(f"fieldPath {field_path!r} is not one a downwardAPI volume can read")


def downward_files(
    source: Mapping[str, Any], pod: PodInfo, default_mode: int, where: str
) -> list[File]:
    """Labels, annotations, name, namespace and uid as files, as the kubelet writes them."""
    out = []
    for index, item in enumerate(source.get("items") or []):
        path = str(item.get("path") or "")
        why = _bad_path(path, absolute=False)
        if why:
            raise VolumeError(f"{where}.items[{index}].path {path!r} {why}; use a plain name.")
        ref = item.get("fieldRef") or {}
        if not ref:
            raise VolumeError(
                f"{where}.items[{index}]: only fieldRef is supported locally "
                "(resourceFieldRef has no container limits to read)"
            )
        try:
            data = _field(pod, str(ref.get("fieldPath") or ""))
        except VolumeError as exc:
            raise VolumeError(f"{where}.items[{index}].fieldRef: {exc}") from None
        out.append(File(posixpath.normpath(path), data, _mode(item.get("mode"), default_mode)))
    return out


def volume_files(mount: Mount, lookup: Lookup, pod: PodInfo, where: str) -> list[File]:
    """Every file of a configMap, secret, downwardAPI or projected volume."""
    source = mount.source
    default_mode = _mode(source.get("defaultMode"), DEFAULT_MODE)
    if mount.kind == "configMap":
        return key_files("ConfigMap", source, lookup, default_mode, where)
    if mount.kind == "secret":
        return key_files("Secret", source, lookup, default_mode, where)
    if mount.kind == "downwardAPI":
        return downward_files(source, pod, default_mode, where)
    out: list[File] = []
    for index, projection in enumerate(source.get("sources") or []):
        at = f"{where}.sources[{index}]"
        if "configMap" in projection:
            out += key_files("ConfigMap", projection["configMap"], lookup, default_mode, at)
        elif "secret" in projection:
            out += key_files("Secret", projection["secret"], lookup, default_mode, at)
        elif "downwardAPI" in projection:
            out += downward_files(projection["downwardAPI"], pod, default_mode, at)
        else:
            kind = next(iter(projection), "?")
            raise VolumeError(f"{at}: a {kind} projection cannot be made locally")
    return out


def object_bytes(kind: str, body: Mapping[str, Any]) -> dict[str, bytes]:
    """A stored Secret's or ConfigMap's keys as the bytes a volume file holds.

    Volumes read a ConfigMap's ``binaryData`` too (env vars do not), and a Secret's
    ``stringData`` as the API server merges it into ``data``.
    """
    out: dict[str, bytes] = {}
    if kind == "Secret":
        for key, value in (body.get("data") or {}).items():
            out[key] = base64.b64decode(str(value).replace("\n", ""))
        for key, value in (body.get("stringData") or {}).items():
            out[key] = str(value).encode()
        return out
    for key, value in (body.get("data") or {}).items():
        out[key] = str(value).encode()
    for key, value in (body.get("binaryData") or {}).items():
        out[key] = base64.b64decode(str(value).replace("\n", ""))
    return out

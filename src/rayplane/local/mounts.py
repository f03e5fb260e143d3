"""A node's volumes as folders under the home, ready to be bound into its mount namespace.

Everything a node's view needs is made under ``$RAYPLANE_HOME/volumes/<ns>/<cluster>/``,
never elsewhere on the host: ``nodes/<node>/work`` is the private working directory,
``nodes/<node>/v/<volume>`` holds a configMap/secret/downwardAPI/projected volume's files
or an emptyDir, and ``claims/<claimName>`` is a persistentVolumeClaim's folder, which
outlives the node (a restarted head finds its RocksDB there) and goes with the cluster.

Files are written the kubelet's way (its AtomicWriter): each version in a fresh
``..<digest>`` folder, ``..data`` a symlink swapped to it by one rename, and each key a
symlink through ``..data``. A reader opening ``/home/ray/samples/x.py`` while the ConfigMap
changes sees the old file or the new one, never half of each.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from rayplane.api.quantity import QuantityError, parse_quantity
from rayplane.local.homepaths import make_dir, remove_tree, under_home
from rayplane.reconcile.volumes import (
    File,
    Lookup,
    Mount,
    PodInfo,
    VolumeError,
    VolumePlan,
    volume_files,
)

AREA = "volumes"
DATA = "..data"


@dataclass(frozen=True)
class Bind:
    """One mount of the node's view: a host folder or file at *target*, or a tmpfs."""

    source: str  # "" for a tmpfs
    target: str
    read_only: bool = False
    size: int | None = None  # tmpfs size in bytes


@dataclass(frozen=True)
class View:
    """A node's filesystem view: its binds and the folder it starts in."""

    binds: tuple[Bind, ...]
    working_dir: str
    owner: tuple[str, str] = ("", "")  # (namespace, name) whose folders these are


@dataclass
class Prepared:
    """What :func:`prepare` made: the binds, their ``describe`` lines, and what is missing."""

    binds: list[Bind] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    working_dir: str = "/"

    def view(self) -> View:
        return View(tuple(self.binds), self.working_dir)


def node_dir(home: Path, namespace: str, cluster: str, node: str) -> Path:
    return make_dir(home, AREA, namespace, cluster, "nodes", node)


def remove_node(home: Path, namespace: str, cluster: str, node: str) -> None:
    """A stopped node's working folder and volumes (its PVC folders stay)."""
    remove_tree(home, AREA, namespace, cluster, "nodes", node)


def remove_cluster(home: Path, namespace: str, cluster: str) -> None:
    """Everything of a deleted cluster, its claims' folders too (their owner is gone)."""
    remove_tree(home, AREA, namespace, cluster)


def _digest(files: list[File]) -> str:
    sha = hashlib.sha256()
    for item in sorted(files, key=lambda f: f.path):
        sha.update(f"{item.path}\0{item.mode}\0{len(item.data)}\0".encode())
        sha.update(item.data)
    return sha.hexdigest()[:16]


def write_atomic(folder: Path, files: list[File]) -> bool:
    """Make *folder* hold exactly *files*, switching versions by one rename; True if changed."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    version = f"..{_digest(files)}"
    data = folder / DATA
    if data.is_symlink() and os.readlink(data) == version:
        return False
    old = os.readlink(data) if data.is_symlink() else None
    staged = folder / version
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(mode=0o755)
    for item in files:
        path = staged / item.path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(item.data)
        os.chmod(path, item.mode)
    tmp = folder / "..data_tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(version)
    os.replace(tmp, data)
    tops = {item.path.split("/")[0] for item in files}
    for top in tops:
        link = folder / top
        if not link.is_symlink():
            link.symlink_to(f"{DATA}/{top}")
    for entry in folder.iterdir():
        if entry.name.startswith(".."):
            continue
        if entry.name not in tops and entry.is_symlink():
            entry.unlink()
    if old and old != version and old.startswith(".."):
        shutil.rmtree(folder / old, ignore_errors=True)
    return True


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


_TYPE_CHECKS = {
    "Directory": (stat.S_ISDIR, "a directory"),
    "DirectoryOrCreate": (stat.S_ISDIR, "a directory"),
    "File": (stat.S_ISREG, "a file"),
    "FileOrCreate": (stat.S_ISREG, "a file"),
    "Socket": (stat.S_ISSOCK, "a socket"),
    "CharDevice": (stat.S_ISCHR, "a character device"),
    "BlockDevice": (stat.S_ISBLK, "a block device"),
}


def host_path(home: Path, source: dict[str, object], where: str) -> Path:
    """The checked host path of a hostPath volume (VolumeError says why not)."""
    raw = str(source.get("path") or "")
    kind = str(source.get("type") or "")
    if not raw.startswith("/"):
        raise VolumeError(f"{where}.hostPath.path {raw!r} is not an absolute path")
    path = Path(raw).resolve()
    real_home = home.resolve()
    if _inside(path, real_home) or _inside(real_home, path):
        raise VolumeError(
            f"{where}.hostPath.path {raw!r} overlaps the rayplane home {real_home}, which "
            "holds every cluster's Secrets and state; mount another folder"
        )
    try:
        mode = path.stat().st_mode
    except OSError:
        create = " (rayplane writes nothing outside its home)" if "OrCreate" in kind else ""
        raise VolumeError(
            f"{where}.hostPath.path {raw!r} does not exist{create}; create it, e.g. mkdir -p {raw}"
        ) from None
    if kind in _TYPE_CHECKS:
        check, word = _TYPE_CHECKS[kind]
        if not check(mode):
            raise VolumeError(f"{where}.hostPath.path {raw!r} is not {word} (type: {kind})")
    return path


def _sub(base: Path, sub: str, *, create: bool) -> Path:
    """``base/sub`` with symlinks resolved, refused if it leaves *base*."""
    path = (base / sub).resolve()
    if not _inside(path, base.resolve()):
        raise VolumeError(f"subPath {sub!r} leaves its volume (a symlink points out)")
    if create:
        path.mkdir(mode=0o755, parents=True, exist_ok=True)
    elif not path.exists():
        raise VolumeError(f"subPath {sub!r} does not exist in the volume")
    return path


def _source(
    home: Path,
    namespace: str,
    cluster: str,
    node: str,
    mount: Mount,
    lookup: Lookup,
    pod: PodInfo,
    where: str,
) -> tuple[Path | None, str]:
    """(host folder to bind, what `describe` calls it); None for a tmpfs."""
    if mount.kind == "hostPath":
        path = host_path(home, dict(mount.source), where)
        return path, str(path)
    if mount.kind == "persistentVolumeClaim":
        claim = str(mount.source.get("claimName") or "")
        path = make_dir(home, AREA, namespace, cluster, "claims", claim)
        return path, f"claim {claim}: {path}"
    folder = under_home(home, AREA, namespace, cluster, "nodes", node, "v", mount.volume)
    if mount.kind == "emptyDir":
        if mount.source.get("medium") == "Memory":
            return None, "tmpfs"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return folder, str(folder)
    write_atomic(folder, volume_files(mount, lookup, pod, where))
    name = mount.source.get("name") or mount.source.get("secretName") or ""
    return folder, f"{name}: {folder}" if name else str(folder)


def prepare(
    home: Path,
    namespace: str,
    cluster: str,
    node: str,
    plan: VolumePlan,
    lookup: Lookup,
    pod: PodInfo,
    where: str,
    keep: tuple[Path, ...] = (),
) -> Prepared:
    """Make every folder of the node's view; VolumeError when a required object is absent.

    A missing ConfigMap or Secret that the volume does not mark optional holds the node
    back, as the kubelet holds a Pod in ContainerCreating; a hostPath that fails its check
    is a missing mount the node starts without, named in ``missing``. The home and the
    folders in *keep* stay visible in the view whatever is mounted over their parents.
    """
    out = Prepared(working_dir=plan.working_dir)
    work = node_dir(home, namespace, cluster, node) / "work"
    work.mkdir(mode=0o700, exist_ok=True)
    out.binds.append(Bind(str(work), plan.working_dir))
    out.shown.append(f"workingDir ({work}) -> {plan.working_dir} (rw)")
    for mount in plan.mounts:
        at = f"{where}.volumes[{mount.volume}]"
        try:
            folder, said = _source(home, namespace, cluster, node, mount, lookup, pod, at)
        except VolumeError as exc:
            if mount.kind == "hostPath":
                out.missing.append(f"{mount.path}: {exc}")
                continue
            raise
        if folder is None:
            limit = mount.source.get("sizeLimit")
            size = _quantity(limit)
            out.binds.append(Bind("", mount.path, mount.read_only, size))
        else:
            source = folder
            if mount.sub_path:
                writable = mount.kind in ("emptyDir", "persistentVolumeClaim")
                try:
                    source = _sub(folder, mount.sub_path, create=writable)
                except VolumeError as exc:
                    out.missing.append(f"{mount.path}: {at}: {exc}")
                    continue
            out.binds.append(Bind(str(source), mount.path, mount.mode == "ro"))
        out.shown.append(mount.show(said))
    _keep_visible(out, [home, *keep])
    return out


def _keep_visible(out: Prepared, paths: list[Path]) -> None:
    """Bind rayplane's own folders back over any mount that would hide them.

    Run inside the rayproject/ray image, the home is /home/ray/.rayplane, under the
    private /home/ray; a ``mountPath: /tmp`` would hide Ray's session folder. The node
    needs both (its GCS storage, its sockets), so they stay as they are on the host.
    """
    for path in paths:
        real = str(path.resolve())
        if any(b.target == real or real.startswith(b.target.rstrip("/") + "/") for b in out.binds):
            path.mkdir(parents=True, exist_ok=True)
            out.binds.append(Bind(real, real))


def _quantity(value: object) -> int | None:
    if value is None:
        return None
    with contextlib.suppress(QuantityError, ValueError, TypeError):
        return int(parse_quantity(value))  # type: ignore[arg-type]
    return None


def refresh(
    home: Path,
    namespace: str,
    cluster: str,
    node: str,
    plan: VolumePlan,
    lookup: Lookup,
    pod: PodInfo,
) -> list[str]:
    """Rewrite a running node's file volumes whose objects changed; the volumes updated.

    The kubelet syncs mounted ConfigMaps and Secrets periodically; each pass does this.
    A subPath mount is a bind of one version's file and, as on Kubernetes, is not updated.
    An object that has become unreadable leaves the last version in place.
    """
    changed = []
    for mount in plan.mounts:
        if mount.kind not in ("configMap", "secret", "projected", "downwardAPI"):
            continue
        folder = under_home(home, AREA, namespace, cluster, "nodes", node, "v", mount.volume)
        if not folder.is_dir():
            continue
        try:
            files = volume_files(mount, lookup, pod, mount.volume)
        except VolumeError:
            continue
        if write_atomic(folder, files):
            changed.append(mount.volume)
    return changed

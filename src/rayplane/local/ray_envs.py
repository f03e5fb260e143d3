"""Per-version Ray virtualenvs: run a cluster on the ``rayVersion`` it asks for.

KubeRay runs each cluster in the image its YAML names, so a sample pinned to Ray 2.59 runs
Ray 2.59. The local runtime has one installed Ray; when the user opts in
(``RAYPLANE_RAY_VERSIONS=install``), a cluster asking for another version runs its nodes
with ``$RAYPLANE_HOME/ray-envs/<version>/bin/python``, a virtualenv holding
``ray[default]==<version>`` (the dashboard and Jobs API need the extra) built on demand
from the package index and kept for the next cluster.

Why it is built this way:

- The version string comes from a user's YAML. Only ``X.Y.Z`` release numbers pass
  :func:`check_version`, so "../../x" or "2.9; rm -rf" never reaches a path or a command
  line (the pip requirement is also passed as one argv item, never through a shell).
- A build runs in a hidden sibling folder and is renamed into place only when Ray imports
  and reports the wanted version, so a killed or failed build never leaves an env that
  looks usable. A file lock per version keeps two clusters (or two processes) from
  building the same env at once: the second waits and finds it done.
- pip writes absolute paths into console scripts' shebangs; those are rewritten to the
  final path before the rename. Bytecode is compiled in the temporary folder as if it were
  the final one (compileall's -s/-p), and ``python -B`` keeps the check from leaving
  bytecode that names the temporary folder.
- Nodes run ``python -m rayplane.local.ray_cli``, so rayplane must be importable in the
  env, but its own dependencies (pydantic, httpx...) must not be: Ray pins its own. The
  env gets a ``rayplane-shim`` folder holding only a symlink to this rayplane package, put
  on ``sys.path`` by a relative ``.pth`` file; ``ray_cli`` and ``loopback`` import only
  the standard library, and :func:`ensure_shim` re-points the link at every start in
  case rayplane moved.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as version_of
from pathlib import Path

import rayplane
from rayplane.errors import RayplaneError
from rayplane.settings.local import RAY_VERSIONS_INSTALL

#: Where per-version envs live under the home.
ENVS_DIR = "ray-envs"
#: Written last, inside the temporary folder, so a ready env always has it.
READY_FILE = ".rayplane-ready"
SHIM_DIR = "rayplane-shim"
#: Measured for ray[default] 2.59.0 on CPython 3.11 (x86_64): what `apply` quotes.
APPROX_DOWNLOAD_MB = 110
APPROX_DISK_MB = 380
#: A failed build is the node's reason for this long, then tried again (the network may
#: be back), as the kubelet retries an image pull.
RETRY_AFTER_S = 60.0

_VERSION = re.compile(r"(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})")

#: The reason a node gets when its version's env cannot be built: the kubelet's word for
#: an image it cannot pull, which is what a missing Ray version is on Kubernetes.
IMAGE_PULL = "ErrImagePull"

Progress = Callable[[str], None]
Builder = Callable[[Path, str, Progress], None]


class RayEnvError(RayplaneError):
    """A Ray version's env cannot be made; the message names the field, value and fix."""


def check_version(version: str, where: str = "spec.rayVersion") -> str:
    """*version* if it is a plain Ray release number (``2.59.0``), else :class:`RayEnvError`."""
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise RayEnvError(
            f"{where}: {version!r} is not a Ray release number; give one like '2.59.0' "
            "(three numbers: pre-releases and local builds cannot be installed on demand)."
        )
    return version


def installed_ray() -> str | None:
    """The Ray installed beside rayplane (the one every node runs unless told otherwise)."""
    try:
        return version_of("ray")
    except PackageNotFoundError:  # pragma: no cover - ray is a dependency
        return None


def wanted_version(ray_version: str | None, mode: str) -> str | None:
    """The version whose env a cluster runs in, or None for the installed Ray.

    None unless the user opted in (*mode* ``install``) and *ray_version* is set and is not
    the installed Ray; a rayVersion that is not a release number is returned as is, so
    :meth:`RayEnvs.python_for` reports it as the node's reason.
    """
    if mode != RAY_VERSIONS_INSTALL or not ray_version:
        return None
    return None if ray_version == installed_ray() else ray_version


def venv_environment(python: Path, path: str | None) -> dict[str, str]:
    """What activating the env would set: its bin first on PATH, VIRTUAL_ENV.

    A job's ``entrypoint: python x.py`` runs on the head with the head's environment, so
    it finds the env's python, as it finds the image's python on Kubernetes.
    """
    bin_dir = str(python.parent)
    rest = path if path is not None else os.environ.get("PATH", "")
    return {
        "PATH": bin_dir + (os.pathsep + rest if rest else ""),
        "VIRTUAL_ENV": str(python.parent.parent),
    }


def envs_root(home: Path) -> Path:
    return home / ENVS_DIR


def env_dir(home: Path, version: str) -> Path:
    return envs_root(home) / check_version(version)


def env_python(home: Path, version: str) -> Path:
    return env_dir(home, version) / "bin" / "python"


def is_ready(home: Path, version: str) -> bool:
    return (env_dir(home, version) / READY_FILE).is_file()


def ready_python(home: Path, version: str) -> Path | None:
    """*version*'s python if its env is built, else None (also for a hostile version)."""
    try:
        return env_python(home, version) if is_ready(home, version) else None
    except RayEnvError:
        return None


@dataclass(frozen=True)
class RayEnv:
    """One ready env, as `rayplane ray-envs list` shows it."""

    version: str
    path: Path
    size_mb: float
    build_s: float


def list_envs(home: Path) -> list[RayEnv]:
    """Ready envs, oldest version first; half-built folders are not listed."""
    root = envs_root(home)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        if not _VERSION.fullmatch(path.name) or not (path / READY_FILE).is_file():
            continue
        lines = dict(
            line.split("=", 1)
            for line in (path / READY_FILE).read_text().splitlines()
            if "=" in line
        )
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
        found.append(
            RayEnv(path.name, path, size / 2**20, float(lines.get("build_seconds", "0") or 0))
        )
    return sorted(found, key=lambda env: tuple(int(p) for p in env.version.split(".")))


@contextmanager
def _locked(home: Path, version: str) -> Iterator[None]:
    """Hold the per-version build lock (a flock: released if the holder dies)."""
    root = envs_root(home)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{version}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure(
    home: Path, version: str, builder: Builder | None = None, progress: Progress | None = None
) -> Path:
    """The python of *version*'s env, building the env first if it is not there yet.

    Safe to call from several threads and processes at once: one builds, the others wait
    on the lock and then find the env ready.
    """
    check_version(version)
    say = progress or (lambda _line: None)
    final = env_dir(home, version)
    if is_ready(home, version):
        ensure_shim(final)
        return final / "bin" / "python"
    with _locked(home, version):
        if not is_ready(home, version):
            _build(home, version, builder or pip_builder, say)
    ensure_shim(final)
    return final / "bin" / "python"


def _build(home: Path, version: str, builder: Builder, say: Progress) -> None:
    root = envs_root(home)
    final = root / version
    for stale in root.glob(f".build-{version}-*"):
        shutil.rmtree(stale, ignore_errors=True)  # a build killed before it finished
    if final.exists():
        shutil.rmtree(final)  # a folder without the ready file is not an env
    tmp = root / f".build-{version}-{os.getpid()}-{threading.get_ident()}"
    started = time.monotonic()
    try:
        builder(tmp, version, say)
        _relocate(tmp, final)
        (tmp / READY_FILE).write_text(
            f"ray_version={version}\nbuild_seconds={time.monotonic() - started:.1f}\n"
        )
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _relocate(tmp: Path, final: Path) -> None:
    """Point the scripts pip wrote at the folder the env will have after the rename."""
    bin_dir = tmp / "bin"
    if not bin_dir.is_dir():
        return
    old, new = str(tmp).encode(), str(final).encode()
    for script in bin_dir.iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        data = script.read_bytes()
        if old in data[:4096] and b"\0" not in data[:4096]:
            script.write_bytes(data.replace(old, new))


def ensure_shim(env: Path) -> None:
    """Make ``import rayplane`` in *env* find this rayplane and nothing else of its install."""
    shim = env / SHIM_DIR
    shim.mkdir(exist_ok=True)
    link = shim / "rayplane"
    target = str(Path(rayplane.__file__).resolve().parent)
    if os.path.islink(link) and os.readlink(link) == target:
        return
    tmp_link = shim / f".rayplane-{os.getpid()}-{threading.get_ident()}"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(target, target_is_directory=True)
    tmp_link.replace(link)


def remove(home: Path, version: str) -> bool:
    """Delete *version*'s env (under its lock); False when there was none."""
    final = env_dir(home, version)
    with _locked(home, version):
        if not final.exists():
            return False
        shutil.rmtree(final)
    return True


def pip_builder(target: Path, version: str, say: Progress) -> None:
    """``python -m venv`` + ``pip install ray[default]==<version>``, then check the import.

    pip runs with no terminal and no prompts; each output line is handed to *say* so the
    caller can show the current step. Failures become :class:`RayEnvError` with the cause
    pip gave (no such version, no wheel for this Python, network refused).
    """
    _run([sys.executable, "-m", "venv", str(target)], say, version, "create the virtualenv")
    _write_pth(target)
    python = str(target / "bin" / "python")
    _run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--no-input",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            "--no-compile",
            "--only-binary",
            "ray",
            f"ray[default]=={version}",
        ],
        say,
        version,
        "install Ray",
    )
    # Bytecode now, naming the final folder (-s/-p), not at the first `ray start`: a head
    # whose every process compiles Ray at once misses Ray's 30 s raylet window on a busy
    # machine.
    final = target.parent / version
    say("compiling Ray's bytecode")
    _run(
        [python, "-m", "compileall", "-q", "-j", "0", "-s", str(target), "-p", str(final)]
        + [str(site) for site in (target / "lib").glob("python*/site-packages")],
        say,
        version,
        "compile Ray",
        check=False,  # a package's stray unparsable file only costs its own bytecode
    )
    check = subprocess.run(
        [python, "-B", "-c", "import ray; print(ray.__version__)"],
        capture_output=True,
        text=True,
        check=False,
        env=_clean_env(),
    )
    got = check.stdout.strip()
    if check.returncode != 0 or got != version:
        raise RayEnvError(
            f"spec.rayVersion: the env built for {version!r} does not import Ray {version} "
            f"(got {got or check.stderr.strip()[-300:]!r}); remove it with `rayplane "
            f"ray-envs remove {version}` and apply again."
        )


def _write_pth(target: Path) -> None:
    """A relative .pth (site.py joins it to site-packages), so it survives the rename."""
    for site in (target / "lib").glob("python*/site-packages"):
        (site / "rayplane-shim.pth").write_text(f"../../../{SHIM_DIR}\n")


def _clean_env() -> dict[str, str]:
    """The build's environment: no PYTHONPATH or venv of ours leaking into pip's view."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_NO_INPUT"] = "1"
    return env


def _run(argv: list[str], say: Progress, version: str, what: str, *, check: bool = True) -> None:
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=_clean_env(),
    )
    assert proc.stdout is not None
    tail: list[str] = []
    for raw in proc.stdout:
        line = raw.rstrip()
        if not line:
            continue
        tail = [*tail[-40:], line]
        condensed = condense(line)
        if condensed:
            say(condensed)
    if proc.wait() != 0 and check:
        raise RayEnvError(failure_message(version, what, "\n".join(tail)))


def condense(line: str) -> str:
    """One short progress line from pip's output, or "" for noise."""
    text = line.strip()
    for prefix in ("Collecting ", "Downloading ", "Installing collected packages", "Successfully"):
        if text.startswith(prefix):
            return text[:120]
    return ""


_NETWORK_WORDS = (
    "newconnectionerror",
    "connection refused",
    "connection broken",
    "failed to establish a new connection",
    "network is unreachable",
    "name resolution",
    "proxyerror",
    "read timed out",
)


def failure_message(version: str, what: str, output: str) -> str:
    """Why pip failed, for a user: the field, the value, the cause and the fix."""
    head = f"spec.rayVersion: {version!r}: could not {what}"
    # pip says "No matching distribution" also when it could not reach the index, so the
    # network is checked first.
    cut_off = [
        line.strip()
        for line in output.splitlines()
        if any(word in line.lower() for word in _NETWORK_WORDS)
    ]
    if cut_off:
        return (
            f"{head}: the package index could not be reached ({cut_off[-1][:300]}). Check the "
            "network or pip's index settings (PIP_INDEX_URL), or set "
            "RAYPLANE_RAY_VERSIONS=installed to run the installed Ray."
        )
    low = output.lower()
    if "(from versions: none)" in low:
        # Nothing at all for "ray": pip says the same when it could not ask the index
        # (with PIP_RETRIES=0 it prints no connection warning first).
        return (
            f"{head}: the package index offered no Ray release at all: it could not be "
            "reached, or it has no Ray for this Python and platform. Check the network or "
            "pip's index settings (PIP_INDEX_URL), or set RAYPLANE_RAY_VERSIONS=installed "
            "to run the installed Ray."
        )
    if "no matching distribution" in low or "could not find a version" in low:
        py = f"{sys.version_info.major}.{sys.version_info.minor}"
        return (
            f"{head}: the package index has no ray[default]=={version} wheel for Python "
            f"{py} on this platform. Pick a Ray release that supports Python {py} (see "
            "`pip index versions ray`), or set RAYPLANE_RAY_VERSIONS=installed to run the "
            "installed Ray."
        )
    return f"{head}: {_last(output)}. Fix the cause and apply again."


def _last(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["no output"])[-1][:300]


class RayEnvs:
    """The controller's view: a node asks for a version's python; builds run in threads.

    The reconcile loop must not stop for the minute a build takes, so :meth:`python_for`
    answers at once: the python path when the env is ready, else None and what the build
    is doing (shown as the pending node's reason), or the build's error.
    """

    def __init__(self, home: Path, builder: Builder | None = None) -> None:
        self.home = home
        self.builder = builder
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}
        self._state: dict[str, str] = {}
        self._errors: dict[str, tuple[str, float]] = {}

    def python_for(self, version: str) -> tuple[Path | None, str]:
        """(python, "") when ready; (None, why) while building or after a failure."""
        try:
            check_version(version)
        except RayEnvError as exc:
            return None, f"{IMAGE_PULL}: {exc}"
        if is_ready(self.home, version):
            ensure_shim(env_dir(self.home, version))
            return env_python(self.home, version), ""
        with self._lock:
            failed = self._errors.get(version)
            if failed is not None and time.monotonic() - failed[1] < RETRY_AFTER_S:
                return None, failed[0]
            self._errors.pop(version, None)
            thread = self._threads.get(version)
            if thread is None or not thread.is_alive():
                thread = threading.Thread(
                    target=self._build, args=(version,), name=f"ray-env-{version}", daemon=True
                )
                self._threads[version] = thread
                self._state[version] = "starting"
                thread.start()
            step = self._state.get(version, "")
        return None, f"building the Ray {version} virtualenv: {step}"

    def _build(self, version: str) -> None:
        def say(line: str) -> None:
            with self._lock:
                self._state[version] = line

        try:
            ensure(self.home, version, self.builder, say)
        except Exception as exc:  # any failure becomes the node's reason
            message = f"{IMAGE_PULL}: " + (
                str(exc)
                if isinstance(exc, RayEnvError)
                else f"spec.rayVersion: building the Ray {version} virtualenv failed: {exc}"
            )
            with self._lock:
                self._errors[version] = (message, time.monotonic())

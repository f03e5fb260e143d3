"""Local ``working_dir``/``py_modules`` of a runtime env, zipped and uploaded as Ray packages.

The job's driver runs on the head and cannot read the submitter's files, so ``ray job
submit`` uploads them first (``gcs://_ray_pkg_<hash>.zip``) and sends the URI instead.
This does the same with Ray's own packaging code, so the content hash, the zip (excludes,
.gitignore/.rayignore handling and default excludes included) and therefore the
dashboard's deduplication are exactly Ray's. Where the bytes go is the caller's: a
:class:`PackageStore` (the Jobs API client's ``/api/packages``).
"""

from __future__ import annotations

import copy
import importlib
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol


class PackageStore(Protocol):
    """Where packages go: the dashboard's ``/api/packages/<protocol>/<name>``."""

    def package_exists(self, uri: str) -> bool: ...

    def upload_package(self, uri: str, data: bytes) -> None: ...


def upload_local_paths(
    runtime_env: Mapping[str, Any], store: PackageStore, *, base_dir: str | Path | None = None
) -> dict[str, Any]:
    """A copy of *runtime_env* whose local ``working_dir``/``py_modules`` are uploaded to
    *store* and replaced by their URIs; URIs pass unchanged, a relative path is taken from
    *base_dir* (default the current directory).

    Ray's helpers raise ValueError/TypeError/RuntimeError/OSError for a bad local path;
    the caller turns them into its own error type.
    """
    env = copy.deepcopy(dict(runtime_env))
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    working_dir = env.get("working_dir")
    if isinstance(working_dir, str) and _is_local(working_dir):
        env["working_dir"] = str(base / working_dir)
    modules = env.get("py_modules")
    if isinstance(modules, list):
        env["py_modules"] = [
            str(base / m) if isinstance(m, str) and _is_local(m) else m for m in modules
        ]
    if "working_dir" not in env and "py_modules" not in env:
        return env

    working = importlib.import_module("ray._private.runtime_env.working_dir")
    py_modules = importlib.import_module("ray._private.runtime_env.py_modules")
    constants = importlib.import_module("ray._private.ray_constants")
    # Ray's own switch, read where `ray job submit` reads it, so both package alike.
    include_gitignore = os.environ.get(constants.RAY_RUNTIME_ENV_IGNORE_GITIGNORE, "0") != "1"
    working.upload_working_dir_if_needed(
        env,
        include_gitignore=include_gitignore,
        upload_fn=_upload_fn(store, include_gitignore, lambda _: False),
    )
    py_modules.upload_py_modules_if_needed(
        env,
        include_gitignore=include_gitignore,
        upload_fn=_upload_fn(store, include_gitignore, lambda p: Path(p).is_dir()),
    )
    return env


def _upload_fn(
    store: PackageStore, include_gitignore: bool, include_parent_dir: Callable[[str], bool]
) -> Callable[..., None]:
    """The ``upload_fn`` Ray's runtime-env helpers call for each local path; it must
    produce the URI they computed themselves, which is why it recomputes it the same
    way (directory hash, file hash, or archive hash)."""
    packaging = importlib.import_module("ray._private.runtime_env.packaging")

    def upload(path: str, excludes: list[str] | None = None, is_file: bool = False) -> None:
        local = Path(path)
        if is_file:
            uri = str(packaging.get_uri_for_package(local))
        elif local.is_dir():
            uri = str(
                packaging.get_uri_for_directory(
                    path, include_gitignore=include_gitignore, excludes=excludes
                )
            )
        else:
            uri = str(packaging.get_uri_for_file(path))
        if store.package_exists(uri):
            return
        if is_file:
            store.upload_package(uri, local.read_bytes())
            return
        with tempfile.TemporaryDirectory(prefix="rayplane-pkg-") as tmp:
            target = Path(tmp) / uri.partition("://")[2]
            packaging.create_package(
                path,
                target,
                include_gitignore=include_gitignore,
                include_parent_dir=include_parent_dir(path),
                excludes=excludes,
            )
            store.upload_package(uri, target.read_bytes())

    return upload


def _is_local(path: str) -> bool:
    """A relative local path (no scheme, not absolute) that needs a base directory."""
    return "://" not in path and not Path(path).is_absolute()

"""One exception root: every exception class rayplane defines derives from RayplaneError.

Read from the source rather than imported, so a module whose imports need Ray or a
cluster is checked too.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

from rayplane.errors import RayplaneError

SRC = Path(__file__).resolve().parents[1] / "src" / "rayplane"
_BUILTIN_EXCEPTIONS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _rootless_exceptions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        bases = {_base_name(base) for base in node.bases}
        if node.name == "RayplaneError":
            continue
        if bases & _BUILTIN_EXCEPTIONS and "RayplaneError" not in bases:
            found.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}")
    return found


def test_every_package_exception_derives_from_the_root() -> None:
    rootless = [hit for path in sorted(SRC.rglob("*.py")) for hit in _rootless_exceptions(path)]
    assert rootless == []


@pytest.mark.parametrize("module", ["rayplane.api.loading", "rayplane.local.store"])
def test_the_root_catches_a_package_error(module: str) -> None:
    imported = __import__(module, fromlist=["_"])
    errors = [
        value
        for value in vars(imported).values()
        if isinstance(value, type)
        and issubclass(value, Exception)
        and value.__module__ == module
        and not value.__name__.startswith("_")  # loading._Refused must stay a yaml.YAMLError
    ]
    assert errors and all(issubclass(error, RayplaneError) for error in errors)

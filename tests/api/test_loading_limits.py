"""Hostile or broken input files: `rayplane validate` exits 2 with one clear line on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rayplane.cli.main import app

MAX_BYTES = 8 * 1024 * 1024  # the loader's per-file limit


def _billion_laughs() -> str:
    """Ten levels of nine aliases each: 10^9 leaves from a few hundred bytes."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghij":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 10) + "]")
        previous = name
    return "\n".join(lines) + "\n"


def _validate(path: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["validate", "-f", str(path)])
    return result.exit_code, [line for line in result.stderr.splitlines() if line.strip()]


CASES = {
    "billion-laughs": (_billion_laughs(), "aliases expand to more than"),
    "deep-nesting": ("[" * 100_000, "nested more than"),
    "self-alias": ("a: &x [*x]\n", "refers to itself"),
    "duplicate-key": (
        "apiVersion: ray.io/v1\nkind: RayCluster\nmetadata:\n  name: a\n  name: b\nspec: {}\n",
        "line 5, column 3: duplicate key 'name' (first at line 4)",
    ),
    "nul-byte": ("kind: RayCluster\x00\n", "unacceptable character"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_yaml_exits_2_with_one_line(tmp_path: Path, case: str) -> None:
    text, expected = CASES[case]
    path = tmp_path / "input.yaml"
    path.write_text(text, encoding="utf-8")
    code, lines = _validate(path)
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: ") and expected in lines[0]


def test_binary_file_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "image.yaml"
    path.write_bytes(bytes(range(256)) * 8)
    code, lines = _validate(path)
    assert code == 2
    assert lines == [
        f"{path}: not a UTF-8 text file (byte 128 is 0x80); pass a YAML or JSON manifest"
    ]


def test_directory_with_a_huge_file_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("kind: ConfigMap\n", encoding="utf-8")
    with (tmp_path / "b.yaml").open("w", encoding="utf-8") as stream:
        stream.write("# " + "x" * (MAX_BYTES + 10) + "\n")
    code, lines = _validate(tmp_path)
    assert code == 2
    assert len(lines) == 1 and "b.yaml: is larger than 8 MiB" in lines[0]

"""Reading resources from files or stdin: multi-document YAML, JSON, and `kind: List`."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class LoadError(Exception):
    """Input that cannot be read or parsed at all (CLI exit code 2)."""


@dataclass(frozen=True)
class Document:
    """One object of an input, with where it came from for messages."""

    raw: Any
    source: str
    index: int

    @property
    def where(self) -> str:
        return f"{self.source}#{self.index + 1}"

    @property
    def kind(self) -> str:
        return str(self.raw.get("kind", "")) if isinstance(self.raw, dict) else ""

    @property
    def name(self) -> str:
        meta = self.raw.get("metadata") if isinstance(self.raw, dict) else None
        return str(meta.get("name", "")) if isinstance(meta, dict) else ""


def parse_text(text: str, source: str) -> list[Document]:
    """Split *text* into documents; JSON parses as YAML, `kind: List` is unpacked."""
    try:
        loaded = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise LoadError(f"{source}: not valid YAML or JSON{where}: {problem}") from exc
    docs: list[Document] = []
    for item in _unpack(loaded):
        docs.append(Document(item, source, len(docs)))
    return docs


def _unpack(items: Iterable[Any]) -> Iterable[Any]:
    for item in items:
        if isinstance(item, list):
            yield from _unpack(item)
        elif isinstance(item, dict) and item.get("kind") == "List" and "items" in item:
            yield from _unpack(item.get("items") or [])
        else:
            yield item


def load(sources: Iterable[str | Path]) -> list[Document]:
    """Documents of every source in order; "-" reads stdin."""
    docs: list[Document] = []
    for source in sources:
        name = str(source)
        if name == "-":
            text = sys.stdin.read()
            name = "<stdin>"
        else:
            path = Path(name)
            if path.is_dir():
                files = sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml", ".json"})
                docs.extend(load(files))
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise LoadError(f"{name}: cannot read: {exc.strerror or exc}") from exc
            except UnicodeDecodeError as exc:
                raise LoadError(f"{name}: not a UTF-8 text file") from exc
        docs.extend(parse_text(text, name))
    return docs

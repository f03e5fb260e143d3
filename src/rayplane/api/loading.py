"""Reading resources from files or stdin: multi-document YAML, JSON, and `kind: List`.

Input is untrusted: a few hundred bytes of nested YAML aliases describe billions of nodes,
and deep nesting exhausts Python's stack. The loader therefore bounds what it builds while
it composes the node graph (before anything is expanded), refuses duplicate keys instead
of letting the last one win silently, and turns every unreadable input into one LoadError
line that the CLI prints with exit code 2.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from rayplane.errors import RayplaneError

# A Kubernetes object is at most ~1.5 MiB in etcd; anything far bigger is not a manifest.
MAX_BYTES = 8 * 1024 * 1024
MAX_TOTAL_BYTES = 32 * 1024 * 1024
# Nodes that aliases may add on top of the ones written out (kubectl's YAML library refuses
# "excessive aliasing" in the same spirit); real manifests use a handful of small anchors.
MAX_ALIAS_NODES = 100_000
# Real manifests nest a few dozen levels (a pod template inside a RayService is ~25).
MAX_DEPTH = 200
_MERGE_TAG = "tag:yaml.org,2002:merge"


class LoadError(RayplaneError):
    """Input that cannot be read or parsed at all (CLI exit code 2)."""


class _Refused(yaml.YAMLError):
    """A limit of the loader, raised with the position like any YAML syntax error."""

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts depth and alias expansion while composing, and refuses
    duplicate mapping keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._alias_nodes = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:
                raise _Refused(f"alias *{event.anchor} refers to itself", event.start_mark)
            self._alias_nodes += size
            if self._alias_nodes > MAX_ALIAS_NODES:
                raise _Refused(
                    f"aliases expand to more than {MAX_ALIAS_NODES} nodes (like a "
                    "'billion laughs' document); write the values out or use fewer aliases",
                    event.start_mark,
                )
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(
                f"nested more than {MAX_DEPTH} levels deep",
                self.peek_event().start_mark,  # type: ignore[no-untyped-call]
            )
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._sizes[id(node)] = self._size(node)
        return node

    def _size(self, node: Node) -> int:
        if isinstance(node, ScalarNode):
            return 1
        if isinstance(node, SequenceNode):
            return 1 + sum(self._sizes.get(id(child), 1) for child in node.value)
        assert isinstance(node, MappingNode)
        return 1 + sum(
            self._sizes.get(id(key), 1) + self._sizes.get(id(value), 1) for key, value in node.value
        )

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            self._refuse_duplicates(node)
        return super().construct_mapping(node, deep=deep)

    def _refuse_duplicates(self, node: MappingNode) -> None:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                continue
            key = self.construct_object(key_node)
            try:
                first = seen.get(key)
            except TypeError:  # unhashable: the base constructor reports it
                continue
            if first is not None:
                raise _Refused(
                    f"duplicate key {key!r} (first at line {first.line + 1}); "
                    "YAML keys must be unique, remove one of them",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark


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


def safe_load_all(text: str) -> list[Any]:
    """Every document of *text* under the loader's bounds; raises yaml.YAMLError."""
    loader = _BoundedLoader(text)
    try:
        docs: list[Any] = []
        while loader.check_data():  # type: ignore[no-untyped-call]
            docs.append(loader.get_data())
        return docs
    finally:
        loader.dispose()


def safe_load(text: str) -> Any:
    """One document (or None) of *text* under the loader's bounds; raises yaml.YAMLError."""
    docs = safe_load_all(text)
    if len(docs) > 1:
        raise yaml.YAMLError("expected a single document but found several")
    return docs[0] if docs else None


def parse_text(text: str, source: str) -> list[Document]:
    """Split *text* into documents; JSON parses as YAML, `kind: List` is unpacked."""
    try:
        loaded = [doc for doc in safe_load_all(text) if doc is not None]
    except _Refused as exc:
        raise LoadError(f"{source}: refused{describe_yaml_error(exc)}") from exc
    except yaml.YAMLError as exc:
        raise LoadError(f"{source}: not valid YAML or JSON{describe_yaml_error(exc)}") from exc
    except (RecursionError, MemoryError, ValueError, OverflowError) as exc:
        raise LoadError(f"{source}: cannot be read as YAML: {type(exc).__name__}") from exc
    docs: list[Document] = []
    for item in _unpack(loaded):
        docs.append(Document(item, source, len(docs)))
    return docs


def describe_yaml_error(exc: yaml.YAMLError) -> str:
    """' at line L, column C: problem' on one line, for any YAML error."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{where}: {' '.join(str(problem).split())}"


def _unpack(items: Iterable[Any]) -> Iterable[Any]:
    for item in items:
        if isinstance(item, list):
            yield from _unpack(item)
        elif isinstance(item, dict) and item.get("kind") == "List" and "items" in item:
            yield from _unpack(item.get("items") or [])
        else:
            yield item


def _read_limited(stream: BinaryIO, name: str) -> bytes:
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise LoadError(
            f"{name}: is larger than {MAX_BYTES // (1024 * 1024)} MiB; a Kubernetes object is "
            "at most ~1.5 MiB, split the input or pass the right file"
        )
    return data


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(
            f"{name}: not a UTF-8 text file (byte {exc.start} is 0x{data[exc.start]:02x}); "
            "pass a YAML or JSON manifest"
        ) from exc


def _read(path: Path, name: str) -> bytes:
    try:
        with path.open("rb") as stream:
            return _read_limited(stream, name)
    except OSError as exc:
        raise LoadError(f"{name}: cannot read: {exc.strerror or exc}") from exc


def load(sources: Iterable[str | Path]) -> list[Document]:
    """Documents of every source in order; "-" reads stdin."""
    docs: list[Document] = []
    total = 0
    for name, data in _inputs(sources):
        total += len(data)
        if total > MAX_TOTAL_BYTES:
            raise LoadError(
                f"{name}: the inputs add up to more than {MAX_TOTAL_BYTES // (1024 * 1024)} MiB; "
                "pass fewer or smaller files"
            )
        docs.extend(parse_text(_decode(data, name), name))
    return docs


def _inputs(sources: Iterable[str | Path]) -> Iterable[tuple[str, bytes]]:
    for source in sources:
        name = str(source)
        if name == "-":
            stdin = getattr(sys.stdin, "buffer", None)
            if stdin is None:  # a text stream put in place of stdin (tests, embedding)
                yield "<stdin>", sys.stdin.read(MAX_BYTES + 1).encode("utf-8")
            else:
                yield "<stdin>", _read_limited(stdin, "<stdin>")
            continue
        path = Path(name)
        if path.is_dir():
            try:
                files = sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml", ".json"})
            except OSError as exc:
                raise LoadError(f"{name}: cannot list: {exc.strerror or exc}") from exc
            yield from _inputs(files)
            continue
        yield name, _read(path, name)

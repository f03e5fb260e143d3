"""Secret and ConfigMap references of a container's env, read from the local store.

The kubelet resolves `valueFrom.secretKeyRef` / `configMapKeyRef` and `envFrom` from the
objects in the Pod's namespace, and when a required one is missing it does not start the
container (the Pod stays in CreateContainerConfigError) rather than start it without the
variable. The local runtime does the same with the `kind: Secret` / `kind: ConfigMap`
documents applied to it, so a node never runs with, say, its Redis password silently unset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rayplane.api.configdata import decoded
from rayplane.api.k8s import KeyRef
from rayplane.errors import RayplaneError
from rayplane.local.store import Store

CONFIG_ERROR = "CreateContainerConfigError"


class ConfigError(RayplaneError):
    """A required Secret/ConfigMap reference that cannot be resolved; the node must wait.

    str() is the whole message, starting with ``CreateContainerConfigError:``.
    """


class ConfigSource(Protocol):
    """Where references are looked up: the decoded data of one object, or None if absent."""

    def lookup(self, kind: str, namespace: str, name: str) -> dict[str, str] | None: ...


class StoreConfigs:
    """Secrets and ConfigMaps as the controller's store holds them right now."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def lookup(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        stored = self.store.get(kind, namespace, name)
        return decoded(stored.body) if stored is not None else None


class HomeConfigs:
    """The same, for a caller without the controller's store at hand (the autoscaler env).

    The state file is opened on the first lookup only, so a container without references
    costs nothing.
    """

    def __init__(self, home: Path) -> None:
        self.home = home

    def lookup(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        store = Store(self.home / "state.db")
        try:
            return StoreConfigs(store).lookup(kind, namespace, name)
        finally:
            store.close()


@dataclass(frozen=True)
class Ref:
    """One reference: `secretKeyRef`/`configMapKeyRef` (with a key) or an envFrom source."""

    kind: str  # "Secret" | "ConfigMap"
    name: str
    key: str | None = None
    optional: bool = False

    @classmethod
    def of(cls, kind: str, ref: KeyRef) -> Ref:
        return cls(kind, ref.name or "", ref.key, bool(ref.optional))

    @property
    def word(self) -> str:
        return self.kind.lower()


def missing_object(ref: Ref, namespace: str, where: str) -> str:
    return (
        f'{CONFIG_ERROR}: {ref.word} "{ref.name}" not found in namespace "{namespace}" '
        f"({where}); apply a kind: {ref.kind} with that name, e.g. in the same file"
    )


def missing_key(ref: Ref, namespace: str, where: str) -> str:
    fields = "data or stringData" if ref.kind == "Secret" else "data"
    return (
        f'{CONFIG_ERROR}: key "{ref.key}" not found in {ref.word} "{ref.name}" in namespace '
        f'"{namespace}" ({where}); add it to the {ref.kind}\'s {fields}, or mark the '
        "reference optional: true"
    )


def resolve_key(ref: Ref, configs: ConfigSource, namespace: str, where: str) -> str | None:
    """The referenced value; None when it is absent and optional; ConfigError otherwise."""
    data = configs.lookup(ref.kind, namespace, ref.name)
    if data is None:
        if ref.optional:
            return None
        raise ConfigError(missing_object(ref, namespace, where))
    if ref.key not in data:
        if ref.optional:
            return None
        raise ConfigError(missing_key(ref, namespace, where))
    return data[ref.key]


def env_from_sources(sources: list[dict[str, Any]] | None) -> list[tuple[Ref, str]]:
    """(reference, prefix) for each `envFrom` entry, in order; later entries win."""
    out: list[tuple[Ref, str]] = []
    for source in sources or []:
        for field, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
            ref = source.get(field)
            if isinstance(ref, dict):
                name = str(ref.get("name") or "")
                out.append(
                    (Ref(kind, name, None, bool(ref.get("optional"))), source.get("prefix") or "")
                )
    return out

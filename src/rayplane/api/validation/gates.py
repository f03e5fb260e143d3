"""KubeRay feature gates that change what validation accepts."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class FeatureGates:
    """KubeRay's gates with KubeRay's defaults (beta on, alpha off)."""

    RayClusterStatusConditions: bool = True
    RayJobDeletionPolicy: bool = True
    RayMultiHostIndexing: bool = True
    RayServiceIncrementalUpgrade: bool = True
    RayCronJob: bool = False
    SidecarSubmitterRestart: bool = False
    RayClusterNetworkPolicy: bool = False
    GCSFaultToleranceEmbeddedStorage: bool = False
    RayClusterMTLS: bool = False
    RayClusterHistoryServer: bool = False
    KubernetesWAS: bool = False

    @classmethod
    def parse(cls, text: str) -> FeatureGates:
        """Parse KubeRay's `--feature-gates=A=true,B=false` syntax."""
        known = {f.name for f in fields(cls)}
        changes: dict[str, bool] = {}
        for item in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = item.partition("=")
            if name not in known:
                raise ValueError(
                    f"unknown feature gate {name!r}; known: {', '.join(sorted(known))}"
                )
            if value.lower() not in {"true", "false"}:
                raise ValueError(f"feature gate {name} needs =true or =false, not {value!r}")
            changes[name] = value.lower() == "true"
        return replace(cls(), **changes)

    def hint(self, name: str) -> str:
        return (
            f"Enable the feature gate: --feature-gates={name}=true for the operator, "
            f"RAYPLANE_FEATURE_GATES={name}=true for the local runtime."
        )

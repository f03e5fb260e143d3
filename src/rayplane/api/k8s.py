"""The parts of Kubernetes objects that a Ray control plane reads.

Only what rayplane acts on is typed (containers, resources, env, ports, restartPolicy,
serviceAccountName); everything else in a pod template is carried through untouched, so a
KubeRay user's template reaches the Pod (or is listed as "not applied locally") intact.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from rayplane.api.base import CRD_REQUIRED, Open

Quantity = int | float | str
# Go's int32 fields (replicas, ports, seconds): the CRD schema refuses what does not fit,
# and a runtime that took 2**64 replicas would loop or allocate without end.
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
# A corev1.VolumeMount is passed through, never read field by field, so it stays a mapping;
# the CRD still requires name and mountPath, as Kubernetes' own schema (and KubeRay's) does.
VolumeMount = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "properties": {"name": {"type": "string"}, "mountPath": {"type": "string"}},
            "required": ["mountPath", "name"],
            "additionalProperties": True,
        }
    ),
]


class ObjectMeta(Open):
    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    finalizers: list[str] | None = None
    owner_references: list[dict[str, Any]] | None = None


class KeyRef(Open):
    name: str | None = None
    key: str = Field(default="", json_schema_extra=CRD_REQUIRED)
    optional: bool | None = None


class FieldRef(Open):
    field_path: str = ""
    api_version: str | None = None


class EnvVarSource(Open):
    secret_key_ref: KeyRef | None = None
    config_map_key_ref: KeyRef | None = None
    field_ref: FieldRef | None = None
    resource_field_ref: dict[str, Any] | None = None
    file_key_ref: dict[str, Any] | None = None


class EnvVar(Open):
    name: str
    value: str | None = None
    value_from: EnvVarSource | None = None


class ContainerPort(Open):
    container_port: Int32
    name: str | None = None
    protocol: str | None = None
    host_port: Int32 | None = None


class ResourceRequirements(Open):
    limits: dict[str, Quantity] | None = None
    requests: dict[str, Quantity] | None = None


class Container(Open):
    name: str = ""
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[EnvVar] | None = None
    env_from: list[dict[str, Any]] | None = None
    ports: list[ContainerPort] | None = None
    resources: ResourceRequirements | None = None
    volume_mounts: list[VolumeMount] | None = None

    def env_value(self, name: str) -> str | None:
        """The literal value of env var *name*, or None when unset or set by reference."""
        for var in self.env or []:
            if var.name == name:
                return var.value
        return None

    def has_env(self, name: str) -> bool:
        return any(var.name == name for var in self.env or [])


class PodSpec(Open):
    # Kubernetes requires containers; we default to empty so that validation can report
    # a missing list together with every other error instead of stopping at it.
    containers: list[Container] = Field(default_factory=list, json_schema_extra=CRD_REQUIRED)
    init_containers: list[Container] | None = None
    restart_policy: str | None = None
    service_account_name: str | None = None
    node_selector: dict[str, str] | None = None
    tolerations: list[dict[str, Any]] | None = None
    volumes: list[dict[str, Any]] | None = None
    affinity: dict[str, Any] | None = None
    image_pull_secrets: list[dict[str, Any]] | None = None


class PodTemplateSpec(Open):
    metadata: ObjectMeta | None = None
    spec: PodSpec = Field(default_factory=PodSpec)


class ServicePort(Open):
    name: str | None = None
    port: Int32 | None = None
    target_port: int | str | None = None
    node_port: Int32 | None = None
    protocol: str | None = None


class ServiceSpec(Open):
    """A Service spec: ports and selector are typed because the builders merge into them."""

    type: str | None = None
    ports: list[ServicePort] | None = None
    selector: dict[str, str] | None = None


class ServiceTemplate(Open):
    """A whole corev1.Service, as KubeRay accepts it in headService / serveService.

    KubeRay embeds the full Service type (apiVersion, kind and status included), so a
    Service copied from `kubectl get svc -o yaml` is accepted as written; only metadata and
    spec are read, the rest is kept.
    """

    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: ServiceSpec | None = None
    status: dict[str, Any] | None = None

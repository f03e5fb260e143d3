"""The resource handles, one import away: Cluster, RayJob, RayService, Secret, ConfigMap."""

from rayplane.sdk.cluster import Cluster
from rayplane.sdk.configs import ConfigMap, Secret
from rayplane.sdk.rayjob import RayJob
from rayplane.sdk.rayservice import RayService
from rayplane.sdk.resource import Resource

__all__ = ["Cluster", "ConfigMap", "RayJob", "RayService", "Resource", "Secret"]

"""Test support for the Kubernetes runtime: an in-process fake of the Kubernetes API.

Shipped (not only under tests/) because ``bench/operator_scale.py`` and anyone writing a
test of their own against the operator use it too. Nothing in the operator imports it.
"""

from rayplane.kubernetes.testing.fake_api import FakeKubernetes, Injected, ResourceType

__all__ = ["FakeKubernetes", "Injected", "ResourceType"]

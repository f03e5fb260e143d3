"""Secret and ConfigMap documents: what the API server would refuse, and the data env reads."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from rayplane.api.configdata import check, decoded, normalized, sizes


def secret(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "redis-pw"}, **fields}


def configmap(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, **fields}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def only_error(doc: dict[str, Any]) -> Any:
    errors = check(doc).errors
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


def test_a_kuberay_sample_secret_and_configmap_are_valid() -> None:
    assert check(secret(type="Opaque", data={"password": b64("pw")})).items == []
    assert check(secret(stringData={"password": "pw"}, immutable=True)).items == []
    assert check(configmap(data={"a.conf": "x=1"}, binaryData={"blob": b64("\x00")})).items == []


def test_api_version_must_be_v1() -> None:
    finding = only_error(secret(apiVersion="ray.io/v1", stringData={"a": "b"}))
    assert finding.path == "apiVersion"
    assert finding.value == "ray.io/v1"
    assert "apiVersion: v1" in str(finding)


@pytest.mark.parametrize("name", ["Redis_PW", "-redis", "redis-", "a" * 254])
def test_name_must_be_a_dns_subdomain(name: str) -> None:
    finding = only_error(configmap(metadata={"name": name}))
    assert finding.path == "metadata.name"
    assert finding.value == name
    assert "DNS-1123 subdomain" in str(finding) and "e.g. redis-password" in str(finding)


def test_name_is_required_and_dots_are_allowed() -> None:
    assert only_error(secret(metadata={})).path == "metadata.name"
    assert check(secret(metadata={"name": "redis.pw-1"})).items == []


def test_secret_data_must_be_base64_and_the_value_is_not_echoed() -> None:
    finding = only_error(secret(data={"password": "hunter2!"}))
    assert finding.path == "data.password"
    assert "base64-encode it, or put the plain value under stringData" in str(finding)
    # The finding says what is wrong without printing the would-be password.
    assert "hunter2" not in str(finding)
    assert "value" not in finding.as_dict()


def test_secret_data_with_bad_padding_is_refused() -> None:
    finding = only_error(secret(data={"password": "cHc"}))
    assert finding.path == "data.password"
    assert "padding" in str(finding)


def test_wrapped_base64_is_accepted_as_the_api_server_does() -> None:
    wrapped = b64("a long password") + "\n"
    wrapped = wrapped[:8] + "\n" + wrapped[8:]
    doc = secret(data={"password": wrapped})
    assert check(doc).items == []
    assert decoded(doc) == {"password": "a long password"}


def test_string_data_values_must_be_strings() -> None:
    finding = only_error(secret(stringData={"port": 6379}))
    assert finding.path == "stringData.port"
    assert "quote it" in str(finding)
    assert "6379" not in str(finding)  # a Secret's value, even a number, is not shown


def test_configmap_data_values_must_be_strings_with_the_value_shown() -> None:
    finding = only_error(configmap(data={"port": 6379}))
    assert finding.path == "data.port"
    assert finding.value == 6379
    assert 'quote it: "6379"' in str(finding)
    boolean = only_error(configmap(data={"debug": True}))
    assert 'quote it: "true"' in str(boolean)
    null = only_error(configmap(data={"empty": None}))
    assert '""' in str(null)


def test_keys_must_be_config_keys() -> None:
    finding = only_error(configmap(data={"bad key": "x"}))
    assert finding.path == "data[bad key]"
    assert "Rename the key" in str(finding)


def test_a_key_in_data_and_binary_data_is_refused() -> None:
    finding = only_error(configmap(data={"k": "x"}, binaryData={"k": b64("y")}))
    assert finding.path == "binaryData.k"
    assert "only one of data and binaryData" in str(finding)


def test_unknown_fields_name_the_closest_field() -> None:
    finding = only_error(secret(stringdata={"password": "pw"}))
    assert finding.path == "stringdata"
    assert "Did you mean 'stringData'?" in str(finding)
    assert "pw" not in str(finding.as_dict())
    far = only_error(configmap(spec={"x": 1}))
    assert far.allowed is not None and "binaryData" in far.allowed


def test_a_secret_decodes_data_and_string_data_wins() -> None:
    doc = secret(data={"password": b64("old"), "user": b64("ray")}, stringData={"password": "new"})
    assert decoded(doc) == {"password": "new", "user": "ray"}


def test_configmap_env_data_is_data_only() -> None:
    # The kubelet reads only `data` for configMapKeyRef and envFrom.
    doc = configmap(data={"a": "1"}, binaryData={"b": b64("2")})
    assert decoded(doc) == {"a": "1"}
    assert sizes(doc) == {"a": 1, "b": 1}


def test_normalized_folds_string_data_into_base64_data() -> None:
    doc = secret(data={"user": b64("ray")}, stringData={"password": "pw"})
    stored = normalized(doc)
    assert "stringData" not in stored
    assert stored["type"] == "Opaque"
    assert stored["data"] == {"user": b64("ray"), "password": b64("pw")}
    assert decoded(stored) == decoded(doc)
    assert normalized(stored) == stored  # applying the stored form again changes nothing


def test_sizes_are_bytes_not_characters() -> None:
    assert sizes(secret(stringData={"pw": "é"})) == {"pw": 2}

"""The storage API models: Claid's published shapes stay valid, ours are extensions, and the
declared type decides how parameters are read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from photostage.contract import storage as contract
from photostage.contract.errors import details_from_validation
from photostage.contract.storage import (
    CredentialsOut,
    S3Parameters_Pydantic,
    StorageIn_Pydantic,
    StorageInUpdate_Pydantic,
    StorageOutDetailed_Pydantic,
)

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "claid-scene-schema.json"  # = ../shared/contract
HMAC = {"access_key": "AKIAEXAMPLE", "secret_access_key": "s3cr3t"}
# Required by Claid, optional here only because an extension offers an alternative (a key file).
RELAXED_REQUIRED = {"GCPCredentials": {"access_key", "secret_access_key"}}
CLAID_COMPONENTS = [
    "StorageIn_Pydantic",
    "StorageInUpdate_Pydantic",
    "StorageOut_Pydantic",
    "StorageOutDetailed_Pydantic",
    "S3Parameters_Pydantic",
    "S3ParametersUpdate_Pydantic",
    "GCSParameters_Pydantic",
    "GCSParametersUpdate_Pydantic",
    "WebFolderParameters_Pydantic",
    "AWSCredentials",
    "AWSCredentialsUpdate",
    "GCPCredentials",
    "GCPCredentialsUpdate",
    "CredentialsOut",
    "CloudBaseStorage",
    "CloudDetailedBaseStorage",
]


def errors_of(body: dict[str, Any], model: type[BaseModel] = StorageIn_Pydantic) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return details_from_validation(caught.value.errors())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "s3 store", "type": "s3", "parameters": {"bucket": "b", "path": "out", "credentials": HMAC}},
        {"name": "g", "type": "gcs", "parameters": {"bucket": "b", "credentials": HMAC}},
        {"name": "w", "type": "web_folder", "parameters": {"base_url": "https://cdn.example.com/in/"}},
    ],
)
def test_claid_bodies_as_published_are_valid(body: dict[str, Any]) -> None:
    assert StorageIn_Pydantic.model_validate(body).type == body["type"]


def test_extensions_are_accepted() -> None:
    s3 = StorageIn_Pydantic.model_validate(
        {
            "name": "minio",
            "type": "s3",
            "parameters": {
                "bucket": "b",
                "credentials": HMAC,
                "region": "eu-west-1",
                "endpoint_url": "http://minio.internal:9000",
            },
        }
    )
    assert isinstance(s3.parameters, S3Parameters_Pydantic)
    assert s3.parameters.endpoint_url == "http://minio.internal:9000"
    key_file = json.dumps({"type": "service_account", "client_email": "w@p.iam", "private_key": "---"})
    gcs = StorageIn_Pydantic.model_validate(
        {
            "name": "g",
            "type": "gcs",
            "parameters": {"bucket": "b", "credentials": {"service_account_json": key_file}},
        }
    )
    assert gcs.parameters.credentials.public_id() == "w@p.iam"  # type: ignore[union-attr]
    web = StorageIn_Pydantic.model_validate(
        {
            "name": "w",
            "type": "web_folder",
            "parameters": {"base_url": "http://h/", "allow_write": True},
        }
    )
    assert web.parameters.allow_write is True  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("storage_type", "parameters", "field", "fragment"),
    [
        ("s3", {"base_url": "http://h/"}, "parameters", "type web_folder"),
        ("web_folder", {"bucket": "b", "credentials": HMAC}, "parameters", "type s3"),
        ("gcs", {"bucket": "b", "credentials": HMAC, "region": "eu"}, "parameters", "type s3"),
        (
            "s3",
            {
                "bucket": "b",
                "credentials": {"service_account_json": {"client_email": "e", "private_key": "k"}},
            },
            "parameters",
            "type gcs",
        ),
        (
            "s3",
            {"bucket": "b", "credentials": {"access_key": "a"}},
            "parameters.credentials.secret_access_key",
            "required",
        ),
        ("s3", {"bucket": "", "credentials": HMAC}, "parameters.bucket", "at least 1"),
        ("s3", {"bucket": "a/b", "credentials": HMAC}, "parameters.bucket", "'/'"),
        ("s3", {"bucket": "b", "path": "../up", "credentials": HMAC}, "parameters.path", "'..'"),
        (
            "s3",
            {"bucket": "b", "credentials": HMAC, "endpoint_url": "file:///etc"},
            "parameters.endpoint_url",
            "http",
        ),
        (
            "gcs",
            {
                "bucket": "b",
                "credentials": {
                    "access_key": "a",
                    "secret_access_key": "s",
                    "service_account_json": {"client_email": "e", "private_key": "k"},
                },
            },
            "parameters.credentials",
            "not both",
        ),
        (
            "gcs",
            {"bucket": "b", "credentials": {"service_account_json": "{not json"}},
            "parameters.credentials.service_account_json",
            "JSON",
        ),
        ("web_folder", {"base_url": "ftp://h/"}, "parameters.base_url", "http"),
        ("web_folder", {"base_url": "https://user:pw@h/"}, "parameters.base_url", "user information"),
        ("web_folder", {"base_url": "https://h/", "extra": 1}, "parameters.extra", "not permitted"),
    ],
)
def test_parameters_are_read_by_the_declared_type(
    storage_type: str, parameters: dict[str, Any], field: str, fragment: str
) -> None:
    details = errors_of({"name": "x", "type": storage_type, "parameters": parameters})
    assert field in details, details
    assert any(fragment in message for message in details[field]), details


@pytest.mark.parametrize("name", ["", "n" * 51, "a/b", " padded", "tab\there"])
def test_names_must_be_addressable(name: str) -> None:
    details = errors_of({"name": name, "type": "web_folder", "parameters": {"base_url": "http://h/"}})
    assert "name" in details


def test_extra_fields_and_unknown_types_are_refused() -> None:
    assert "extra" in errors_of(
        {"name": "x", "type": "s3", "extra": 1, "parameters": {"bucket": "b", "credentials": HMAC}}
    )
    assert "type" in errors_of({"name": "x", "type": "local", "parameters": {"base_url": "http://h/"}})


def test_update_models_accept_partial_bodies() -> None:
    assert StorageInUpdate_Pydantic.model_validate({}).model_fields_set == set()
    update = StorageInUpdate_Pydantic.model_validate(
        {"parameters": {"credentials": {"secret_access_key": "n"}}}
    )
    assert update.parameters.model_dump(exclude_unset=True) == {"credentials": {"secret_access_key": "n"}}  # type: ignore[union-attr]
    typed = StorageInUpdate_Pydantic.model_validate(
        {"type": "web_folder", "parameters": {"base_url": "http://h/"}}
    )
    assert typed.type == "web_folder"
    assert "parameters" in errors_of(
        {"type": "web_folder", "parameters": {"bucket": "b"}}, StorageInUpdate_Pydantic
    )


def test_out_models_carry_no_secrets() -> None:
    for model in (contract.CloudDetailedBaseStorage, contract.CloudBaseStorage, CredentialsOut):
        assert "secret_access_key" not in json.dumps(model.model_json_schema())
        assert "service_account_json" not in json.dumps(model.model_json_schema())
    schema = json.dumps(StorageOutDetailed_Pydantic.model_json_schema())
    assert "secret" not in schema


def test_component_names_match_claids_schema() -> None:
    for name in CLAID_COMPONENTS:
        assert isinstance(getattr(contract, name), type), name
    if SCHEMA_PATH.exists():
        published = json.loads(SCHEMA_PATH.read_text())["components"]["schemas"]
        for name in CLAID_COMPONENTS:
            assert name in published, name
            ours = getattr(contract, name).model_json_schema()
            relaxed = RELAXED_REQUIRED.get(name, set())
            assert set(published[name].get("required", [])) - relaxed <= set(ours.get("required", [])), name
            assert set(published[name].get("properties", {})) <= set(ours.get("properties", {})), name

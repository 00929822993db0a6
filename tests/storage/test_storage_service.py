"""Account-owned storages on SQLite: CRUD with PATCH semantics, secrets encrypted and never
returned, cross-account refusals, and storage:// resolution."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from photostage.config import Settings, StorageSettings
from photostage.contract.errors import (
    SOURCE_FORBIDDEN,
    STORAGE_NAME_TAKEN,
    STORAGE_NOT_FOUND,
    VALIDATION,
    PhotostageError,
)
from photostage.contract.storage import StorageIn_Pydantic, StorageInUpdate_Pydantic
from photostage.db import Account, make_engine, make_sessionmaker
from photostage.schema import ensure_schema
from photostage.storage.cloud import GCSConnector, S3Connector
from photostage.storage.local import LocalConnector
from photostage.storage.models import Storage
from photostage.storage.service import StorageService
from photostage.storage.web import WebFolderConnector

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
NEW_SECRET = "second-secret-value-0123456789"
KEY_FILE_SECRET = "-----BEGIN PRIVATE KEY-----\nMIIfake\n-----END PRIVATE KEY-----\n"


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'photostage.db'}")
    ensure_schema(engine)
    maker = make_sessionmaker(engine)
    with maker() as session:
        session.add_all([Account(id=1, name="alice"), Account(id=2, name="bob")])
        session.commit()
    return maker


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, storage=StorageSettings(encryption_key="test-storage-encryption-key"))


@pytest.fixture
def service(sessions: sessionmaker[Session], settings: Settings) -> StorageService:
    return StorageService(sessions, settings)


def s3_body(name: str = "shop", **extra: Any) -> StorageIn_Pydantic:
    parameters = {
        "bucket": "shop-bucket",
        "path": "renders/",
        "credentials": {"access_key": "AKIAEXAMPLE", "secret_access_key": SECRET},
        **extra,
    }
    return StorageIn_Pydantic.model_validate({"name": name, "type": "s3", "parameters": parameters})


def web_body(name: str = "cdn", allow_write: bool = False) -> StorageIn_Pydantic:
    return StorageIn_Pydantic.model_validate(
        {
            "name": name,
            "type": "web_folder",
            "parameters": {"base_url": "https://cdn.example.com/in/", "allow_write": allow_write},
        }
    )


def patch(body: dict[str, Any]) -> StorageInUpdate_Pydantic:
    return StorageInUpdate_Pydantic.model_validate(body)


def error_of(call: Any) -> PhotostageError:
    with pytest.raises(PhotostageError) as caught:
        call()
    return caught.value


def code_of(call: Any) -> str:
    return error_of(call).code


def test_storage_types(service: StorageService) -> None:
    assert service.storage_types() == ["web_folder", "s3", "gcs"]


def test_create_list_get_delete(service: StorageService) -> None:
    created = service.create(1, s3_body())
    assert created.name == "shop" and created.type == "s3"
    assert created.parameters.model_dump() == {
        "path": "renders",
        "bucket": "shop-bucket",
        "credentials": {"access_key": "AKIAEXAMPLE"},
    }
    assert created.created_at.tzinfo is not None
    web = service.create(1, web_body())
    listed = service.list(1)
    assert [item.id for item in listed] == [created.id, web.id]
    assert "credentials" not in listed[0].parameters.model_dump()
    assert service.get(1, created.id) == created
    assert service.list(2) == []
    service.delete(1, created.id)
    assert [item.id for item in service.list(1)] == [web.id]
    assert code_of(lambda: service.get(1, created.id)) == STORAGE_NOT_FOUND.code


def test_secrets_are_never_returned_and_encrypted_at_rest(
    service: StorageService, sessions: sessionmaker[Session]
) -> None:
    created = service.create(1, s3_body())
    key_file = {"type": "service_account", "client_email": "w@p.iam", "private_key": KEY_FILE_SECRET}
    gcs = service.create(
        1,
        StorageIn_Pydantic.model_validate(
            {
                "name": "g",
                "type": "gcs",
                "parameters": {"bucket": "b", "credentials": {"service_account_json": key_file}},
            }
        ),
    )
    assert gcs.parameters.credentials.access_key == "w@p.iam"  # type: ignore[union-attr]
    returned = [
        created.model_dump_json(),
        gcs.model_dump_json(),
        service.get(1, created.id).model_dump_json(),
        json.dumps([item.model_dump(mode="json") for item in service.list(1)]),
    ]
    for text in returned:
        assert SECRET not in text and "PRIVATE KEY" not in text
    with sessions() as session:
        rows = session.scalars(select(Storage)).all()
    for row in rows:
        stored = json.dumps(row.parameters) + (row.credentials_encrypted or "")
        assert SECRET not in stored and "PRIVATE KEY" not in stored and "AKIAEXAMPLE" not in stored
        assert row.credentials_encrypted and row.credentials_encrypted.startswith("gAAAA")


def test_another_accounts_storage_is_not_found_like_a_missing_one(service: StorageService) -> None:
    """Not "forbidden": that would tell account 2 the id exists."""
    created = service.create(1, s3_body())
    assert code_of(lambda: service.get(2, created.id)) == STORAGE_NOT_FOUND.code
    assert code_of(lambda: service.update(2, created.id, patch({"name": "mine"}))) == STORAGE_NOT_FOUND.code
    assert code_of(lambda: service.delete(2, created.id)) == STORAGE_NOT_FOUND.code
    theirs, absent = error_of(lambda: service.get(2, created.id)), error_of(lambda: service.get(2, 9999))
    assert theirs.status == absent.status == 404
    assert theirs.body().error_message.replace(str(created.id), "N") == absent.body().error_message.replace("9999", "N")
    assert service.get(1, created.id).name == "shop"
    assert code_of(lambda: service.get(1, 9999)) == STORAGE_NOT_FOUND.code
    assert code_of(lambda: service.resolve(2, "shop")) == STORAGE_NOT_FOUND.code


def test_name_clash_is_409_per_account(service: StorageService) -> None:
    first = service.create(1, s3_body("shop"))
    other = service.create(1, web_body("cdn"))
    with pytest.raises(PhotostageError) as caught:
        service.create(1, web_body("shop"))
    assert caught.value.kind is STORAGE_NAME_TAKEN and caught.value.status == 409
    assert code_of(lambda: service.update(1, other.id, patch({"name": "shop"}))) == STORAGE_NAME_TAKEN.code
    assert service.create(2, web_body("shop")).name == "shop"
    assert service.update(1, first.id, patch({"name": "shop"})).name == "shop"


def test_creating_for_an_unknown_account_is_not_a_name_clash(service: StorageService) -> None:
    with pytest.raises(IntegrityError):
        service.create(42, web_body())


def test_patch_merges_fields_and_credentials(service: StorageService) -> None:
    created = service.create(1, s3_body(region="eu-west-1"))
    updated = service.update(
        1, created.id, patch({"parameters": {"credentials": {"secret_access_key": NEW_SECRET}}})
    )
    assert updated.parameters.model_dump() == created.parameters.model_dump()
    connector = service.resolve(1, "shop")
    assert isinstance(connector, S3Connector)
    assert (connector.filesystem.key, connector.filesystem.secret) == ("AKIAEXAMPLE", NEW_SECRET)
    assert (connector.bucket, connector.prefix, connector.region) == ("shop-bucket", "renders", "eu-west-1")
    renamed = service.update(1, created.id, patch({"name": "renamed", "parameters": {"path": "v2/"}}))
    assert renamed.name == "renamed" and renamed.parameters.path == "v2"  # type: ignore[union-attr]
    assert renamed.parameters.credentials.access_key == "AKIAEXAMPLE"  # type: ignore[union-attr]
    assert service.get(1, created.id, extensions=True).extensions.region == "eu-west-1"  # type: ignore[union-attr]
    cleared = service.update(1, created.id, patch({"parameters": {"region": None}}), extensions=True)
    assert cleared.extensions is not None and cleared.extensions.region is None
    assert service.update(1, created.id, patch({})) == service.get(1, created.id)


def test_patch_switches_gcs_credential_forms(service: StorageService) -> None:
    created = service.create(
        1,
        StorageIn_Pydantic.model_validate(
            {
                "name": "g",
                "type": "gcs",
                "parameters": {
                    "bucket": "b",
                    "credentials": {"access_key": "GOOG1", "secret_access_key": SECRET},
                },
            }
        ),
    )
    key_file = {"type": "service_account", "client_email": "w@p.iam", "private_key": KEY_FILE_SECRET}
    switched = service.update(
        1,
        created.id,
        patch({"type": "gcs", "parameters": {"credentials": {"service_account_json": key_file}}}),
    )
    assert switched.parameters.credentials.access_key == "w@p.iam"  # type: ignore[union-attr]


def test_type_and_parameters_must_match(service: StorageService) -> None:
    created = service.create(1, s3_body())
    with pytest.raises(PhotostageError) as caught:
        service.update(1, created.id, patch({"type": "web_folder"}))
    assert caught.value.kind is VALIDATION and caught.value.status == 422
    assert "parameters.base_url" in caught.value.details
    with pytest.raises(PhotostageError) as caught:
        service.update(1, created.id, patch({"parameters": {"base_url": "https://h/"}}))
    assert caught.value.kind is VALIDATION
    assert SECRET not in json.dumps(caught.value.details)
    moved = service.update(
        1, created.id, patch({"type": "web_folder", "parameters": {"base_url": "https://h/"}})
    )
    assert moved.type == "web_folder"
    assert moved.parameters.model_dump() == {"base_url": "https://h/", "allow_write": False}
    assert isinstance(service.resolve(1, "shop"), WebFolderConnector)


def test_resolve_prefers_the_account_storage_then_server_wide(
    service: StorageService, settings: Settings
) -> None:
    local = service.resolve(2, "local")
    assert isinstance(local, LocalConnector)
    assert local.root == settings.data_dir / "storage" / "accounts" / "2"  # account 2's namespace
    assert local.bucket == "storage"
    service.create(1, web_body("local", allow_write=True))
    shadowed = service.resolve(1, "local")
    assert isinstance(shadowed, WebFolderConnector) and shadowed.allow_write
    assert isinstance(service.resolve(2, "local"), LocalConnector)
    with pytest.raises(PhotostageError) as caught:
        service.resolve(1, "nope")
    assert caught.value.kind is STORAGE_NOT_FOUND and "nope" in caught.value.public_message


def test_resolve_builds_each_kind(service: StorageService) -> None:
    service.create(1, s3_body(endpoint_url="http://minio.internal:9000"))
    service.create(
        1,
        StorageIn_Pydantic.model_validate(
            {
                "name": "g",
                "type": "gcs",
                "parameters": {
                    "bucket": "gb",
                    "path": "p",
                    "credentials": {"access_key": "GOOG1", "secret_access_key": SECRET},
                },
            }
        ),
    )
    s3 = service.resolve(1, "shop")
    assert isinstance(s3, S3Connector) and s3.endpoint_url == "http://minio.internal:9000"
    gcs = service.resolve(1, "g")
    assert isinstance(gcs, GCSConnector) and (gcs.bucket, gcs.prefix) == ("gb", "p")


def test_remote_endpoints_pass_the_url_guard(sessions: sessionmaker[Session], settings: Settings) -> None:
    checked: list[str] = []

    def guard(url: str) -> None:
        checked.append(url)
        if "metadata.internal" in url:
            raise PhotostageError(SOURCE_FORBIDDEN)

    fetched: list[str] = []
    service = StorageService(
        sessions, settings, fetch=lambda url: fetched.append(url) or b"ok", url_guard=guard
    )
    with pytest.raises(PhotostageError) as literal:  # an IP literal never changes: refused at once
        service.create(1, s3_body(endpoint_url="http://169.254.169.254/"))
    assert literal.value.kind is VALIDATION and "parameters.endpoint_url" in literal.value.details
    service.create(1, s3_body(endpoint_url="http://metadata.internal/"))  # a name: judged when used
    service.create(1, web_body("cdn"))
    assert code_of(lambda: service.resolve(1, "shop")) == SOURCE_FORBIDDEN.code
    web = service.resolve(1, "cdn")
    assert web.read("a.png", max_bytes=10) == b"ok"
    assert checked == ["http://metadata.internal/", "https://cdn.example.com/in/"]
    assert fetched == ["https://cdn.example.com/in/a.png"]


def test_changed_encryption_key_is_a_clear_error(
    service: StorageService, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    created = service.create(1, s3_body())
    other = StorageService(
        sessions, Settings(data_dir=tmp_path, storage=StorageSettings(encryption_key="other"))
    )
    with pytest.raises(PhotostageError) as caught:
        other.get(1, created.id)
    assert "encryption_key" in caught.value.public_message


def test_encryption_key_is_generated_when_unset(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    service = StorageService(sessions, Settings(data_dir=tmp_path))
    created = service.create(1, s3_body())
    assert (tmp_path / "secrets" / "storage-key").is_file()
    again = StorageService(sessions, Settings(data_dir=tmp_path))
    assert again.get(1, created.id).parameters.credentials.access_key == "AKIAEXAMPLE"  # type: ignore[union-attr]


def test_responses_keep_to_claids_schema_and_extensions_are_opt_in(service: StorageService) -> None:
    """Claid's CloudBaseStorage allows no field but path and bucket: region and endpoint_url are
    returned only under ``extensions``, and only when asked for."""
    created = service.create(1, s3_body(region="eu-west-1", endpoint_url="http://minio.internal:9000"))
    assert set(created.parameters.model_dump()) == {"path", "bucket", "credentials"}
    assert created.extensions is None
    assert "extensions" not in created.model_dump(exclude_none=True)
    listed = service.list(1, extensions=True)[0]
    assert listed.extensions is not None
    assert (listed.extensions.region, listed.extensions.endpoint_url) == ("eu-west-1", "http://minio.internal:9000")

"""Limits on what an account can make the server store: credentials and free-text fields have
lengths with clear 422s, a service account key cannot point google-auth elsewhere, storage names
are addressable, and storage ids are never handed out twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from photostage.accounts import MAX_NAME_CHARS, KeyStore
from photostage.db import make_engine
from photostage.storage.models import Storage

KEY_FILE = {
    "type": "service_account", "project_id": "p", "private_key_id": "k1",
    "private_key": "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
    "client_email": "bot@p.iam.gserviceaccount.com", "client_id": "1",
    "token_uri": "https://oauth2.googleapis.com/token", "universe_domain": "googleapis.com",
}


def web(name: str = "cdn") -> dict:
    return {"name": name, "type": "web_folder", "parameters": {"base_url": "https://cdn.example.com/in/"}}


def s3(access_key: str = "AKIAEXAMPLE", secret: str = "s" * 40) -> dict:
    return {"name": "shop", "type": "s3", "parameters": {
        "bucket": "b", "credentials": {"access_key": access_key, "secret_access_key": secret}}}


def gcs(key_file: object) -> dict:
    credentials = {"service_account_json": key_file}
    return {"name": "gcs", "type": "gcs", "parameters": {"bucket": "b", "credentials": credentials}}


def refused(response, field: str, words: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error_code"] == "9000"
    messages = " ".join(message for path, found in body["error_details"].items() if field in path for message in found)
    assert words in messages, body["error_details"]


def test_a_megabyte_secret_is_refused_and_not_stored(client, auth, app) -> None:  # type: ignore[no-untyped-def]
    big = "x" * (1 << 20)
    refused(client.post("/v1/storage/storages", json=s3(secret=big), headers=auth),
            "secret_access_key", "at most 256 characters")
    refused(client.post("/v1/storage/storages", json=s3(access_key="A" * 129), headers=auth),
            "access_key", "at most 128 characters")
    created = client.post("/v1/storage/storages", json=s3(), headers=auth).json()["data"]
    patch = {"parameters": {"credentials": {"secret_access_key": big}}}
    refused(client.patch(f"/v1/storage/storages/{created['id']}", json=patch, headers=auth),
            "secret_access_key", "at most 256 characters")
    with app.state.services.sessions() as session:
        stored = session.scalars(text("SELECT length(credentials_encrypted) FROM storages")).all()
    assert max(stored) < 2000


@pytest.mark.parametrize(("change", "words"), [
    ({"token_uri": "http://169.254.169.254/computeMetadata/v1/token"}, "token_uri must be Google's"),
    ({"token_uri": "https://oauth2.googleapis.com.evil.example/token"}, "token_uri must be Google's"),
    ({"universe_domain": "evil.example"}, "universe_domain must be googleapis.com"),
    ({"private_key": "k" * 9000}, "longer than 8192 characters"),
    ({"pad": "p" * 17000}, "larger than 16384 bytes"),
    ({"nested": {"token_uri": "http://127.0.0.1/"}}, "must be a string"),
    ({f"f{i}": "v" for i in range(40)}, "more than 32 fields"),
])
def test_a_service_account_key_is_a_google_key_file_of_bounded_size(client, auth, change, words) -> None:  # type: ignore[no-untyped-def]
    refused(client.post("/v1/storage/storages", json=gcs({**KEY_FILE, **change}), headers=auth),
            "service_account_json", words)
    as_text = json.dumps({**KEY_FILE, **change})
    refused(client.post("/v1/storage/storages", json=gcs(as_text), headers=auth), "service_account_json", words[:12])


def test_the_real_shape_of_a_key_file_is_accepted(client, auth) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/storage/storages", json=gcs(KEY_FILE), headers=auth)
    assert response.status_code == 200, response.text
    legacy = {**KEY_FILE, "token_uri": "https://accounts.google.com/o/oauth2/token"}
    assert client.post("/v1/storage/storages", json={**gcs(legacy), "name": "old"}, headers=auth).status_code == 200


@pytest.mark.parametrize("name", [".", "..", "a/b", "..\\x", " x", "x" * 51, "\x00"])
def test_unaddressable_storage_names_are_refused(client, auth, name: str) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/v1/storage/storages", json=web(name), headers=auth).status_code == 422
    created = client.post("/v1/storage/storages", json=web("fine"), headers=auth).json()["data"]
    assert client.patch(f"/v1/storage/storages/{created['id']}", json={"name": name}, headers=auth).status_code == 422


def test_dot_names_say_why(client, auth) -> None:  # type: ignore[no-untyped-def]
    refused(client.post("/v1/storage/storages", json=web(".."), headers=auth), "name", "may not be '..'")


def test_storage_ids_are_never_reused_after_deletion(client, auth) -> None:  # type: ignore[no-untyped-def]
    seen: list[int] = []
    for round_ in range(3):
        created = client.post("/v1/storage/storages", json=web(f"cdn{round_}"), headers=auth).json()["data"]
        seen.append(created["id"])
        assert client.delete(f"/v1/storage/storages/{created['id']}", headers=auth).status_code == 200
    assert seen == sorted(set(seen)) and len(seen) == 3
    for old in seen:
        assert client.get(f"/v1/storage/storages/{old}", headers=auth).status_code == 404


def test_a_database_from_before_upgrades_to_ids_never_reused(tmp_path: Path) -> None:
    """Migration 0002 rebuilds SQLite's storages table with AUTOINCREMENT, keeping its rows."""
    from alembic import command

    from photostage.schema import _alembic_config, head_revision, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0001")
        connection.execute(text("INSERT INTO accounts (id, name, created_at) VALUES (1, 'a', '2026-01-01')"))
        connection.execute(text(
            "INSERT INTO storages (id, account_id, name, type, parameters, created_at) "
            "VALUES (5, 1, 'kept', 'web_folder', '{}', '2026-01-01')"))
    assert upgrade(engine)[1] == head_revision()
    with engine.begin() as connection:
        sql = connection.execute(text("SELECT sql FROM sqlite_master WHERE name = 'storages'")).scalar()
        assert "AUTOINCREMENT" in sql
        assert connection.execute(text("SELECT name FROM storages WHERE id = 5")).scalar() == "kept"
        connection.execute(text("DELETE FROM storages WHERE id = 5"))
        connection.execute(text(
            "INSERT INTO storages (account_id, name, type, parameters, created_at) "
            "VALUES (1, 'new', 'web_folder', '{}', '2026-01-01')"))
        assert connection.execute(text("SELECT id FROM storages WHERE name = 'new'")).scalar() == 6
    engine.dispose()
    assert Storage.__table__.kwargs["sqlite_autoincrement"] is True


def test_key_and_account_names_are_bounded(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    keys: KeyStore = app.state.services.keys
    with pytest.raises(ValueError, match=f"1 to {MAX_NAME_CHARS} characters"):
        keys.create("n" * (MAX_NAME_CHARS + 1))
    with pytest.raises(ValueError, match="control characters"):
        keys.create("bad\nname")
    from photostage.cli import app as cli

    result = CliRunner().invoke(cli, ["keys", "create", "--name", "n" * 101, "--data-dir", str(tmp_path / "cli")])
    assert result.exit_code == 2 and "1 to 100 characters" in result.output


@pytest.mark.parametrize(("scene", "field"), [
    ({"effect": "shadows", "color": "rgb(" + "1," * 5000 + ")"}, "scene.color"),
    ({"prompt": "a marble table", "color": "#" + "f" * 100}, "scene.color"),
])
def test_colour_text_is_bounded_before_it_is_parsed(client, auth, product_uri, scene, field) -> None:  # type: ignore[no-untyped-def]
    body = {"object": {"image_url": product_uri}, "scene": scene}
    refused(client.post("/v1/scene/create", json=body, headers=auth), field, "at most 64 characters")


def test_padding_text_is_bounded(client, auth, product_uri) -> None:  # type: ignore[no-untyped-def]
    body = {"object": {"image_url": product_uri, "placement_type": "padding", "padding": "1% " * 100},
            "scene": {"effect": "shadows"}}
    refused(client.post("/v1/scene/create", json=body, headers=auth), "padding", "at most 64 characters")

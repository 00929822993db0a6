"""Temporary results: signed URLs, expiry, sweeping."""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from photostage.config import Settings, TmpSettings
from photostage.contract.errors import FORBIDDEN, NOT_FOUND, PhotostageError
from photostage.storage.tmp import TmpStore, media_type_for, tmp_store_from_settings

NOW = 1_800_000_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> TmpStore:
    return TmpStore(
        tmp_path / "tmp", "signing-key-for-tests", 3600, "https://photos.example.com/", clock=clock
    )


def url_parts(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return parts.path.removeprefix("/v1/tmp/"), int(query["expires"][0]), query["signature"][0]


def test_put_writes_and_signs(store: TmpStore) -> None:
    stored = store.put(b"png bytes", "png", "req 1/../x", 2)
    assert stored.url.startswith(f"https://photos.example.com/v1/tmp/{stored.name}?expires=")
    name, expires, signature = url_parts(stored.url)
    assert (name, expires) == (stored.name, int(NOW) + 3600)
    assert stored.expires_at.timestamp() == expires
    assert stored.name.endswith("-req-1-x_2.png")
    assert len(signature) == 64
    path = store.open(name, expires, signature)
    assert path.read_bytes() == b"png bytes"
    assert path.parent == store.directory
    assert [entry.name for entry in store.directory.iterdir()] == [stored.name]


def test_names_are_unique_per_put(store: TmpStore) -> None:
    first = store.put(b"a", "png", "req", 0)
    second = store.put(b"b", "png", "req", 0)
    assert first.name != second.name


def test_bad_signature_is_403(store: TmpStore) -> None:
    name, expires, signature = url_parts(store.put(b"x", "webp", "req", 0).url)
    forged = ("0" if signature[0] != "0" else "1") + signature[1:]
    for bad in (forged, "", "zz", signature.upper(), "é" * 64):
        with pytest.raises(PhotostageError) as caught:
            store.open(name, expires, bad)
        assert caught.value.kind is FORBIDDEN
    with pytest.raises(PhotostageError) as caught:
        store.open(name, expires + 3600, signature)
    assert caught.value.kind is FORBIDDEN
    other_key = TmpStore(store.directory, "another-key", 3600, "http://x")
    with pytest.raises(PhotostageError) as caught:
        other_key.open(name, expires, signature)
    assert caught.value.kind is FORBIDDEN


def test_expired_link_is_404(store: TmpStore, clock: Clock) -> None:
    name, expires, signature = url_parts(store.put(b"x", "png", "req", 0).url)
    clock.now = expires - 1
    assert store.open(name, expires, signature).is_file()
    clock.now = expires
    with pytest.raises(PhotostageError) as caught:
        store.open(name, expires, signature)
    assert caught.value.kind is NOT_FOUND and "expired" in caught.value.public_message


@pytest.mark.parametrize(
    "name", ["../secrets/storage-key", "1800003600-0123456789abcdef-a_0.png/../x", "x.png", ""]
)
def test_unsafe_or_foreign_names_are_404(store: TmpStore, name: str) -> None:
    expires = int(NOW) + 10
    with pytest.raises(PhotostageError) as caught:
        store.open(name, expires, store.sign(name, expires))
    assert caught.value.kind is NOT_FOUND


def test_swept_file_is_404_even_with_a_valid_signature(store: TmpStore) -> None:
    stored = store.put(b"x", "png", "req", 0)
    name, expires, signature = url_parts(stored.url)
    (store.directory / name).unlink()
    with pytest.raises(PhotostageError) as caught:
        store.open(name, expires, signature)
    assert caught.value.kind is NOT_FOUND


def test_sweep_removes_expired_and_stale_temp_files(store: TmpStore, clock: Clock) -> None:
    old = store.put(b"old", "png", "old", 0)
    clock.now = NOW + 1800
    fresh = store.put(b"fresh", "png", "fresh", 0)
    stale_temp = store.directory / ".photostage-abc.part"
    stale_temp.write_bytes(b"half")
    os.utime(stale_temp, (NOW - 7200, NOW - 7200))
    live_temp = store.directory / ".photostage-def.part"
    live_temp.write_bytes(b"in progress")
    os.utime(live_temp, (NOW + 3600, NOW + 3600))
    unrelated = store.directory / "README"
    unrelated.write_text("kept")
    assert store.sweep(now=NOW + 3599) == 1
    assert store.sweep(now=NOW + 3600) == 1
    remaining = sorted(entry.name for entry in store.directory.iterdir())
    assert old.name not in remaining
    assert sorted([fresh.name, live_temp.name, "README"]) == remaining
    clock.now = NOW + 10_000
    assert store.sweep() == 2
    assert sorted(entry.name for entry in store.directory.iterdir()) == ["README"]


def test_sweep_without_a_directory_is_zero(tmp_path: Path) -> None:
    assert TmpStore(tmp_path / "absent", "k", 10, "http://h").sweep() == 0


def test_bad_extension_and_empty_key_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        TmpStore(tmp_path, "", 10, "http://h")
    with pytest.raises(ValueError):
        TmpStore(tmp_path, "k", 10, "http://h").put(b"x", "p/ng", "req", 0)


def test_media_types() -> None:
    assert media_type_for("1-0123456789abcdef-r_0.avif") == "image/avif"
    assert media_type_for("1-0123456789abcdef-r_0.jpeg") == "image/jpeg"
    assert media_type_for("x.bin") == "application/octet-stream"


def test_from_settings_uses_the_servers_url_and_a_kept_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, tmp=TmpSettings(ttl_s=60))
    store = tmp_store_from_settings(settings)
    stored = store.put(b"x", "png", "req", 0)
    assert stored.url.startswith("http://127.0.0.1:8000/v1/tmp/")
    assert store.directory == tmp_path / "tmp"
    assert stored.expires_at.timestamp() <= time.time() + 61
    again = tmp_store_from_settings(settings)
    name, expires, signature = url_parts(stored.url)
    assert again.open(name, expires, signature).read_bytes() == b"x"


def test_tmp_results_in_an_s3_bucket_from_settings(tmp_path: Path) -> None:
    """tmp.store=s3 builds its bucket store from the settings (it failed at start before: the
    filesystem was built without an address gate); the configured endpoint may be on loopback."""
    from photostage.db import make_sessionmaker
    from photostage.schema import open_database
    from photostage.services import shared_tmp_store

    from ..conftest import moto_s3  # noqa: TID252

    with moto_s3("tmp-bucket", "secret-t") as endpoint:
        settings = Settings(data_dir=tmp_path, tmp={  # type: ignore[arg-type]
            "store": "s3", "s3": {"bucket": "tmp-bucket", "endpoint_url": endpoint, "key": "test",
                                  "secret": "secret-t", "region": "us-east-1"}})
        store = shared_tmp_store(settings, make_sessionmaker(open_database(settings)))
        stored = store.put(b"in the bucket", "png", "req", 0)
        name, expires, signature = url_parts(stored.url)
        assert store.open(name, expires, signature) == b"in the bucket"

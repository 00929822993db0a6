"""storage:// URIs, path safety and output naming."""

from __future__ import annotations

import pytest

from photostage.contract.errors import STORAGE_BAD_PATH, PhotostageError
from photostage.storage.naming import output_paths
from photostage.storage.uri import join_key, parse_storage_uri, safe_path


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("storage://local/out/a.png", ("local", "out/a.png")),
        ("storage://my store/out/", ("my store", "out/")),
        ("storage://shop/", ("shop", "")),
        ("storage://shop/é 漢字/🙂.png", ("shop", "é 漢字/🙂.png")),
        ("storage://shop/a%20b.png", ("shop", "a%20b.png")),
    ],
)
def test_parse_storage_uri(uri: str, expected: tuple[str, str]) -> None:
    assert parse_storage_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket/a.png",
        "storage://",
        "storage:///a.png",
        "storage://shop",
        "storage://shop/../etc/passwd",
        "storage://shop//abs.png",
        "storage://shop/a\\b.png",
        "storage://" + "n" * 51 + "/a.png",
        "storage://sh\x00op/a.png",
    ],
)
def test_parse_storage_uri_refuses(uri: str) -> None:
    with pytest.raises(PhotostageError) as caught:
        parse_storage_uri(uri)
    assert caught.value.kind is STORAGE_BAD_PATH
    assert caught.value.status == 422


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../x", "'..'"),
        ("a/../x", "'..'"),
        ("./x", "'.'"),
        ("/abs", "relative"),
        ("a\\b", "backslash"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("a\x7fb", "control"),
        ("a\x85b", "control"),
        ("a//b", "empty segments"),
        ("a/", "empty segments"),
        ("", "empty"),
        ("/".join(["x" * 200] * 5) + "/" + "x" * 20, "1024 bytes"),
        ("/".join(["漢" * 66] * 5) + "/" + "漢" * 11, "1024 bytes"),
        ("x" * 201, "200 bytes"),
        ("a/" + "漢" * 67 + "/b.png", "200 bytes"),
    ],
)
def test_safe_path_refuses_with_a_clear_message(path: str, reason: str) -> None:
    with pytest.raises(PhotostageError) as caught:
        safe_path(path)
    assert caught.value.kind is STORAGE_BAD_PATH
    assert reason in caught.value.public_message
    assert caught.value.details["path"]


@pytest.mark.parametrize(
    "path",
    [
        "a.png", "out/a_0.png", "é/漢字 🙂.png", "/".join(["x" * 200] * 5) + "/" + "x" * 19,
        "/".join(["漢" * 66] * 5) + "/" + "漢" * 9, "x" * 200, ".hidden", "a..b",
    ],
)
def test_safe_path_accepts(path: str) -> None:
    assert safe_path(path) == path


def test_folders_only_where_allowed() -> None:
    assert safe_path("out/", allow_folder=True) == "out/"
    assert safe_path("", allow_folder=True) == ""
    with pytest.raises(PhotostageError):
        safe_path("out//", allow_folder=True)


def test_join_key() -> None:
    assert join_key("", "a.png") == "a.png"
    assert join_key("base/in", "a.png") == "base/in/a.png"
    assert join_key("/base/", "a.png") == "base/a.png"


@pytest.mark.parametrize(
    ("destination", "count", "ext", "expected"),
    [
        ("out/", 2, "png", ["out/req-1_0.png", "out/req-1_1.png"]),
        ("", 1, "webp", ["req-1_0.webp"]),
        ("out/photo.png", 1, "png", ["out/photo.png"]),
        ("out/photo.png", 3, "png", ["out/photo_0.png", "out/photo_1.png", "out/photo_2.png"]),
        ("photo.jpg", 1, "png", ["photo.png"]),
        ("photo.jpg", 2, "jpeg", ["photo_0.jpg", "photo_1.jpg"]),
        ("photo.JPEG", 1, "jpeg", ["photo.JPEG"]),
        ("photo.jpeg", 1, "jpg", ["photo.jpeg"]),
        ("photo.tif", 1, "jpg", ["photo.jpg"]),
        ("photo", 1, "avif", ["photo.avif"]),
        ("photo.v2", 2, "png", ["photo.v2_0.png", "photo.v2_1.png"]),
        ("a/.hidden", 1, "png", ["a/.hidden.png"]),
        ("shots/é 🙂.webp", 1, ".PNG", ["shots/é 🙂.png"]),
    ],
)
def test_output_paths(destination: str, count: int, ext: str, expected: list[str]) -> None:
    assert output_paths(destination, "req-1", count, ext) == expected


def test_output_paths_refuse_unsafe_destinations_and_results() -> None:
    with pytest.raises(PhotostageError):
        output_paths("../out/", "req", 1, "png")
    with pytest.raises(PhotostageError) as caught:
        output_paths("x" * 1020 + ".png", "req", 2, "png")
    assert caught.value.kind is STORAGE_BAD_PATH
    with pytest.raises(ValueError):
        output_paths("out/", "req", 0, "png")

"""A hostile-input corpus, built here, sent through the API as data and as files on a loopback
server: every specimen gets a clear answer in the contract's format (a 4xx with an image error
code, or a 200 where the input is valid) and the server keeps serving with bounded memory.

The codec unit tests (tests/imaging) cover decoder details; here the whole path is under test:
body caps, JSON depth, source reading, content sniffing, decode, storage paths, the response.
Only 127.0.0.1 is ever connected to (allow-listed); anything else fails the module.
"""

from __future__ import annotations

import io
import ipaddress
import socket
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from photostage.api.app import create_app
from photostage.config import Settings

from ..conftest import data_uri, local_namespace, make_product, png_bytes  # noqa: TID252

CONTRACT_KEYS = {"error_code", "error_type", "error_message", "error_details"}
IMAGE_REFUSALS = frozenset({"3004", "3010", "3011", "3012"})
MAX_BODY_BYTES = 4 * 1024 * 1024
RSS_GROWTH_LIMIT_MB = 300.0


# ------------------------------------------------------------------------------ network guard
@pytest.fixture(scope="module", autouse=True)
def loopback_only() -> Iterator[list[str]]:
    """Fail the module if anything connects to a non-loopback address (and refuse it)."""
    blocked: list[str] = []
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> None:
        internet = sock.family in (socket.AF_INET, socket.AF_INET6)
        if internet and not ipaddress.ip_address(address[0]).is_loopback:
            blocked.append(repr(address))
            raise ConnectionRefusedError(f"test network guard: {address!r} is not loopback")
        real_connect(sock, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        yield blocked
    assert blocked == [], "a request tried to leave the machine"


# ------------------------------------------------------------------------------ the corpus
def encoded(image: Image.Image, pillow_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, pillow_format, **options)
    return buffer.getvalue()


def heic(image: Image.Image) -> bytes:
    import pillow_heif

    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, quality=80)
    return buffer.getvalue()


def product_image() -> Image.Image:
    return Image.fromarray(make_product(60, 90), "RGBA")


def valid_files() -> dict[str, bytes]:
    rgba = product_image()
    rgb = rgba.convert("RGB")
    return {
        "png": encoded(rgba, "PNG"),
        "jpeg": encoded(rgb, "JPEG", quality=90),
        "gif": encoded(rgba.convert("P"), "GIF"),
        "bmp": encoded(rgb, "BMP"),
        "tiff": encoded(rgba, "TIFF"),
        "webp": encoded(rgba, "WEBP", lossless=True),
        "avif": encoded(rgba, "AVIF"),
        "heic": heic(rgb),
    }


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def bombs(files: dict[str, bytes]) -> dict[str, bytes]:
    """Tiny files whose headers declare about 100k×100k pixels (each format's own maximum where
    that is smaller: 65535 for gif/jpeg, 16383 for webp)."""
    side = 100_000
    tiff_tags = [(256, 4, side), (257, 4, side), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8),
                 (277, 3, 1), (278, 4, side), (279, 4, 1 << 30)]
    tiff_entries = b"".join(tiff_entry(tag, kind, value) for tag, kind, value in tiff_tags)
    tiff_ifd = struct.pack("<H", len(tiff_tags)) + tiff_entries + struct.pack("<I", 0)
    components = b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, 65535, 65535, 3) + components
    sos = b"\xff\xda" + struct.pack(">HB", 12, 3) + b"\x01\x00\x02\x11\x03\x11\x00\x3f\x00"
    vp8x = b"WEBPVP8X" + struct.pack("<I", 10) + b"\x00" * 4 + (16383 - 1).to_bytes(3, "little") * 2
    bmp_info = struct.pack("<IiiHHIIiiII", 40, side, side, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return {
        "png": b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0))
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + png_chunk(b"IEND", b""),
        "gif": b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0) + b","
        + struct.pack("<HHHHB", 0, 0, 65535, 65535, 0) + b"\x02\x02\x44\x01\x00;",
        "bmp": b"BM" + struct.pack("<IHHI", 54 + 64, 0, 0, 54) + bmp_info + b"\0" * 64,
        "jpeg": b"\xff\xd8" + sof + sos + b"\0" * 64 + b"\xff\xd9",
        "webp": b"RIFF" + struct.pack("<I", len(vp8x)) + vp8x,
        "tiff": b"II*\x00" + struct.pack("<I", 8) + tiff_ifd,
        "avif": patch_ispe(files["avif"], side),
        "heic": patch_ispe(files["heic"], side),
    }


def tiff_entry(tag: int, kind: int, value: int) -> bytes:
    """One IFD entry holding one SHORT (kind 3) or LONG (kind 4) value."""
    packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
    return struct.pack("<HHI", tag, kind, 1) + packed


def patch_ispe(data: bytes, side: int) -> bytes:
    """An AVIF/HEIF whose image spatial extent boxes claim side×side."""
    patched = bytearray(data)
    position = patched.find(b"ispe")
    while position >= 0:
        patched[position + 8 : position + 16] = struct.pack(">II", side, side)
        position = patched.find(b"ispe", position + 4)
    return bytes(patched)


def with_text_bomb(png: bytes) -> bytes:
    """A valid PNG with a zTXt chunk that inflates to 20 MB, after IHDR."""
    bomb = png_chunk(b"zTXt", b"k\0\0" + zlib.compress(b"a" * 20_000_000))
    return png[:33] + bomb + png[33:]


def corrupted(data: bytes) -> bytes:
    """Every seventh byte of the last two thirds flipped: headers intact, payload garbage."""
    damaged = bytearray(data)
    for index in range(len(damaged) // 3, len(damaged), 7):
        damaged[index] ^= 0x5A
    return bytes(damaged)


def animated_gif() -> bytes:
    """Frame 1 is the product on transparency; frame 2 is solid red over the whole canvas."""
    first = product_image().convert("P")
    second = Image.new("P", first.size, 0)
    second.putpalette([255, 0, 0] * 256)
    return encoded(first, "GIF", save_all=True, append_images=[second] * 3, duration=40, loop=0, disposal=2)


def sixteen_bit(extension: str, channels: int) -> bytes:
    rgba16 = make_product(60, 90).astype(np.uint16) * 257
    bgra16 = rgba16[..., [2, 1, 0, 3]]
    pixels = bgra16[..., :channels] if channels != 1 else rgba16[..., 1]
    ok, buffer = cv2.imencode(extension, np.ascontiguousarray(pixels))
    assert ok
    return buffer.tobytes()


@dataclass(frozen=True)
class Specimen:
    """One hostile (or merely unusual) file and what the API must answer for it: 200, or a 400
    with one of ``codes``; ``either`` accepts both (lossy decoders may shrug off damage)."""

    name: str
    data: bytes
    codes: frozenset[str] = frozenset()
    either: bool = False

    @property
    def must_succeed(self) -> bool:
        return not self.codes


def corpus() -> list[Specimen]:
    files = valid_files()
    specimens = [Specimen(f"valid-{name}", data) for name, data in files.items()]
    for name, data in files.items():
        specimens += [
            Specimen(f"truncated-half-{name}", data[: len(data) // 2], frozenset({"3011"})),
            Specimen(f"truncated-16-{name}", data[:16], frozenset({"3010", "3011"})),
            Specimen(f"corrupt-{name}", corrupted(data), frozenset({"3011"}), either=True),
        ]
    specimens += [Specimen(f"bomb-{name}", data, frozenset({"3012"})) for name, data in bombs(files).items()]
    specimens += [
        Specimen("empty", b"", frozenset({"3004", "3010"})),
        Specimen("gif-javascript-polyglot", b"GIF89a/*" + files["gif"][8:] + b"*/=1;alert(1);"),
        Specimen("png-zip-polyglot", files["png"] + b"PK\x03\x04" + b"\0" * 26 + b"PK\x05\x06" + b"\0" * 18),
        Specimen("zip-png-polyglot", b"PK\x03\x04" + files["png"], frozenset({"3010"})),
        Specimen("pdf-jpeg-polyglot", b"%PDF-1.7\n" + files["jpeg"], frozenset({"3010"})),
        Specimen("svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><rect/></svg>',
                 frozenset({"3010"})),
        Specimen("html", b"<!doctype html><img src=x onerror=alert(1)>", frozenset({"3010"})),
        Specimen("svg-behind-png-magic", b"\x89PNG\r\n\x1a\n<svg xmlns='http://www.w3.org/2000/svg'/>",
                 frozenset({"3011"})),
        Specimen("png-ztxt-bomb", with_text_bomb(files["png"]), frozenset({"3011"})),
        Specimen("animated-gif", animated_gif()),
        Specimen("cmyk-jpeg", encoded(Image.new("CMYK", (48, 48), (0, 255, 255, 0)), "JPEG")),
        Specimen("cmyk-tiff", encoded(Image.new("CMYK", (48, 48), (255, 0, 255, 0)), "TIFF")),
        Specimen("16bit-rgba-png", sixteen_bit(".png", 4)),
        Specimen("16bit-rgb-tiff", sixteen_bit(".tiff", 3)),
        Specimen("16bit-grey-png", sixteen_bit(".png", 1)),
    ]
    return specimens


CORPUS = corpus()


# ------------------------------------------------------------------------------ loopback file server
class FileServer(ThreadingHTTPServer):
    files: dict[str, bytes]


class FileHandler(BaseHTTPRequestHandler):
    """``/f/<name>?type=<content type>`` serves a corpus file with whatever type it is told;
    ``&chunked=1`` sends it chunked, without a Content-Length."""

    server: FileServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base class signature
        """Keep test output quiet."""

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        data = self.server.files.get(parts.path.removeprefix("/f/"))
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", query.get("type", ["application/octet-stream"])[0])
        if query.get("chunked"):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(data), 4096):
                piece = data[start : start + 4096]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def file_server() -> Iterator[tuple[str, dict[str, bytes]]]:
    server = FileServer(("127.0.0.1", 0), FileHandler)
    server.files = {specimen.name: specimen.data for specimen in CORPUS}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.files
    server.shutdown()
    server.server_close()


# ------------------------------------------------------------------------------ the app
def rss_mb() -> float:
    """Resident set size of this process now (psutil is not a dependency: /proc, else the peak)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Service:
    client: TestClient
    headers: dict[str, str]
    settings: Settings
    rss_before_mb: float


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("inputs") / "data",
        rate_limit={"enabled": False},
        sources={"allow_hosts": ["127.0.0.1"]},
        limits={"workers": 2},
        server={"max_body_bytes": MAX_BODY_BYTES},
    )
    app = create_app(settings)
    secret, _ = app.state.services.keys.create("hostile")
    headers = {"Authorization": f"Bearer {secret}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        for data in valid_files().values():  # load every decoder and cut-out path before measuring
            warm = scene(client, headers, data_uri(data))
            assert warm.status_code == 200, warm.text
        yield Service(client, headers, settings, rss_mb())


def scene(client: TestClient, headers: dict[str, str], image_url: str, output: dict[str, Any] | None = None,
          scene_fields: dict[str, Any] | None = None) -> Any:
    body = {
        # These specimens test decoders and the no-5xx rule; many are plain colour squares or noise
        # with no backdrop, whose cut-out the quality gate rightly refuses (3021, tested in
        # tests/api/test_api_cutout_gate.py): keep whatever cut-out comes out.
        "object": {"image_url": image_url, "min_cutout_confidence": 0},
        "scene": scene_fields or {"effect": "shadows"},
        "output": output or {"number_of_images": 1, "format": "jpeg"},
    }
    return client.post("/v1/scene/create", json=body, headers=headers)


def assert_contract_error(response: Any, status: int, codes: frozenset[str] | set[str]) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == CONTRACT_KEYS, body
    assert body["error_code"] in codes, body
    assert response.headers["x-request-id"]
    return body


def assert_answer(response: Any, specimen: Specimen) -> None:
    if specimen.either and response.status_code == 200:
        return
    if specimen.must_succeed:
        assert response.status_code == 200, f"{specimen.name}: {response.text}"
        assert response.json()["data"]["output"][0]["format"] == "JPEG"
        return
    body = assert_contract_error(response, 400, specimen.codes)
    assert body["error_type"] == "image" and "object.image_url" in body["error_details"], body


# ------------------------------------------------------------------------------ images as data
@pytest.mark.parametrize("specimen", CORPUS, ids=lambda specimen: specimen.name)
def test_specimen_as_data_uri(service: Service, specimen: Specimen) -> None:
    uri = data_uri(specimen.data) if specimen.data else "data:image/png;base64,"
    assert_answer(scene(service.client, service.headers, uri), specimen)


@pytest.mark.parametrize("specimen", CORPUS, ids=lambda specimen: specimen.name)
def test_specimen_over_http(
    service: Service, file_server: tuple[str, dict[str, bytes]], specimen: Specimen
) -> None:
    base, _ = file_server
    response = scene(service.client, service.headers, f"{base}/f/{quote(specimen.name)}?type=image/png")
    if specimen.name == "empty":  # an empty download is not a data: URI: no bytes is no image
        assert_contract_error(response, 400, {"3010"})
        return
    assert_answer(response, specimen)


@pytest.mark.parametrize(
    ("name", "content_type", "chunked", "expected_format"),
    [
        ("valid-jpeg", "image/png", False, "JPEG"),
        ("valid-png", "text/html; charset=utf-8", False, "PNG"),
        ("valid-webp", "application/octet-stream", True, "WEBP"),
        ("valid-heic", "image/jpeg", True, "HEIF"),
        ("svg", "image/png", False, None),
        ("html", "image/jpeg", True, None),
    ],
)
def test_content_sniffing_decides_not_the_server(
    service: Service, file_server: tuple[str, dict[str, bytes]], name: str, content_type: str, chunked: bool,
    expected_format: str | None,
) -> None:
    base, _ = file_server
    url = f"{base}/f/{name}?type={quote(content_type)}" + ("&chunked=1" if chunked else "")
    response = scene(service.client, service.headers, url)
    if expected_format is None:
        assert_contract_error(response, 400, {"3010"})
    else:
        assert response.status_code == 200, response.text
        assert response.json()["data"]["input"]["format"] == expected_format


def test_animated_gif_uses_the_first_frame(service: Service) -> None:
    response = scene(service.client, service.headers, data_uri(animated_gif(), "image/gif"),
                     output={"number_of_images": 1, "format": "png"})
    assert response.status_code == 200, response.text
    url = response.json()["data"]["output"][0]["tmp_url"].split("/v1/", 1)[1]
    image = np.asarray(Image.open(io.BytesIO(service.client.get("/v1/" + url).content)).convert("RGB"))
    middle = image[image.shape[0] // 2, image.shape[1] // 2].astype(int)
    assert middle[2] > 120 and middle[0] < 120, middle  # the blue bottle, not the red second frame


# ------------------------------------------------------------------------------ bodies and JSON
def test_body_over_the_cap_is_refused_with_content_length(service: Service) -> None:
    body = b'{"object": {"image_url": "data:,' + b"A" * (MAX_BODY_BYTES + 1) + b'"}}'
    response = service.client.post("/v1/scene/create", content=body,
                                   headers={**service.headers, "content-type": "application/json"})
    assert_contract_error(response, 400, {"2013"})


def test_body_over_the_cap_is_refused_when_chunked(service: Service) -> None:
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        yield b'{"object": {"image_url": "data:,'
        for _ in range(64):  # 16 MiB offered in all: the server must stop reading past 4 MiB
            sent.append(1)
            yield b"A" * (256 * 1024)
        yield b'"}}'

    response = service.client.post("/v1/scene/create", content=chunks(),
                                   headers={**service.headers, "content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_contract_error(response, 400, {"2013"})


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "APPLICATION/JSON", "application/json; charset=UTF-8", "application/vnd.api+json"],
)
def test_deep_json_is_refused_whatever_the_spelling(service: Service, content_type: str) -> None:
    response = service.client.post("/v1/scene/create", content=b'{"a":' * 5000 + b"1" + b"}" * 5000,
                                   headers={**service.headers, "content-type": content_type})
    assert_contract_error(response, 422, {"9000"})


@pytest.mark.parametrize(
    "raw", [b"{bad", b"\xee", b'{"object": 1', b"", b"null", b"[]", b'"text"'],
    ids=["broken", "not-utf8", "unterminated", "empty", "null", "array", "string"],
)
def test_bodies_that_are_not_a_json_object_are_validation_errors(service: Service, raw: bytes) -> None:
    """Whatever the bytes, the answer is the contract's 422 with the reason filed under ``body``."""
    response = service.client.post("/v1/scene/create", content=raw,
                                   headers={**service.headers, "content-type": "application/json"})
    body = assert_contract_error(response, 422, {"9000"})
    assert list(body["error_details"]) == ["body"], body


def test_brackets_inside_strings_do_not_count_as_depth(service: Service) -> None:
    response = scene(service.client, service.headers, data_uri(png_bytes(make_product(60, 90))),
                     scene_fields={"prompt": "[[[[{{{{" * 200})
    assert response.status_code == 200, response.text


def test_huge_json_under_the_cap_is_answered(service: Service) -> None:
    """3.5 MB of JSON that is not a request: validated and refused, not choked on."""
    filler = {f"k{index}": ["x" * 64] * 4 for index in range(12_000)}
    response = service.client.post("/v1/scene/create", json={"object": filler}, headers=service.headers)
    assert_contract_error(response, 422, {"9000"})


# ------------------------------------------------------------------------------ strings
def test_unicode_storage_paths_in_and_out(service: Service) -> None:
    root = local_namespace(service.settings)  # the module's one key: the first account
    (root / "ü").mkdir(parents=True, exist_ok=True)
    (root / "ü" / "ñ.png").write_bytes(png_bytes(make_product(60, 90)))
    destination = "storage://local/ü/ñ-out/é.png"
    response = scene(service.client, service.headers, "storage://local/ü/ñ.png",
                     output={"number_of_images": 1, "format": "png", "destination": destination})
    assert response.status_code == 200, response.text
    output = response.json()["data"]["output"][0]
    assert output["object_key"] == "ü/ñ-out/é.png" and output["claid_storage_uri"] == destination
    assert Image.open(root / "ü" / "ñ-out" / "é.png").size == (output["width"], output["height"])


@pytest.mark.parametrize(
    ("field", "value", "status", "codes"),
    [
        ("image_url", "data:image/png;base64,iVBORw0KGgo=\u0000", 400, {"3004"}),
        ("image_url", "http://127.0.0.1\u0000.example/x.png", 400, {"3004"}),
        ("image_url", "storage://local/a\u0000b.png", 422, {"5002"}),
        ("destination", "storage://local/a\u0000b.png", 422, {"5002"}),
        ("destination", "storage://local/a\nb.png", 422, {"5002"}),
        ("destination", "storage://local/\ud800.png", 422, {"5002"}),
        ("image_url", "storage://local/\udfff.png", 422, {"5002"}),
        ("color", "#fff\u0000", 422, {"9000"}),
    ],
)
def test_control_characters_and_lone_surrogates_are_refused(
    service: Service, field: str, value: str, status: int, codes: set[str]
) -> None:
    body: dict[str, Any] = {
        "object": {"image_url": data_uri(png_bytes(make_product(60, 90)))},
        "scene": {"effect": "shadows"},
        "output": {"number_of_images": 1, "format": "jpeg"},
    }
    target = {"image_url": body["object"], "destination": body["output"], "color": body["scene"]}[field]
    target[field] = value
    raw = json_with_escapes(body)
    response = service.client.post("/v1/scene/create", content=raw,
                                   headers={**service.headers, "content-type": "application/json"})
    assert_contract_error(response, status, codes)


def json_with_escapes(body: dict[str, Any]) -> bytes:
    """JSON with non-ASCII escaped, so lone surrogates travel as ``\\udXXX`` like a client sends them."""
    import json

    return json.dumps(body, ensure_ascii=True).encode("ascii")


def test_nul_in_a_prompt_is_only_text(service: Service) -> None:
    response = scene(service.client, service.headers, data_uri(png_bytes(make_product(60, 90))),
                     scene_fields={"prompt": "a wooden\u0000 table"})
    assert response.status_code == 200, response.text


def test_hostile_request_ids_are_replaced(service: Service) -> None:
    for offered in (b"../../etc/passwd", b"x" * 500, "ok\u00e9-utf8".encode(), b"short", b"a\tb-1234567"):
        response = service.client.get("/healthz", headers={"x-request-id": offered})
        assert response.status_code == 200
        replaced = response.headers["x-request-id"]
        assert replaced.encode() != offered and len(replaced) == 32


def test_over_long_path_segment_is_a_client_error(service: Service) -> None:
    destination = f"storage://local/{'a' * 300}.jpeg"
    response = scene(service.client, service.headers, data_uri(png_bytes(make_product(60, 90))),
                     output={"number_of_images": 1, "format": "jpeg", "destination": destination})
    assert 400 <= response.status_code < 500, response.text


# ------------------------------------------------------------------------------ after all of it
def test_server_still_serves_with_bounded_memory(service: Service) -> None:
    """Runs last in this module: the corpus left the service healthy and its memory bounded."""
    for _ in range(3):
        assert service.client.get("/healthz").status_code == 200
        response = scene(service.client, service.headers, data_uri(png_bytes(make_product(60, 90))))
        assert response.status_code == 200, response.text
    growth = rss_mb() - service.rss_before_mb
    print(f"\nRSS growth over the hostile corpus: {growth:.1f} MB (from {service.rss_before_mb:.0f} MB)")
    assert growth < RSS_GROWTH_LIMIT_MB

"""Tests of imaging.codecs: every accepted input, hostile inputs, and every output option.

All fixtures are synthesised here with Pillow / pillow_heif / OpenCV at tiny sizes.
"""

from __future__ import annotations

import io
import resource
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile

from photostage.imaging.codecs import (
    CorruptImageError,
    DecodedImage,
    EncodedImage,
    EncodeOptions,
    ImageError,
    TooManyPixelsError,
    UnsupportedImageError,
    decode,
    encode,
    flatten_over_white,
    sniff_format,
)
from photostage.imaging.color import srgb_profile_bytes

BUDGET = 1_000_000
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)

# --------------------------------------------------------------------------------------------
# fixture helpers


def _save(image: Image.Image, pillow_format: str, **settings: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, pillow_format, **settings)
    return buffer.getvalue()


def _heic(image: Image.Image, exif: bytes | None = None) -> bytes:
    import pillow_heif

    buffer = io.BytesIO()
    heif = pillow_heif.from_pillow(image)
    if exif is None:
        heif.save(buffer, quality=90)
    else:
        heif.save(buffer, quality=90, exif=exif)
    return buffer.getvalue()


def _noise_rgba(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """Random RGBA with opaque, fully transparent and half-transparent regions."""
    rgba = np.random.default_rng(seed).integers(0, 256, (height, width, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[:8, :8, 3] = 0
    rgba[-8:, -8:, 3] = 128
    return rgba


def _smooth_rgb(height: int = 96, width: int = 128) -> np.ndarray:
    """A gradient with a little noise: compresses like a photo, so lossy codecs behave normally."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([x / width * 255, y / height * 255, (x + y) / (width + height) * 255], axis=-1)
    rgb += np.random.default_rng(1).normal(0, 3, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _opaque(rgb: np.ndarray) -> np.ndarray:
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def _quadrants(width: int = 64, height: int = 32) -> Image.Image:
    """Top-left red, top-right green, bottom-left blue, bottom-right white."""
    image = Image.new("RGB", (width, height), RED)
    image.paste(GREEN, (width // 2, 0, width, height // 2))
    image.paste(BLUE, (0, height // 2, width // 2, height))
    image.paste(WHITE, (width // 2, height // 2, width, height))
    return image


def _corner_colors(decoded: DecodedImage) -> list[tuple[int, ...]]:
    """Colour at the centre of each quadrant: top-left, top-right, bottom-left, bottom-right."""
    h, w = decoded.height, decoded.width
    points = [(h // 4, w // 4), (h // 4, 3 * w // 4), (3 * h // 4, w // 4), (3 * h // 4, 3 * w // 4)]
    return [tuple(int(v) for v in decoded.rgba[y, x, :3]) for y, x in points]


def _close(color: tuple[int, ...], expected: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(color, expected, strict=True))


def _jpeg_frame_markers(data: bytes) -> list[int]:
    """The SOFn marker codes of a JPEG, walking segments up to the first scan."""
    markers, position = [], 2
    while position + 4 <= len(data):
        assert data[position] == 0xFF
        marker = data[position + 1]
        length = struct.unpack(">H", data[position + 2 : position + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            markers.append(marker)
        if marker == 0xDA:
            break
        position += 2 + length
    return markers


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _swapped_primaries_profile() -> bytes:
    """lcms' sRGB profile with its red and blue colorants swapped: a valid, clearly non-sRGB RGB profile."""
    profile = bytearray(srgb_profile_bytes())
    count = struct.unpack(">I", profile[128:132])[0]
    entries = {}
    for index in range(count):
        start = 132 + 12 * index
        entries[bytes(profile[start : start + 4])] = start
    red, blue = entries[b"rXYZ"], entries[b"bXYZ"]
    profile[red + 4 : red + 12], profile[blue + 4 : blue + 12] = (
        profile[blue + 4 : blue + 12],
        profile[red + 4 : red + 12],
    )
    return bytes(profile)


# Minimal headers that claim huge sizes and carry (almost) no pixel data.


def _png_bomb(side: int = 100_000) -> bytes:
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _gif_bomb(side: int = 65_535) -> bytes:
    screen = struct.pack("<HHBBB", side, side, 0, 0, 0)
    descriptor = b"," + struct.pack("<HHHHB", 0, 0, side, side, 0)
    return b"GIF89a" + screen + descriptor + b"\x02\x02\x44\x01\x00;"


def _bmp_bomb(side: int = 50_000) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, side, side, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54 + 64, 0, 0, 54) + info + b"\x00" * 64


def _jpeg_bomb(side: int = 65_000) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, side, side, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    sos = b"\xff\xda" + struct.pack(">HB", 12, 3) + b"\x01\x00\x02\x11\x03\x11\x00\x3f\x00"
    return b"\xff\xd8" + sof + sos + b"\x00" * 64 + b"\xff\xd9"


def _webp_bomb(side: int = 16_383) -> bytes:
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (side - 1).to_bytes(3, "little") * 2
    body = b"WEBP" + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _tiff_bomb(side: int = 60_000) -> bytes:
    tags = [  # (tag, type, count, value): grey, 8 bit, one strip
        (256, 4, 1, side),
        (257, 4, 1, side),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, 8),
        (277, 3, 1, 1),
        (278, 4, 1, side),
        (279, 4, 1, side * side),
    ]
    ifd = struct.pack("<H", len(tags))
    for tag, kind, count, value in tags:
        packed = struct.pack("<HI", value, 0)[:4] if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd


def _avif_bomb(side: int = 60_000) -> bytes:
    """A real tiny AVIF whose 'ispe' box is patched to claim side x side.

    Past 16384x16384 libavif itself refuses to parse it; below, our header check refuses it.
    """
    data = bytearray(_save(Image.new("RGB", (16, 16), RED), "AVIF"))
    position = data.find(b"ispe")
    data[position + 8 : position + 16] = struct.pack(">II", side, side)
    return bytes(data)


# --------------------------------------------------------------------------------------------
# sniffing and every accepted input format


def _all_format_inputs() -> dict[str, bytes]:
    rgba = Image.fromarray(_noise_rgba(), "RGBA")
    rgb = rgba.convert("RGB")
    return {
        "PNG": _save(rgba, "PNG"),
        "JPEG": _save(rgb, "JPEG", quality=90),
        "WEBP": _save(rgba, "WEBP", lossless=True, exact=True),
        "AVIF": _save(rgba, "AVIF"),
        "HEIF": _heic(rgb),
        "TIFF": _save(rgba, "TIFF"),
        "BMP": _save(rgb, "BMP"),
        "GIF": _save(rgb.convert("P"), "GIF"),
    }


@pytest.fixture(scope="module")
def format_inputs() -> dict[str, bytes]:
    return _all_format_inputs()


EXPECTED_META = {
    "PNG": ("png", "image/png"),
    "JPEG": ("jpeg", "image/jpeg"),
    "WEBP": ("webp", "image/webp"),
    "AVIF": ("avif", "image/avif"),
    "HEIF": ("heic", "image/heic"),
    "TIFF": ("tiff", "image/tiff"),
    "BMP": ("bmp", "image/bmp"),
    "GIF": ("gif", "image/gif"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_META))
def test_each_input_format_decodes(format_inputs: dict[str, bytes], name: str) -> None:
    data = format_inputs[name]
    assert sniff_format(data) == name
    decoded = decode(data, BUDGET)
    assert decoded.format == name
    assert (decoded.ext, decoded.mime) == EXPECTED_META[name]
    assert decoded.rgba.shape == (48, 64, 4) and decoded.rgba.dtype == np.uint8
    assert (decoded.width, decoded.height) == (64, 48)
    assert decoded.mps == 0.003072
    assert not decoded.rgba.flags.writeable
    expect_alpha = name in ("PNG", "WEBP", "AVIF", "TIFF")
    assert decoded.has_alpha is expect_alpha
    if name in ("PNG", "WEBP", "TIFF", "BMP"):  # lossless inputs: exact pixels
        source = _noise_rgba()
        compare = source if expect_alpha else _opaque(source[..., :3])
        assert np.array_equal(decoded.rgba, compare)


def test_lossless_input_pixels_exact_for_gif() -> None:
    palette_image = Image.fromarray(_noise_rgba()[..., :3], "RGB").quantize(64)
    decoded = decode(_save(palette_image, "GIF"), BUDGET)
    assert np.array_equal(decoded.rgba[..., :3], np.asarray(palette_image.convert("RGB")))


def test_heif_opener_is_registered_once(format_inputs: dict[str, bytes]) -> None:
    decode(format_inputs["HEIF"], BUDGET)
    decode(format_inputs["HEIF"], BUDGET)
    assert Image.ID.count("HEIF") == 1


def test_pillow_globals_untouched(format_inputs: dict[str, bytes]) -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    for data in format_inputs.values():
        decode(data, BUDGET)
    with pytest.raises(TooManyPixelsError):
        decode(_png_bomb(), BUDGET)
    assert before == (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)


def test_animated_gif_gives_first_frame() -> None:
    frames = [Image.new("RGB", (20, 10), color) for color in (RED, GREEN, BLUE)]
    data = _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    decoded = decode(data, BUDGET)
    assert (decoded.width, decoded.height) == (20, 10)
    assert np.all(decoded.rgba[..., :3] == RED)


def test_animated_webp_gives_first_frame() -> None:
    frames = [Image.new("RGB", (20, 10), color) for color in (GREEN, RED)]
    data = _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True, duration=50)
    assert np.all(decode(data, BUDGET).rgba[..., :3] == GREEN)


# --------------------------------------------------------------------------------------------
# pixel modes


def test_palette_with_transparency_has_alpha() -> None:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.paste(1, (0, 0, 4, 8))
    decoded = decode(_save(image, "PNG", transparency=1), BUDGET)
    assert decoded.has_alpha
    assert np.all(decoded.rgba[:, :4, 3] == 0)
    assert np.all(decoded.rgba[:, 4:] == (255, 0, 0, 255))


def test_palette_without_transparency_is_opaque() -> None:
    decoded = decode(_save(Image.new("P", (8, 8), 0), "PNG"), BUDGET)
    assert not decoded.has_alpha and np.all(decoded.rgba[..., 3] == 255)


def test_alpha_channel_all_opaque_is_not_has_alpha() -> None:
    decoded = decode(_save(Image.new("RGBA", (8, 8), (1, 2, 3, 255)), "PNG"), BUDGET)
    assert not decoded.has_alpha


def test_gray_with_alpha_la() -> None:
    image = Image.merge("LA", [Image.new("L", (8, 8), 100), Image.linear_gradient("L").resize((8, 8))])
    decoded = decode(_save(image, "PNG"), BUDGET)
    assert decoded.has_alpha
    assert np.all(decoded.rgba[..., :3] == 100)
    assert np.array_equal(decoded.rgba[..., 3], np.asarray(image.getchannel("A")))


def test_gray_l_and_bilevel() -> None:
    gray = decode(_save(Image.new("L", (8, 8), 77), "PNG"), BUDGET)
    assert np.all(gray.rgba == (77, 77, 77, 255))
    bilevel = Image.new("1", (8, 8), 0)
    bilevel.paste(1, (0, 0, 4, 8))
    decoded = decode(_save(bilevel, "PNG"), BUDGET)
    assert np.all(decoded.rgba[:, :4, :3] == 255) and np.all(decoded.rgba[:, 4:, :3] == 0)


def test_gray_with_trns_has_alpha() -> None:
    image = Image.new("L", (8, 8), 10)
    image.paste(200, (0, 0, 4, 8))
    decoded = decode(_save(image, "PNG", transparency=10), BUDGET)
    assert decoded.has_alpha and np.all(decoded.rgba[:, 4:, 3] == 0) and np.all(decoded.rgba[:, :4, 3] == 255)


def test_16_bit_gray_png_is_scaled_not_clipped() -> None:
    levels = np.arange(256, dtype=np.uint16).reshape(16, 16) * 257
    ok, buffer = cv2.imencode(".png", levels)
    assert ok
    decoded = decode(buffer.tobytes(), BUDGET)
    assert np.array_equal(decoded.rgba[..., 0], levels // 257)


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_16_bit_rgb_and_rgba(ext: str) -> None:
    rgb8 = _noise_rgba(16, 16)[..., :3]
    rgb16 = rgb8.astype(np.uint16) * 257
    ok, buffer = cv2.imencode(ext, cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
    assert ok
    decoded = decode(buffer.tobytes(), BUDGET)
    assert np.array_equal(decoded.rgba[..., :3], rgb8) and not decoded.has_alpha
    alpha16 = np.full((16, 16), 65535, np.uint16)
    alpha16[:4] = 0
    ok, buffer = cv2.imencode(ext, np.dstack([cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR), alpha16]))
    decoded = decode(buffer.tobytes(), BUDGET)
    assert decoded.has_alpha and np.all(decoded.rgba[:4, :, 3] == 0)


def test_32_bit_integer_and_float_tiff() -> None:
    integers = Image.fromarray((np.arange(64, dtype=np.int32).reshape(8, 8) * 1028), "I")
    decoded = decode(_save(integers, "TIFF"), BUDGET)
    assert decoded.rgba[0, 0, 0] == 0 and decoded.rgba[-1, -1, 0] == round(63 * 1028 / 257)
    floats = Image.fromarray(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8), "F")
    decoded = decode(_save(floats, "TIFF"), BUDGET)
    assert decoded.rgba[0, 0, 0] == 0 and decoded.rgba[-1, -1, 0] == 255


def test_cmyk_jpeg_adobe_inverted() -> None:
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # red ink mix
    data = _save(cmyk, "JPEG", quality=95)
    assert b"Adobe" in data  # libjpeg marks CMYK as Adobe-inverted
    decoded = decode(data, BUDGET)
    assert _close(tuple(int(v) for v in decoded.rgba[8, 8, :3]), RED)
    assert not decoded.has_alpha


def test_cmyk_tiff() -> None:
    decoded = decode(_save(Image.new("CMYK", (8, 8), (255, 0, 255, 0)), "TIFF"), BUDGET)
    assert np.all(decoded.rgba[..., :3] == GREEN)


def test_cielab_tiff_converted_to_srgb() -> None:
    gray = decode(_save(Image.new("LAB", (4, 4), (128, 128, 128)), "TIFF"), BUDGET)  # L*=50, a=b=0
    assert np.all(np.abs(gray.rgba[..., :3].astype(int) - 119) <= 2)
    white = decode(_save(Image.new("LAB", (4, 4), (255, 128, 128)), "TIFF"), BUDGET)
    assert np.all(white.rgba[..., :3] >= 250)


# --------------------------------------------------------------------------------------------
# orientation


def _oriented_jpeg(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _save(_quadrants(), "JPEG", quality=95, exif=exif.tobytes())


@pytest.mark.parametrize(
    ("orientation", "size", "corners"),
    [
        (1, (64, 32), [RED, GREEN, BLUE, WHITE]),
        (3, (64, 32), [WHITE, BLUE, GREEN, RED]),  # rotated 180
        (6, (32, 64), [BLUE, RED, WHITE, GREEN]),  # rotated 90 clockwise
        (8, (32, 64), [GREEN, WHITE, RED, BLUE]),  # rotated 90 counter-clockwise
    ],
)
def test_exif_orientation_applied(orientation: int, size: tuple[int, int], corners: list) -> None:
    decoded = decode(_oriented_jpeg(orientation), BUDGET)
    assert (decoded.width, decoded.height) == size
    assert decoded.rgba.shape[:2] == (size[1], size[0])
    for color, expected in zip(_corner_colors(decoded), corners, strict=True):
        assert _close(color, expected), (color, expected)


def test_heic_orientation_applied_once() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode(_heic(_quadrants(), exif=exif.tobytes()), BUDGET)
    assert (decoded.width, decoded.height) == (32, 64)
    for color, expected in zip(_corner_colors(decoded), [BLUE, RED, WHITE, GREEN], strict=True):
        assert _close(color, expected, tolerance=24), (color, expected)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_damaged_exif_is_ignored() -> None:
    data = _save(_quadrants(), "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff")
    decoded = decode(data, BUDGET)
    assert (decoded.width, decoded.height) == (64, 32)


# --------------------------------------------------------------------------------------------
# colour management


def test_icc_profile_converted_to_srgb() -> None:
    image = Image.new("RGB", (8, 8), RED)
    plain = decode(_save(image, "PNG"), BUDGET)
    tagged = decode(_save(image, "PNG", icc_profile=_swapped_primaries_profile()), BUDGET)
    assert np.all(plain.rgba[..., :3] == RED)
    # "red" under a profile whose red primary is sRGB blue is sRGB blue.
    assert _close(tuple(int(v) for v in tagged.rgba[0, 0, :3]), BLUE, tolerance=3)


def test_icc_profile_in_jpeg_with_alpha_kept() -> None:
    image = Image.new("RGBA", (8, 8), (255, 0, 0, 100))
    decoded = decode(_save(image, "PNG", icc_profile=_swapped_primaries_profile()), BUDGET)
    assert np.all(decoded.rgba[..., 3] == 100) and decoded.has_alpha
    assert _close(tuple(int(v) for v in decoded.rgba[0, 0, :3]), BLUE, tolerance=3)


def test_srgb_profile_leaves_pixels_alone() -> None:
    source = _noise_rgba()[..., :3]
    data = _save(Image.fromarray(source, "RGB"), "PNG", icc_profile=srgb_profile_bytes())
    assert np.array_equal(decode(data, BUDGET).rgba[..., :3], source)


@pytest.mark.parametrize("profile", [b"garbage" * 40, b"", bytes(range(256)) * 3])
def test_broken_icc_profile_is_ignored(profile: bytes) -> None:
    source = _noise_rgba()[..., :3]
    data = _save(Image.fromarray(source, "RGB"), "PNG", icc_profile=profile)
    assert np.array_equal(decode(data, BUDGET).rgba[..., :3], source)


def test_profile_of_wrong_colour_space_is_ignored() -> None:
    gray_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    data = _save(Image.new("RGB", (4, 4), GREEN), "PNG", icc_profile=gray_profile)
    assert np.all(decode(data, BUDGET).rgba[..., :3] == GREEN)


# --------------------------------------------------------------------------------------------
# pixel budget and decompression bombs


def test_budget_from_header() -> None:
    data = _save(Image.new("RGB", (100, 50)), "PNG")
    assert decode(data, 5000).width == 100
    with pytest.raises(TooManyPixelsError):
        decode(data, 4999)


@pytest.mark.parametrize("name", sorted(EXPECTED_META))
def test_budget_applies_to_every_format(format_inputs: dict[str, bytes], name: str) -> None:
    with pytest.raises(TooManyPixelsError):
        decode(format_inputs[name], 64 * 48 - 1)


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("PNG", _png_bomb),
        ("GIF", _gif_bomb),
        ("BMP", _bmp_bomb),
        ("JPEG", _jpeg_bomb),
        ("WEBP", _webp_bomb),
        ("TIFF", _tiff_bomb),
        ("AVIF", _avif_bomb),
    ],
)
@pytest.mark.parametrize("side", [5_000, 12_000, None], ids=["our-check", "pillow-warns", "huge"])
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_decompression_bomb_refused_fast(name: str, make, side: int | None) -> None:
    """5000² is refused by our budget alone, 12000² passes Pillow with a warning, huge trips Pillow."""
    data = make() if side is None else make(side)
    assert sniff_format(data) == name
    assert len(data) < 2000
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(TooManyPixelsError):
        decode(data, BUDGET)
    # Refused before any pixel buffer exists: memory, not time, is the machine-independent proof.
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mib < 64


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_bomb_warning_raised_as_error_is_still_too_many_pixels() -> None:
    """Where warnings are errors, Pillow's bomb warning (over 89 MP) refuses even within our budget."""
    with pytest.raises(TooManyPixelsError):
        decode(_png_bomb(12_000), 200_000_000)


# --------------------------------------------------------------------------------------------
# damaged and non-image inputs


@pytest.mark.parametrize("name", sorted(EXPECTED_META))
def test_truncated_file_is_corrupt(format_inputs: dict[str, bytes], name: str) -> None:
    data = format_inputs[name]
    with pytest.raises(CorruptImageError):
        decode(data[: len(data) // 2], BUDGET)


@pytest.mark.parametrize("name", sorted(EXPECTED_META))
@pytest.mark.parametrize("keep", [9, 20, 40])
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_tiny_prefix_is_refused(format_inputs: dict[str, bytes], name: str, keep: int) -> None:
    with pytest.raises((CorruptImageError, UnsupportedImageError)):
        decode(format_inputs[name][:keep], BUDGET)


def test_damaged_body_is_corrupt(format_inputs: dict[str, bytes]) -> None:
    png = bytearray(format_inputs["PNG"])
    png[60:90] = b"\x00" * 30  # breaks the IDAT stream and its CRC
    with pytest.raises(CorruptImageError):
        decode(bytes(png), BUDGET)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is just text\n" * 4,
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
        b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>',
        b"<!DOCTYPE html><html><body><img src=x></body></html>",
        b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF",
        b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2",  # MP4, not an image brand
    ],
    ids=["empty", "text", "svg-xml", "svg", "html", "pdf", "mp4"],
)
def test_non_images_are_unsupported(data: bytes) -> None:
    assert sniff_format(data) is None
    with pytest.raises(UnsupportedImageError):
        decode(data, BUDGET)


def test_polyglot_with_foreign_magic_is_unsupported(format_inputs: dict[str, bytes]) -> None:
    for prefix in (b"%PDF-1.7\n", b"<html>", b"PK\x03\x04"):
        with pytest.raises(UnsupportedImageError):
            decode(prefix + format_inputs["JPEG"], BUDGET)


def test_formats_pillow_knows_but_we_do_not_accept() -> None:
    for data in (_save(Image.new("RGB", (16, 16)), "ICO"), _save(Image.new("RGB", (8, 8)), "PPM")):
        with pytest.raises(UnsupportedImageError):
            decode(data, BUDGET)


def test_magic_decides_not_the_content(format_inputs: dict[str, bytes]) -> None:
    """PNG magic followed by JPEG data is a damaged PNG, never silently a JPEG."""
    with pytest.raises(CorruptImageError):
        decode(b"\x89PNG\r\n\x1a\n" + format_inputs["JPEG"], BUDGET)


def test_all_errors_share_a_base() -> None:
    for error in (UnsupportedImageError, CorruptImageError, TooManyPixelsError):
        assert issubclass(error, ImageError)


def test_invalid_budget_rejected(format_inputs: dict[str, bytes]) -> None:
    with pytest.raises(ValueError):
        decode(format_inputs["PNG"], 0)


# --------------------------------------------------------------------------------------------
# encoding

OUTPUT_META = {
    "png": ("PNG", "image/png"),
    "jpeg": ("JPEG", "image/jpeg"),
    "webp": ("WEBP", "image/webp"),
    "avif": ("AVIF", "image/avif"),
    "tiff": ("TIFF", "image/tiff"),
}


@pytest.mark.parametrize("fmt", sorted(OUTPUT_META))
def test_encode_metadata_and_decodable(fmt: str) -> None:
    rgba = _opaque(_smooth_rgb())
    encoded = encode(rgba, EncodeOptions(format=fmt))
    assert isinstance(encoded, EncodedImage)
    assert (encoded.format, encoded.mime, encoded.ext) == (*OUTPUT_META[fmt], fmt)
    assert (encoded.width, encoded.height) == (128, 96)
    assert encoded.mps == 0.012288
    assert sniff_format(encoded.data) == encoded.format
    decoded = decode(encoded.data, BUDGET)
    assert decoded.rgba.shape == rgba.shape and not decoded.has_alpha
    assert np.abs(decoded.rgba.astype(int) - rgba).mean() < 4


def test_png_levels_identical_pixels_and_channel_count() -> None:
    opaque = _opaque(_smooth_rgb())
    transparent = _noise_rgba()
    sizes = {}
    for level in ("fast", "optimal", "best"):
        encoded = encode(opaque, EncodeOptions(format="png", png_compression=level))
        sizes[level] = len(encoded.data)
        assert encoded.data[25] == 2  # IHDR colour type: RGB
        assert np.array_equal(decode(encoded.data, BUDGET).rgba, opaque)
        encoded = encode(transparent, EncodeOptions(format="png", png_compression=level))
        assert encoded.data[25] == 6  # RGBA
        decoded = decode(encoded.data, BUDGET)
        assert decoded.has_alpha and np.array_equal(decoded.rgba, transparent)
    assert sizes["best"] <= sizes["optimal"]


def test_jpeg_quality_changes_size() -> None:
    rgba = _opaque(_smooth_rgb())
    small = encode(rgba, EncodeOptions(format="jpeg", quality=30))
    large = encode(rgba, EncodeOptions(format="jpeg", quality=95))
    default = encode(rgba, EncodeOptions(format="jpeg"))
    assert len(small.data) < len(default.data) < len(large.data)


def test_jpeg_progressive_flag_is_in_the_file() -> None:
    rgba = _opaque(_smooth_rgb())
    progressive = encode(rgba, EncodeOptions(format="jpeg"))
    baseline = encode(rgba, EncodeOptions(format="jpeg", progressive=False))
    assert _jpeg_frame_markers(progressive.data) == [0xC2]
    assert _jpeg_frame_markers(baseline.data) in ([0xC0], [0xC1])
    assert Image.open(io.BytesIO(progressive.data)).info.get("progressive") == 1


def test_jpeg_of_transparent_input_is_flattened_over_white() -> None:
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0] = 255  # red
    rgba[:, :8, 3] = 0  # left half fully transparent
    rgba[:, 8:, 3] = 255
    decoded = decode(encode(rgba, EncodeOptions(format="jpeg", quality=95)).data, BUDGET)
    assert not decoded.has_alpha and np.all(decoded.rgba[..., 3] == 255)
    assert _close(tuple(int(v) for v in decoded.rgba[8, 2, :3]), WHITE, tolerance=6)
    assert _close(tuple(int(v) for v in decoded.rgba[8, 13, :3]), RED, tolerance=6)


def test_flatten_over_white_matches_exact_arithmetic() -> None:
    rgba = np.random.default_rng(3).integers(0, 256, (64, 64, 4), dtype=np.uint8)
    rgb, alpha = rgba[..., :3].astype(np.int64), rgba[..., 3:].astype(np.int64)
    expected = (rgb * alpha + 255 * (255 - alpha) + 127) // 255
    assert np.array_equal(flatten_over_white(rgba), expected)
    assert np.array_equal(flatten_over_white(rgba[::2, ::3]), expected[::2, ::3])


def test_webp_lossless_is_exact_with_alpha() -> None:
    rgba = _noise_rgba()
    encoded = encode(rgba, EncodeOptions(format="webp", lossless=True))
    decoded = decode(encoded.data, BUDGET)
    assert decoded.has_alpha and np.array_equal(decoded.rgba, rgba)
    opaque = _opaque(_smooth_rgb())
    assert np.array_equal(
        decode(encode(opaque, EncodeOptions(format="webp", lossless=True)).data, BUDGET).rgba, opaque
    )


def test_webp_lossy_quality_and_alpha() -> None:
    rgba = _opaque(_smooth_rgb())
    rgba[:20, :20, 3] = 0
    low = encode(rgba, EncodeOptions(format="webp", quality=20))
    high = encode(rgba, EncodeOptions(format="webp", quality=95))
    lossless = encode(rgba, EncodeOptions(format="webp", lossless=True))
    assert len(low.data) < len(high.data) < len(lossless.data)
    decoded = decode(high.data, BUDGET)
    assert (
        decoded.has_alpha
        and np.all(decoded.rgba[:20, :20, 3] == 0)
        and np.all(decoded.rgba[30:, 30:, 3] == 255)
    )
    assert not np.array_equal(decoded.rgba, rgba)


def test_avif_lossy_and_lossless() -> None:
    rgba = _noise_rgba()
    lossless = decode(encode(rgba, EncodeOptions(format="avif", lossless=True)).data, BUDGET)
    assert lossless.has_alpha
    assert np.array_equal(lossless.rgba[..., 3], rgba[..., 3])  # alpha exact
    assert np.abs(lossless.rgba[..., :3].astype(int) - rgba[..., :3]).max() <= 2  # BT.601 rounding only
    lossy = encode(rgba, EncodeOptions(format="avif"))
    lossy_decoded = decode(lossy.data, BUDGET)
    assert lossy_decoded.has_alpha
    assert np.abs(lossy_decoded.rgba.astype(int) - rgba).max() > 2
    smooth = _opaque(_smooth_rgb())
    low = encode(smooth, EncodeOptions(format="avif", quality=20))
    high = encode(smooth, EncodeOptions(format="avif", quality=90))
    assert len(low.data) < len(high.data)
    assert not decode(high.data, BUDGET).has_alpha


def test_tiff_round_trip_exact() -> None:
    rgba = _noise_rgba()
    encoded = encode(rgba, EncodeOptions(format="tiff"))
    assert np.array_equal(decode(encoded.data, BUDGET).rgba, rgba)
    assert Image.open(io.BytesIO(encoded.data)).info["compression"] == "tiff_adobe_deflate"
    opaque = _opaque(_smooth_rgb())
    assert Image.open(io.BytesIO(encode(opaque, EncodeOptions(format="tiff")).data)).mode == "RGB"


def test_encode_accepts_non_contiguous_views() -> None:
    rgba = _noise_rgba(64, 64)[::2, ::2]
    for fmt in OUTPUT_META:
        lossless = fmt in ("png", "tiff", "webp")
        decoded = decode(encode(rgba, EncodeOptions(format=fmt, lossless=lossless)).data, BUDGET)
        assert decoded.rgba.shape == (32, 32, 4)
        if lossless:
            assert np.array_equal(decoded.rgba, rgba)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 4), np.float32), np.zeros((0, 4, 4), np.uint8)],
    ids=["rgb", "float", "empty"],
)
def test_encode_rejects_bad_arrays(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        encode(bad, EncodeOptions(format="png"))


def test_encode_options_validated() -> None:
    with pytest.raises(ValueError):
        EncodeOptions(format="gif")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        EncodeOptions(format="jpeg", quality=0)
    with pytest.raises(ValueError):
        EncodeOptions(format="png", png_compression="max")  # type: ignore[arg-type]

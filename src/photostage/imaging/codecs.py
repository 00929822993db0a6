"""Image decoding (untrusted bytes -> sRGB RGBA array) and encoding (array -> file bytes).

Decoding is the first place untrusted pixels are touched, so it is defensive in a fixed order:
magic bytes decide the format (never the file name or a Pillow guess), the pixel budget is checked
from the header before any pixel is decoded, and every decoder failure becomes one of our errors.
Nothing global is changed: Pillow's MAX_IMAGE_PIXELS and LOAD_TRUNCATED_IMAGES stay as they are.

Encoding speed is a product feature: PNG and JPEG go through OpenCV (an order of magnitude faster
than Pillow's PNG writer), WEBP/AVIF/TIFF through Pillow with settings measured on a 2-core box
(see benchmarks/codecs.py).
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageOps, features

from photostage.imaging.color import to_srgb

# --------------------------------------------------------------------------------------------
# Errors (imaging/ imports nothing from the project, so it owns its exceptions)


class ImageError(Exception):
    """Base of every image decoding/encoding failure."""


class UnsupportedImageError(ImageError):
    """The bytes are not an image in an accepted format (SVG, HTML, PDF, text, empty, ...)."""


class CorruptImageError(ImageError):
    """The bytes start like an accepted format but cannot be decoded (truncated, damaged)."""


class TooManyPixelsError(ImageError):
    """The header declares more pixels than allowed; refused before decoding any pixel."""


class EncodeError(ImageError):
    """The pixels cannot be written in the requested format (e.g. beyond its size limits)."""


# --------------------------------------------------------------------------------------------
# Formats


@dataclass(frozen=True)
class _Format:
    name: str  # Claid style, also the Pillow plugin id
    ext: str
    mime: str


_FORMATS: dict[str, _Format] = {
    "PNG": _Format("PNG", "png", "image/png"),
    "JPEG": _Format("JPEG", "jpeg", "image/jpeg"),
    "WEBP": _Format("WEBP", "webp", "image/webp"),
    "AVIF": _Format("AVIF", "avif", "image/avif"),
    "HEIF": _Format("HEIF", "heic", "image/heic"),
    "TIFF": _Format("TIFF", "tiff", "image/tiff"),
    "BMP": _Format("BMP", "bmp", "image/bmp"),
    "GIF": _Format("GIF", "gif", "image/gif"),
}

_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_HEIF_STRUCTURAL_BRANDS = frozenset({b"mif1", b"msf1"})

# Exceptions a decoder may raise on hostile or damaged input; anything else is a bug and propagates.
_DECODER_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    EOFError,
    RuntimeError,
    ZeroDivisionError,
    struct.error,
    zlib.error,
)


def sniff_format(data: bytes) -> str | None:
    """The format ("PNG", "JPEG", ...) named by the leading magic bytes, or None if not accepted."""
    head = bytes(data[:64])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(b"BM") and len(head) >= 18:
        return "BMP"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "TIFF"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    return _sniff_isobmff(data)


def _sniff_isobmff(data: bytes) -> str | None:
    """AVIF or HEIF from the ISO-BMFF 'ftyp' box: major brand, then compatible brands."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return None
    box_size = int.from_bytes(data[0:4], "big")
    major = bytes(data[8:12])
    end = min(box_size, len(data), 256)
    compatible = {bytes(data[i : i + 4]) for i in range(16, end - 3, 4)}
    if major in _AVIF_BRANDS:
        return "AVIF"
    if major in _HEIF_BRANDS:
        return "HEIF"
    if major in _HEIF_STRUCTURAL_BRANDS or compatible & _HEIF_STRUCTURAL_BRANDS:
        if compatible & _AVIF_BRANDS:
            return "AVIF"
        if compatible & _HEIF_BRANDS or major in _HEIF_STRUCTURAL_BRANDS:
            return "HEIF"
    return None


# --------------------------------------------------------------------------------------------
# Decoding


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """A decoded input: sRGB, straight alpha, upright (EXIF orientation applied).

    `rgba` is read-only: one decoded input feeds several renders, so nobody may edit it in place.
    (eq=False: arrays have no single truth value, identity is the only meaningful equality.)
    """

    rgba: np.ndarray
    has_alpha: bool
    format: str
    ext: str
    mime: str
    width: int
    height: int

    @property
    def mps(self) -> float:
        return round(self.width * self.height / 1e6, 6)


def decode(data: bytes, max_pixels: int) -> DecodedImage:
    """Decode untrusted bytes of an accepted format into an sRGB RGBA array.

    Raises UnsupportedImageError (not an accepted image), TooManyPixelsError (header over the
    budget, checked before any pixel is decoded) or CorruptImageError (damaged data).
    """
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    name = sniff_format(data)
    if name is None:
        raise UnsupportedImageError(
            "not an image in an accepted format (png, jpeg, webp, avif, heic, tiff, bmp, gif)"
        )
    _ensure_plugin(name)
    _precheck_header(name, data, max_pixels)
    image = _open_and_load(name, data, max_pixels)
    try:
        rgba, has_alpha = _to_srgb_rgba(_upright(image))
    except (ValueError, OSError) as error:  # a pixel layout Pillow decodes but cannot convert
        raise UnsupportedImageError(f"{name} with pixel mode {image.mode} is not supported") from error
    rgba.flags.writeable = False
    info = _FORMATS[name]
    height, width = rgba.shape[:2]
    return DecodedImage(
        rgba=rgba,
        has_alpha=has_alpha,
        format=info.name,
        ext=info.ext,
        mime=info.mime,
        width=width,
        height=height,
    )


def _ensure_plugin(name: str) -> None:
    """Make sure a decoder for `name` exists; HEIF's opener is registered here, lazily, once."""
    if name == "HEIF":
        try:
            import pillow_heif
        except ImportError as error:
            raise UnsupportedImageError("HEIC/HEIF input needs the pillow-heif package") from error
        if "HEIF" not in Image.OPEN:  # registration lives in Pillow's plugin table: idempotent
            pillow_heif.register_heif_opener()
    elif name in ("WEBP", "AVIF") and not features.check(name.lower()):
        raise UnsupportedImageError(f"this Pillow build cannot decode {name}")


def _precheck_header(name: str, data: bytes, max_pixels: int) -> None:
    """Refuse oversized WEBP before Pillow builds libwebp's decoder, which allocates the canvas."""
    if name != "WEBP":
        return
    size = webp_canvas_size(data)
    if size is not None:
        _check_pixels(size, max_pixels)


def webp_canvas_size(data: bytes) -> tuple[int, int] | None:
    """Canvas (width, height) from a WEBP header (VP8, VP8L or VP8X), None if unreadable."""
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise TooManyPixelsError(
            f"image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels}"
        )


def _open_and_load(name: str, data: bytes, max_pixels: int) -> Image.Image:
    """Parse the header with the one plugin the magic named, check the budget, then decode."""
    try:
        image = Image.open(io.BytesIO(data), formats=[name])
        _check_pixels(image.size, max_pixels)
        image.load()
        _check_pixels(image.size, max_pixels)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise TooManyPixelsError(f"image declares too many pixels: {error}") from error
    except _DECODER_ERRORS as error:
        declared = isobmff_declared_pixels(data) if name in ("AVIF", "HEIF") else 0
        if declared > max_pixels:
            # libavif/libheif refuse sizes past their own limits while parsing: still a bomb.
            raise TooManyPixelsError(
                f"image declares {declared} pixels, over the limit of {max_pixels}"
            ) from error
        raise CorruptImageError(f"{name} data is damaged or truncated ({type(error).__name__})") from error
    return image


def isobmff_declared_pixels(data: bytes) -> int:
    """The largest width*height declared by an 'ispe' box in an AVIF/HEIF header (0 if none).

    Used only after the real parser failed, to tell a decompression bomb from a damaged file.
    """
    largest = 0
    header = data[:65536]
    position = header.find(b"ispe")
    while position >= 4:
        box_size = int.from_bytes(header[position - 4 : position], "big")
        if box_size == 20 and position + 16 <= len(header):
            width, height = struct.unpack(">II", header[position + 8 : position + 16])
            largest = max(largest, width * height)
        position = header.find(b"ispe", position + 4)
    return largest


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF/XMP orientation; a damaged EXIF block leaves the image as stored."""
    try:
        return ImageOps.exif_transpose(image)
    except _DECODER_ERRORS:
        return image


def _to_srgb_rgba(image: Image.Image) -> tuple[np.ndarray, bool]:
    """Any Pillow mode -> (H, W, 4) uint8 sRGB with straight alpha, and whether alpha is real."""
    color, alpha = _split_color_alpha(image)
    srgb = to_srgb(color, image.info.get("icc_profile"))
    if alpha is None:
        return np.asarray(srgb.convert("RGBA")), False
    srgb.putalpha(alpha)
    rgba = np.asarray(srgb)
    return rgba, bool(rgba[..., 3].min() < 255)


def _split_color_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """8-bit colour planes (L, RGB, CMYK or LAB) and the alpha plane (mode L) if there is one."""
    mode = image.mode
    if mode in ("L", "RGB", "CMYK", "LAB"):
        if mode in ("L", "RGB") and "transparency" in image.info:  # PNG tRNS colour key
            return _split_color_alpha(image.convert("LA" if mode == "L" else "RGBA"))
        return image, None
    if mode in ("LA", "RGBA"):
        alpha = image.getchannel("A")
        return image.convert(mode[:-1]), alpha
    if mode in ("P", "PA"):
        converted = image.convert("RGBA" if image.has_transparency_data else "RGB")
        return _split_color_alpha(converted)
    if mode == "1":
        return image.convert("L"), None
    if mode.startswith("I") or mode == "F":
        return _high_depth_gray_to_l(image), None
    return _split_color_alpha(image.convert("RGBA" if image.has_transparency_data else "RGB"))


def _high_depth_gray_to_l(image: Image.Image) -> Image.Image:
    """16/32-bit integer or float grey to 8-bit L by scaling, not clipping (Pillow clips).

    Integer data is taken as 16-bit (PNG/TIFF 16-bit grey is by far the common case); float data
    is taken as 0..1 when it fits there, else as 0..255.
    """
    values = np.asarray(image)
    if values.dtype.kind == "f":
        finite = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        scale = 255.0 if finite.size and float(finite.max()) <= 1.0 else 1.0
        gray = np.clip(finite * scale + 0.5, 0, 255).astype(np.uint8)
    else:
        wide = np.clip(values.astype(np.int64), 0, 65535)
        gray = ((wide * 255 + 32767) // 65535).astype(np.uint8)
    return Image.fromarray(gray, "L")


# --------------------------------------------------------------------------------------------
# Encoding

OutputFormat = Literal["png", "jpeg", "webp", "avif", "tiff"]
PngCompression = Literal["fast", "optimal", "best"]

_JPEG_DEFAULT_QUALITY = 85
_WEBP_DEFAULT_QUALITY = 75
_AVIF_DEFAULT_QUALITY = 50
_JPEG_FULL_CHROMA_FROM_QUALITY = 90  # at high quality, colour edges of products matter more than bytes
_WEBP_LOSSY_METHOD = 2  # measured: method 4 is ~2.5x slower for ~5% smaller files
_WEBP_LOSSLESS_METHOD = 1  # measured: method 4/quality 80 takes >1 s per MP, 1/0 ~0.15 s, same size
_WEBP_LOSSLESS_EFFORT = 0
_WEBP_MAX_SIDE = 16383
_AVIF_SPEED = 9  # measured: speed 6 ~4x slower, 10 gives identical files
_JPEG_MAX_SIDE = 65500

# OpenCV PNG settings per option. zlib's RLE strategy ignores the level and, with one fixed row
# filter, is both faster and smaller than level-1 deflate on photographic/rendered content.
_PNG_FAST = (
    cv2.IMWRITE_PNG_COMPRESSION, 1,
    cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
    cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB,
)  # fmt: skip
_PNG_OPTIMAL = (
    cv2.IMWRITE_PNG_COMPRESSION, 1,
    cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
    cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_PAETH,
)  # fmt: skip
_PNG_BEST = (
    cv2.IMWRITE_PNG_COMPRESSION, 9,
    cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_DEFAULT,
)  # fmt: skip


@dataclass(frozen=True)
class EncodeOptions:
    """How to write an output image; `quality` None means the format's default."""

    format: OutputFormat
    quality: int | None = None
    progressive: bool = True
    lossless: bool = False
    png_compression: PngCompression = "optimal"

    def __post_init__(self) -> None:
        if self.format not in ("png", "jpeg", "webp", "avif", "tiff"):
            raise ValueError(f"unknown output format {self.format!r}")
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be within 1..100, got {self.quality}")
        if self.png_compression not in ("fast", "optimal", "best"):
            raise ValueError(f"unknown png_compression {self.png_compression!r}")


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    ext: str
    mime: str
    format: str
    width: int
    height: int

    @property
    def mps(self) -> float:
        return round(self.width * self.height / 1e6, 6)


def encode(rgba: np.ndarray, options: EncodeOptions) -> EncodedImage:
    """Write an (H, W, 4) uint8 straight-alpha sRGB array in the requested format.

    Alpha is written only when some pixel is not fully opaque (smaller, faster files);
    JPEG has no alpha, so transparency is flattened over white.
    """
    _validate_rgba(rgba)
    opaque = bool(rgba[..., 3].min() == 255)
    writers = {
        "png": _encode_png,
        "jpeg": _encode_jpeg,
        "webp": _encode_webp,
        "avif": _encode_avif,
        "tiff": _encode_tiff,
    }
    data = writers[options.format](rgba, opaque, options)
    info = _FORMATS[options.format.upper()]
    height, width = rgba.shape[:2]
    return EncodedImage(data=data, ext=info.ext, mime=info.mime, format=info.name, width=width, height=height)


def _validate_rgba(rgba: np.ndarray) -> None:
    if not isinstance(rgba, np.ndarray) or rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError("encode expects an (H, W, 4) uint8 RGBA array")
    if rgba.shape[0] < 1 or rgba.shape[1] < 1:
        raise ValueError("cannot encode an empty image")


def _cv2_encode(ext: str, pixels: np.ndarray, params: tuple[int, ...] | list[int]) -> bytes:
    try:
        ok, buffer = cv2.imencode(ext, pixels, list(params))
    except cv2.error as error:
        raise EncodeError(f"OpenCV could not write {ext}: {error}") from error
    if not ok:
        raise EncodeError(f"OpenCV could not write {ext}")
    return buffer.tobytes()


def _encode_png(rgba: np.ndarray, opaque: bool, options: EncodeOptions) -> bytes:
    pixels = cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR if opaque else cv2.COLOR_RGBA2BGRA)
    if options.png_compression == "fast":
        return _cv2_encode(".png", pixels, _PNG_FAST)
    optimal = _cv2_encode(".png", pixels, _PNG_OPTIMAL)
    if options.png_compression == "optimal":
        return optimal
    # "best" is the smallest file we can make: level-9 deflate usually wins, but on noisy
    # content RLE beats it, so keep whichever is smaller.
    best = _cv2_encode(".png", pixels, _PNG_BEST)
    return best if len(best) <= len(optimal) else optimal


def flatten_over_white(rgba: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB of `rgba` composited over white, rounded; exact for opaque pixels.

    Computed as 255 - round((255 - rgb) * a / 255) with OpenCV's saturating uint8 arithmetic,
    ~10x faster than the same sum in numpy uint16 (no exact .5 ties exist, so rounding is exact).
    """
    rgb = cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)
    alpha = cv2.cvtColor(np.ascontiguousarray(rgba[..., 3]), cv2.COLOR_GRAY2RGB)
    return cv2.bitwise_not(cv2.multiply(cv2.bitwise_not(rgb), alpha, scale=1 / 255))


def _encode_jpeg(rgba: np.ndarray, opaque: bool, options: EncodeOptions) -> bytes:
    if max(rgba.shape[:2]) > _JPEG_MAX_SIDE:
        raise EncodeError(f"JPEG sides are limited to {_JPEG_MAX_SIDE} pixels")
    if opaque:
        bgr = cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)
    else:
        bgr = cv2.cvtColor(flatten_over_white(rgba), cv2.COLOR_RGB2BGR)
    quality = options.quality if options.quality is not None else _JPEG_DEFAULT_QUALITY
    sampling = (
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444
        if quality >= _JPEG_FULL_CHROMA_FROM_QUALITY
        else cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420
    )
    params = (
        cv2.IMWRITE_JPEG_QUALITY, quality,
        cv2.IMWRITE_JPEG_PROGRESSIVE, int(options.progressive),
        cv2.IMWRITE_JPEG_OPTIMIZE, 1,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR, sampling,
    )  # fmt: skip
    return _cv2_encode(".jpg", bgr, params)


def _pillow_image(rgba: np.ndarray, opaque: bool) -> Image.Image:
    image = Image.fromarray(np.ascontiguousarray(rgba), "RGBA")
    return image.convert("RGB") if opaque else image


def _pillow_save(image: Image.Image, pillow_format: str, settings: dict[str, object]) -> bytes:
    """Save through Pillow; `settings` are that plugin's documented save options."""
    buffer = io.BytesIO()
    try:
        image.save(buffer, pillow_format, **settings)
    except (OSError, ValueError, RuntimeError) as error:
        raise EncodeError(f"Pillow could not write {pillow_format}: {error}") from error
    return buffer.getvalue()


def _encode_webp(rgba: np.ndarray, opaque: bool, options: EncodeOptions) -> bytes:
    if max(rgba.shape[:2]) > _WEBP_MAX_SIDE:
        raise EncodeError(f"WEBP sides are limited to {_WEBP_MAX_SIDE} pixels")
    image = _pillow_image(rgba, opaque)
    if options.lossless:
        # exact=True keeps the colour under fully transparent pixels, so the round trip is exact.
        settings: dict[str, object] = {
            "lossless": True,
            "quality": _WEBP_LOSSLESS_EFFORT,
            "method": _WEBP_LOSSLESS_METHOD,
            "exact": True,
        }
    else:
        quality = options.quality if options.quality is not None else _WEBP_DEFAULT_QUALITY
        settings = {"quality": quality, "method": _WEBP_LOSSY_METHOD, "alpha_quality": 100}
    return _pillow_save(image, "WEBP", settings)


def _encode_avif(rgba: np.ndarray, opaque: bool, options: EncodeOptions) -> bytes:
    """AVIF through Pillow's native plugin.

    Lossless is quality 100 with 4:4:4 chroma: alpha is exact, colour is within ±2 per channel
    (Pillow's encoder fixes the matrix to BT.601; bit-exact AVIF needs the identity matrix,
    which Pillow does not expose).
    """
    image = _pillow_image(rgba, opaque)
    if options.lossless:
        settings: dict[str, object] = {"quality": 100, "subsampling": "4:4:4", "speed": _AVIF_SPEED}
    else:
        quality = options.quality if options.quality is not None else _AVIF_DEFAULT_QUALITY
        settings = {"quality": quality, "subsampling": "4:2:0", "speed": _AVIF_SPEED}
    return _pillow_save(image, "AVIF", settings)


def _encode_tiff(rgba: np.ndarray, opaque: bool, options: EncodeOptions) -> bytes:
    return _pillow_save(_pillow_image(rgba, opaque), "TIFF", {"compression": "tiff_adobe_deflate"})


__all__ = [
    "CorruptImageError",
    "DecodedImage",
    "EncodeError",
    "EncodeOptions",
    "EncodedImage",
    "ImageError",
    "TooManyPixelsError",
    "UnsupportedImageError",
    "decode",
    "encode",
    "flatten_over_white",
    "isobmff_declared_pixels",
    "sniff_format",
    "webp_canvas_size",
]

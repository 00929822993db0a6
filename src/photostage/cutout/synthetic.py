"""Synthetic catalog photographs with exact ground-truth alpha.

Cut-out quality cannot be measured without the true matte, and the project never downloads data
sets, so the test-suite, ``benchmarks/cutout.py`` and self-checks render their own product photos:
bottles, boxes, mugs (with a real hole in the handle), shoe-like shapes, text labels, glossy
near-white highlights and soft floor shadows, on white, grey, gradient and textured backgrounds.

The product silhouette is drawn ``supersample`` times larger and area-averaged down, so the truth
alpha has the antialiased edges of a real photograph. The floor shadow darkens the background only:
it is background in the truth (alpha 0), as a cut-out must leave it behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

ProductKind = Literal["bottle", "box", "mug", "shoe"]
BackgroundKind = Literal["white", "grey", "gradient", "textured"]
PRODUCT_KINDS: tuple[ProductKind, ...] = ("bottle", "box", "mug", "shoe")
BACKGROUND_KINDS: tuple[BackgroundKind, ...] = ("white", "grey", "gradient", "textured")

# Saturated or dark product colours (RGB) that stand apart from every background kind.
PRODUCT_PALETTE = np.array(
    [
        [30, 110, 60],
        [180, 40, 40],
        [40, 70, 170],
        [200, 120, 30],
        [90, 40, 120],
        [30, 30, 35],
        [20, 140, 150],
    ],
    np.float32,
)


@dataclass(frozen=True)
class SyntheticScene:
    """One rendered photo: ``rgb`` (H, W, 3) uint8 as a camera would deliver it, the truth ``alpha``
    (H, W) float32 in [0, 1], and ``foreground`` (H, W, 3) float32 the true product colours (0-255)."""

    rgb: np.ndarray
    alpha: np.ndarray
    foreground: np.ndarray
    product: ProductKind
    background: BackgroundKind

    @property
    def rgba(self) -> np.ndarray:
        """The photo as the opaque RGBA a decoder hands the cut-out engines."""
        opaque = np.full(self.rgb.shape[:2] + (1,), 255, np.uint8)
        return np.concatenate([self.rgb, opaque], axis=2)


@dataclass(frozen=True)
class ProductLayer:
    """A product drawn at the supersampled size: binary silhouette and colours."""

    mask: np.ndarray
    colour: np.ndarray
    base_y: float
    x_range: tuple[float, float]


def render_scene(
    product: ProductKind,
    background: BackgroundKind,
    size: tuple[int, int] = (384, 384),
    seed: int = 0,
    shadow: bool = True,
    supersample: int = 4,
    jpeg_quality: int | None = 92,
) -> SyntheticScene:
    """Render ``product`` on ``background`` at ``size`` (width, height), deterministically per seed."""
    rng = np.random.default_rng(seed)
    width, height = size
    layer = _draw_product(product, width * supersample, height * supersample, rng)
    alpha, foreground = _downsample_layer(layer, width, height)
    backdrop = _background(background, width, height, rng)
    if shadow:
        backdrop = backdrop * _floor_shadow(layer, supersample, width, height, rng)[..., None]
    photo = alpha[..., None] * foreground + (1.0 - alpha[..., None]) * backdrop
    photo = photo + rng.normal(0.0, 1.2, photo.shape).astype(np.float32)
    rgb = np.clip(photo + 0.5, 0, 255).astype(np.uint8)
    if jpeg_quality is not None:
        rgb = _jpeg_roundtrip(rgb, jpeg_quality)
    return SyntheticScene(rgb=rgb, alpha=alpha, foreground=foreground, product=product, background=background)


def _jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding of a synthetic scene failed")
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1].copy()


def _downsample_layer(layer: ProductLayer, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Area-average the supersampled layer: alpha = covered fraction, colour = mean covered colour."""
    coverage = layer.mask.astype(np.float32)
    alpha = cv2.resize(coverage, (width, height), interpolation=cv2.INTER_AREA)
    premultiplied = cv2.resize(
        layer.colour * coverage[..., None], (width, height), interpolation=cv2.INTER_AREA
    )
    safe = np.maximum(alpha, 1e-6)[..., None]
    foreground = np.where(alpha[..., None] > 1e-6, premultiplied / safe, 0.0).astype(np.float32)
    return np.clip(alpha, 0.0, 1.0), np.clip(foreground, 0.0, 255.0)


# --- backgrounds ---------------------------------------------------------------------------------


def _background(kind: BackgroundKind, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "white":
        level = rng.uniform(244, 253)
        return _flat(width, height, level + rng.uniform(-1.5, 1.5, 3))
    if kind == "grey":
        level = rng.uniform(175, 215)
        return _flat(width, height, level + rng.uniform(-3, 3, 3))
    if kind == "gradient":
        return _gradient(width, height, rng)
    return _textured(width, height, rng)


def _flat(width: int, height: int, colour: np.ndarray) -> np.ndarray:
    return np.broadcast_to(colour.astype(np.float32), (height, width, 3)).copy()


def _gradient(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A studio sweep: two tints blended top to bottom and slightly across, plus a soft vignette."""
    top = rng.uniform(150, 235, 3).astype(np.float32)
    bottom = rng.uniform(200, 252, 3).astype(np.float32)
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    xs = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :, None]
    tilt = rng.uniform(-0.25, 0.25)
    blend = np.clip(ys + tilt * xs * 0.5, 0.0, 1.0)
    vignette = 1.0 - 0.08 * (xs**2 + (2 * ys - 1) ** 2)
    return (top * (1 - blend) + bottom * blend) * vignette


def _textured(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Paper/linen: a light base colour with blotchy low-frequency and fine-grain variation."""
    base = rng.uniform(200, 235, 3).astype(np.float32)
    coarse = _smooth_noise(width, height, max(width, height) / 12.0, rng)
    fine = _smooth_noise(width, height, 1.2, rng)
    threads = np.sin(np.arange(width, dtype=np.float32) * 2 * np.pi / 5.0)[None, :] * 0.4
    variation = 9.0 * coarse + 5.0 * fine + 3.0 * threads
    return base + variation[..., None]


def _smooth_noise(width: int, height: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian-smoothed white noise."""
    noise = rng.normal(0.0, 1.0, (height, width)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), sigma)
    return smooth / max(float(smooth.std()), 1e-6)


def _floor_shadow(
    layer: ProductLayer, supersample: int, width: int, height: int, rng: np.random.Generator
) -> np.ndarray:
    """A soft elliptical contact shadow under the product's base: a multiplier in (0, 1]."""
    x0, x1 = (value / supersample for value in layer.x_range)
    base_y = layer.base_y / supersample
    spread = (x1 - x0) * rng.uniform(0.55, 0.7)
    darkness = np.zeros((height, width), np.float32)
    centre = (int(round((x0 + x1) / 2 + rng.uniform(-0.05, 0.15) * (x1 - x0))), int(round(base_y)))
    axes = (max(int(spread), 2), max(int(height * 0.03), 2))
    cv2.ellipse(darkness, centre, axes, 0, 0, 360, 1.0, -1, lineType=cv2.LINE_AA)
    darkness = cv2.GaussianBlur(darkness, (0, 0), max(height * 0.02, 1.5))
    depth = rng.uniform(0.3, 0.45)
    return 1.0 - depth * darkness / max(float(darkness.max()), 1e-6)


# --- products ------------------------------------------------------------------------------------


def _draw_product(kind: ProductKind, width: int, height: int, rng: np.random.Generator) -> ProductLayer:
    colour = PRODUCT_PALETTE[rng.integers(len(PRODUCT_PALETTE))].copy()
    centre_x = width * rng.uniform(0.45, 0.55)
    base_y = height * rng.uniform(0.84, 0.9)
    draw = {"bottle": _bottle, "box": _box, "mug": _mug, "shoe": _shoe}[kind]
    return draw(width, height, centre_x, base_y, colour, rng)


def _canvas(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((height, width), np.uint8), np.zeros((height, width, 3), np.float32)


def _cylinder_shading(width: int, left: float, right: float) -> np.ndarray:
    """Horizontal Lambertian falloff across a cylinder spanning [left, right]."""
    xs = (np.arange(width, dtype=np.float32) - (left + right) / 2) / max((right - left) / 2, 1.0)
    return (0.55 + 0.45 * np.cos(np.clip(xs, -1.0, 1.0) * 1.2))[None, :, None]


def _add_highlight(
    colour: np.ndarray, centre: tuple[float, float], radii: tuple[float, float], strength: float
) -> np.ndarray:
    """A glossy specular blob that blends the surface colour towards near-white (never a hard edge)."""
    height, width = colour.shape[:2]
    ys, xs = np.ogrid[:height, :width]
    falloff = ((xs - centre[0]) / radii[0]) ** 2 + ((ys - centre[1]) / radii[1]) ** 2
    blob = (strength * np.exp(-falloff)).astype(np.float32)[..., None]
    return colour * (1 - blob) + 250.0 * blob


def _put_label_text(
    colour: np.ndarray, text: str, box: tuple[int, int, int, int], ink: tuple[int, ...]
) -> None:
    """Print ``text`` centred in ``box`` on the colour image (labels with printing on them)."""
    x0, y0, x1, y1 = box
    scale = 1.0
    (text_w, text_h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, 2)
    scale = 0.8 * min((x1 - x0) / text_w, (y1 - y0) / (text_h * 2.2))
    thickness = max(int(scale * 2), 1)
    (text_w, text_h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, thickness)
    origin = (int((x0 + x1 - text_w) / 2), int((y0 + y1 + text_h) / 2))
    coverage = np.zeros(colour.shape[:2], np.uint8)  # OpenCV draws text on 8-bit images only
    cv2.putText(coverage, text, origin, cv2.FONT_HERSHEY_DUPLEX, scale, 255, thickness, cv2.LINE_AA)
    weight = (coverage.astype(np.float32) / 255.0)[..., None]
    colour[:] = colour * (1 - weight) + np.array(ink, np.float32) * weight


def _bottle(
    width: int, height: int, cx: float, base_y: float, colour: np.ndarray, rng: np.random.Generator
) -> ProductLayer:
    mask, paint = _canvas(width, height)
    body_h = height * rng.uniform(0.42, 0.5)
    half_w = height * rng.uniform(0.09, 0.12)
    top_y = base_y - body_h
    neck_w = half_w * 0.38
    radius = int(half_w * 0.25)
    _rounded_rect(mask, (int(cx - half_w), int(top_y), int(cx + half_w), int(base_y)), radius)
    cv2.ellipse(mask, (int(cx), int(top_y + 2)), (int(half_w), int(half_w * 0.8)), 0, 180, 360, 1, -1)
    neck_top = top_y - half_w * 0.8 - height * 0.1
    cv2.rectangle(mask, (int(cx - neck_w), int(neck_top)), (int(cx + neck_w), int(top_y)), 1, -1)
    cap_top = neck_top - height * 0.045
    cv2.rectangle(
        mask, (int(cx - neck_w * 1.15), int(cap_top)), (int(cx + neck_w * 1.15), int(neck_top)), 1, -1
    )
    paint[:] = colour * _cylinder_shading(width, cx - half_w, cx + half_w)
    paint[: int(neck_top)] = (
        np.array([200, 170, 60], np.float32) * _cylinder_shading(width, cx - neck_w, cx + neck_w)[0]
    )
    label = (
        int(cx - half_w * 0.85),
        int(top_y + body_h * 0.3),
        int(cx + half_w * 0.85),
        int(top_y + body_h * 0.7),
    )
    paint[label[1] : label[3], label[0] : label[2]] = np.array([236, 226, 200], np.float32)
    _put_label_text(paint, "OLIVA", label, (40, 30, 30))
    paint[:] = _add_highlight(
        paint, (cx - half_w * 0.45, top_y + body_h * 0.2), (half_w * 0.12, body_h * 0.12), 0.9
    )
    return ProductLayer(mask, paint, base_y, (cx - half_w, cx + half_w))


def _box(
    width: int, height: int, cx: float, base_y: float, colour: np.ndarray, rng: np.random.Generator
) -> ProductLayer:
    """A carton seen slightly from above and the side: front, side and top faces."""
    mask, paint = _canvas(width, height)
    front_w = height * rng.uniform(0.32, 0.4)
    front_h = height * rng.uniform(0.38, 0.48)
    depth_x, depth_y = front_w * 0.35, front_h * 0.16
    left = cx - (front_w + depth_x) / 2
    front = np.array(
        [
            [left, base_y - front_h],
            [left + front_w, base_y - front_h],
            [left + front_w, base_y],
            [left, base_y],
        ],
        np.float32,
    )
    side = np.array(
        [front[1], front[1] + [depth_x, -depth_y], front[2] + [depth_x, -depth_y], front[2]], np.float32
    )
    top = np.array([front[0], front[0] + [depth_x, -depth_y], side[1], front[1]], np.float32)
    for face, shade in ((front, 1.0), (side, 0.7), (top, 1.25)):
        points = np.round(face).astype(np.int32)
        cv2.fillPoly(mask, [points], 1)
        cv2.fillPoly(paint, [points], tuple(float(c) for c in np.clip(colour * shade, 0, 255)))
    label = (
        int(left + front_w * 0.15),
        int(base_y - front_h * 0.7),
        int(left + front_w * 0.85),
        int(base_y - front_h * 0.35),
    )
    cv2.rectangle(paint, label[:2], label[2:], (245, 240, 230), -1)
    _put_label_text(paint, "BOX 42", label, (20, 20, 90))
    return ProductLayer(mask, paint, base_y, (left, left + front_w + depth_x))


def _mug(
    width: int, height: int, cx: float, base_y: float, colour: np.ndarray, rng: np.random.Generator
) -> ProductLayer:
    """A mug whose handle encloses a hole of background (alpha 0 inside the ring)."""
    mask, paint = _canvas(width, height)
    body_h = height * rng.uniform(0.36, 0.42)
    half_w = body_h * rng.uniform(0.42, 0.5)
    body_cx = cx - half_w * 0.3
    top_y = base_y - body_h
    _rounded_rect(
        mask, (int(body_cx - half_w), int(top_y), int(body_cx + half_w), int(base_y)), int(half_w * 0.15)
    )
    handle_centre = (int(body_cx + half_w), int(top_y + body_h * 0.48))
    outer = (int(half_w * 0.62), int(body_h * 0.33))
    thickness = half_w * 0.17
    inner = (int(outer[0] - thickness), int(outer[1] - thickness))
    ring = np.zeros_like(mask)
    cv2.ellipse(ring, handle_centre, outer, 0, 0, 360, 1, -1)
    cv2.ellipse(ring, handle_centre, inner, 0, 0, 360, 0, -1)
    ring[:, : handle_centre[0] - int(half_w * 0.1)] = 0
    mask |= ring
    paint[:] = colour * _cylinder_shading(width, body_cx - half_w, body_cx + half_w)
    paint[ring > 0] = colour * 0.85
    label = (
        int(body_cx - half_w * 0.6),
        int(top_y + body_h * 0.35),
        int(body_cx + half_w * 0.6),
        int(top_y + body_h * 0.65),
    )
    _put_label_text(paint, "CAFE", label, (250, 244, 230))
    paint[:] = _add_highlight(
        paint, (body_cx - half_w * 0.5, top_y + body_h * 0.5), (half_w * 0.1, body_h * 0.3), 0.92
    )
    return ProductLayer(mask, paint, base_y, (body_cx - half_w, handle_centre[0] + outer[0]))


def _shoe(
    width: int, height: int, cx: float, base_y: float, colour: np.ndarray, rng: np.random.Generator
) -> ProductLayer:
    """A side view of a sneaker: a dark sole under a curved upper with a raised heel and laces."""
    mask, paint = _canvas(width, height)
    length = height * rng.uniform(0.62, 0.72)
    sole_h = length * 0.07
    left, right = cx - length / 2, cx + length / 2
    sole = np.array(
        [
            [left, base_y - sole_h],
            [right - length * 0.04, base_y - sole_h],
            [right, base_y - sole_h * 0.4],
            [right - length * 0.05, base_y],
            [left + length * 0.02, base_y],
        ],
        np.float32,
    )
    upper = np.array(
        [
            [left, base_y - sole_h * 0.5],
            [left, base_y - length * 0.38],
            [left + length * 0.16, base_y - length * 0.4],
            [left + length * 0.3, base_y - length * 0.3],
            [left + length * 0.55, base_y - length * 0.24],
            [right - length * 0.12, base_y - length * 0.15],
            [right - length * 0.02, base_y - sole_h * 0.8],
            [right - length * 0.1, base_y - sole_h * 0.5],
        ],
        np.float32,
    )
    upper_pts = _smooth_polygon(upper)
    seat = np.zeros_like(mask)  # the unsmoothed bottom of the upper: it sits on the sole, no notch
    cv2.fillPoly(seat, [np.round(upper).astype(np.int32)], 1)
    seat[: int(base_y - length * 0.1)] = 0
    for layer, value in ((mask, 1), (paint, tuple(float(c) for c in colour))):
        cv2.fillPoly(layer, [upper_pts], value)
    mask |= seat
    paint[seat > 0] = colour
    sole_pts = np.round(sole).astype(np.int32)
    cv2.fillPoly(mask, [sole_pts], 1)
    cv2.fillPoly(paint, [sole_pts], (228, 224, 215) if colour.mean() < 80 else (35, 35, 38))
    for i in range(4):
        x = int(left + length * (0.3 + 0.06 * i))
        y = int(base_y - length * (0.29 - 0.015 * i))
        cv2.line(
            paint,
            (x - int(length * 0.02), y - int(length * 0.02)),
            (x + int(length * 0.03), y + int(length * 0.03)),
            (240, 240, 240),
            max(int(length * 0.008), 1),
            cv2.LINE_AA,
        )
    return ProductLayer(mask, paint, base_y, (left, right))


def _smooth_polygon(points: np.ndarray, steps: int = 12) -> np.ndarray:
    """Chaikin-smoothed closed polygon, so the upper has curves rather than corners."""
    smooth = points.astype(np.float32)
    for _ in range(steps // 4):
        following = np.roll(smooth, -1, axis=0)
        smooth = np.stack(
            [0.75 * smooth + 0.25 * following, 0.25 * smooth + 0.75 * following], axis=1
        ).reshape(-1, 2)
    return np.round(smooth).astype(np.int32)


def _rounded_rect(mask: np.ndarray, box: tuple[int, int, int, int], radius: int) -> None:
    x0, y0, x1, y1 = box
    radius = max(min(radius, (x1 - x0) // 2, (y1 - y0) // 2), 1)
    cv2.rectangle(mask, (x0 + radius, y0), (x1 - radius, y1), 1, -1)
    cv2.rectangle(mask, (x0, y0 + radius), (x1, y1 - radius), 1, -1)
    for corner in (
        (x0 + radius, y0 + radius),
        (x1 - radius, y0 + radius),
        (x0 + radius, y1 - radius),
        (x1 - radius, y1 - radius),
    ):
        cv2.circle(mask, corner, radius, 1, -1)

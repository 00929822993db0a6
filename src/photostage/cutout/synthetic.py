"""Synthetic catalog photographs with exact ground-truth alpha: the hard cases real photos have.

Unit tests need the true matte, so they render their own product photos; the real-photo set
(``../shared/realphotos``, see ``benchmarks/cutout.py``) is the yardstick for quality claims. The
fixtures carry what makes real photos hard, not what makes a cut-out easy:

* product colours drawn from every tone a catalog has (``TONES``): saturated, dark, pale and white,
  so white cartons on a white sweep and light-on-light are as common as red mugs;
* bottles, boxes, mugs (a real hole in the handle), shoes, milk cartons with a white cap (white on
  white), bags with thin straps enclosing real holes, and translucent glass bottles (true alpha
  below 1 inside the body);
* text labels, glossy near-white highlights that are product, not holes;
* a soft floor shadow and, optionally, a mirror reflection under the product: both are background
  in the truth (alpha 0), as a cut-out must leave them behind;
* white, grey, gradient and textured studio backdrops, and two scenes that are no backdrop at all
  (``cluttered``: a room with other objects; ``busy``: foliage-like texture), which a cut-out must
  refuse rather than return the whole frame.

The product silhouette is drawn ``supersample`` times larger and area-averaged down, so the truth
alpha has the antialiased edges of a real photograph; sensor noise and a JPEG round trip follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

ProductKind = Literal["bottle", "box", "mug", "shoe", "carton", "bag", "glass"]
BackgroundKind = Literal["white", "grey", "gradient", "textured", "cluttered", "busy"]
Tone = Literal["any", "saturated", "dark", "pale", "white"]
PRODUCT_KINDS: tuple[ProductKind, ...] = ("bottle", "box", "mug", "shoe", "carton", "bag", "glass")
STUDIO_BACKGROUNDS: tuple[BackgroundKind, ...] = ("white", "grey", "gradient", "textured")
BUSY_BACKGROUNDS: tuple[BackgroundKind, ...] = ("cluttered", "busy")
BACKGROUND_KINDS: tuple[BackgroundKind, ...] = STUDIO_BACKGROUNDS + BUSY_BACKGROUNDS

# Product colours (RGB) by tone. ``any`` draws a tone first, each equally likely: a white product on
# a white sweep is a case to pass, not one to avoid.
TONES: dict[str, np.ndarray] = {
    "saturated": np.array([[30, 110, 60], [180, 40, 40], [40, 70, 170], [200, 120, 30], [90, 40, 120],
                           [20, 140, 150]], np.float32),
    "dark": np.array([[30, 30, 35], [55, 42, 36], [28, 36, 62], [60, 60, 58]], np.float32),
    "pale": np.array([[232, 226, 208], [212, 222, 232], [230, 214, 222], [206, 206, 200], [236, 232, 198]],
                     np.float32),
    "white": np.array([[240, 240, 238], [236, 238, 242], [242, 241, 234]], np.float32),
}
# White products come out 6-25 levels under a studio sweep that is itself near 255 (measured on the
# real photos: the sweep's median is 255, white cartons' rims 6-11 levels below it), so the white
# tone is a few levels under the white backdrop, and the shading of a cylinder or a side face adds
# the rest. A product the exact colour of its backdrop has no outline for any method to find.


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
    opacity: np.ndarray | None = None  # float32 in (0, 1] where the product is translucent


def render_scene(
    product: ProductKind,
    background: BackgroundKind,
    size: tuple[int, int] = (384, 384),
    seed: int = 0,
    shadow: bool = True,
    supersample: int = 4,
    jpeg_quality: int | None = 92,
    tone: Tone = "any",
    reflection: bool = False,
) -> SyntheticScene:
    """Render ``product`` on ``background`` at ``size`` (width, height), deterministically per seed,
    in a colour of ``tone``, with a floor ``shadow`` and a mirror ``reflection`` under it if asked."""
    rng = np.random.default_rng(seed)
    width, height = size
    colour = product_colour(tone, rng)
    layer = _draw_product(product, width * supersample, height * supersample, colour, rng)
    alpha, foreground = _downsample_layer(layer, width, height)
    backdrop = _background(background, width, height, rng)
    if shadow:
        backdrop = backdrop * _floor_shadow(layer, supersample, width, height, rng)[..., None]
    if reflection:
        backdrop = _mirror_reflection(backdrop, alpha, foreground, layer.base_y / supersample, rng)
    photo = alpha[..., None] * foreground + (1.0 - alpha[..., None]) * backdrop
    photo = photo + rng.normal(0.0, 1.2, photo.shape).astype(np.float32)
    rgb = np.clip(photo + 0.5, 0, 255).astype(np.uint8)
    if jpeg_quality is not None:
        rgb = _jpeg_roundtrip(rgb, jpeg_quality)
    return SyntheticScene(rgb=rgb, alpha=alpha, foreground=foreground, product=product, background=background)


def product_colour(tone: Tone, rng: np.random.Generator) -> np.ndarray:
    """A product colour of ``tone`` (``any``: a tone drawn first, each equally likely)."""
    if tone == "any":
        tone = ("saturated", "dark", "pale", "white")[int(rng.integers(4))]
    palette = TONES[tone]
    return palette[int(rng.integers(len(palette)))].copy()


def _mirror_reflection(
    backdrop: np.ndarray, alpha: np.ndarray, foreground: np.ndarray, base_y: float, rng: np.random.Generator
) -> np.ndarray:
    """The product mirrored in a glossy floor under its base, fading out downwards: background in
    the truth, as a cut-out must leave it behind."""
    height = alpha.shape[0]
    base = int(round(base_y))
    depth = min(height - base, int(height * rng.uniform(0.12, 0.2)))
    if depth <= 1:
        return backdrop
    rows = np.arange(depth)
    source = np.clip(base - 1 - rows, 0, height - 1)
    strength = rng.uniform(0.25, 0.4) * (1.0 - rows / depth)[:, None]
    mirrored_alpha = alpha[source] * strength
    result = backdrop.copy()
    target = result[base : base + depth]
    result[base : base + depth] = (mirrored_alpha[..., None] * foreground[source]
                                   + (1.0 - mirrored_alpha[..., None]) * target)
    return result


def _jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding of a synthetic scene failed")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("JPEG decoding of a synthetic scene failed")
    return decoded[..., ::-1].copy()


def _downsample_layer(layer: ProductLayer, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Area-average the supersampled layer: alpha = covered fraction (times the opacity of a
    translucent product), colour = mean covered colour."""
    coverage = layer.mask.astype(np.float32)
    if layer.opacity is not None:
        coverage = coverage * layer.opacity
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
        level = rng.uniform(248, 255)
        return _flat(width, height, level + rng.uniform(-1.5, 1.5, 3))
    if kind == "grey":
        level = rng.uniform(175, 215)
        return _flat(width, height, level + rng.uniform(-3, 3, 3))
    if kind == "gradient":
        return _gradient(width, height, rng)
    if kind == "cluttered":
        return _cluttered(width, height, rng)
    if kind == "busy":
        return _busy(width, height, rng)
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


def _cluttered(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A room: a wall and a table top in two colours, with other objects standing around and hanging
    on the wall (boxes, plates, frames), under uneven light."""
    wall = rng.uniform(90, 220, 3).astype(np.float32)
    table = rng.uniform(60, 200, 3).astype(np.float32)
    horizon = int(height * rng.uniform(0.45, 0.65))
    scene = np.empty((height, width, 3), np.float32)
    scene[:horizon] = wall
    scene[horizon:] = table
    for _ in range(int(rng.integers(8, 14))):
        colour = tuple(float(c) for c in rng.uniform(20, 240, 3))
        x, y = int(rng.uniform(0, width)), int(rng.uniform(0, height))
        w, h = int(rng.uniform(0.08, 0.3) * width), int(rng.uniform(0.08, 0.35) * height)
        if rng.uniform() < 0.5:
            cv2.rectangle(scene, (x - w // 2, y - h // 2), (x + w // 2, y + h // 2), colour, -1)
        else:
            cv2.ellipse(scene, (x, y), (max(w // 2, 1), max(h // 2, 1)), 0, 0, 360, colour, -1)
    light = 0.75 + 0.5 * _smooth_noise(width, height, max(width, height) / 4.0, rng)[..., None] * 0.3
    return np.clip(scene * light + 6.0 * _smooth_noise(width, height, 1.0, rng)[..., None], 0, 255)


def _busy(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Foliage or a patterned cloth: high-contrast blotches at several scales in greens and browns."""
    dark = np.array([40, 70, 30], np.float32) + rng.uniform(-15, 15, 3).astype(np.float32)
    light = np.array([150, 190, 90], np.float32) + rng.uniform(-30, 30, 3).astype(np.float32)
    pattern = sum(weight * _smooth_noise(width, height, sigma, rng)
                  for weight, sigma in ((1.0, max(width, height) / 20.0), (0.8, 3.0), (0.5, 1.2)))
    blend = np.clip(0.5 + 0.35 * pattern, 0.0, 1.0)[..., None]
    return dark * (1.0 - blend) + light * blend


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
    darkness: np.ndarray = np.zeros((height, width), np.float32)
    centre = (int(round((x0 + x1) / 2 + rng.uniform(-0.05, 0.15) * (x1 - x0))), int(round(base_y)))
    axes = (max(int(spread), 2), max(int(height * 0.03), 2))
    cv2.ellipse(darkness, centre, axes, 0, 0, 360, 1.0, -1, lineType=cv2.LINE_AA)
    darkness = cv2.GaussianBlur(darkness, (0, 0), max(height * 0.02, 1.5))
    depth = rng.uniform(0.3, 0.45)
    return 1.0 - depth * darkness / max(float(darkness.max()), 1e-6)


# --- products ------------------------------------------------------------------------------------


def _draw_product(
    kind: ProductKind, width: int, height: int, colour: np.ndarray, rng: np.random.Generator
) -> ProductLayer:
    centre_x = width * rng.uniform(0.45, 0.55)
    base_y = height * rng.uniform(0.84, 0.9)
    draw = {"bottle": _bottle, "box": _box, "mug": _mug, "shoe": _shoe, "carton": _carton, "bag": _bag,
            "glass": _glass}[kind]
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


def _carton(
    width: int, height: int, cx: float, base_y: float, colour: np.ndarray, rng: np.random.Generator
) -> ProductLayer:
    """A milk carton: a tall body with a gable top and a white screw cap (white on white when the
    carton is white), a printed band and a shaded side face."""
    mask, paint = _canvas(width, height)
    half_w = height * rng.uniform(0.13, 0.16)
    body_h = height * rng.uniform(0.5, 0.58)
    side = half_w * 0.45
    left, right = cx - half_w, cx + half_w
    top = base_y - body_h
    gable = half_w * 0.55
    front = np.array([[left, top], [right, top], [right, base_y], [left, base_y]], np.float32)
    side_face = np.array([[right, top], [right + side, top - side * 0.3], [right + side, base_y - side * 0.3],
                          [right, base_y]], np.float32)
    roof = np.array([[left, top], [cx, top - gable], [right + side * 0.5, top - gable - side * 0.15],
                     [right + side, top - side * 0.3], [right, top]], np.float32)
    for face, shade in ((front, 1.0), (side_face, 0.8), (roof, 0.92)):
        points = np.round(face).astype(np.int32)
        cv2.fillPoly(mask, [points], 1)
        cv2.fillPoly(paint, [points], tuple(float(c) for c in np.clip(colour * shade, 0, 255)))
    cap_c = (int(cx + half_w * 0.35), int(top - gable * 0.6))
    cap_axes = (int(half_w * 0.32), int(half_w * 0.2))
    cv2.ellipse(mask, cap_c, cap_axes, 0, 0, 360, 1, -1)
    cv2.ellipse(paint, cap_c, cap_axes, 0, 0, 360, (247.0, 247.0, 245.0), -1)
    cv2.ellipse(paint, cap_c, cap_axes, 0, 0, 360, (222.0, 222.0, 220.0), max(int(half_w * 0.02), 1))
    band_colour = TONES["saturated"][int(rng.integers(len(TONES["saturated"])))]
    band = (int(left), int(base_y - body_h * 0.45), int(right), int(base_y - body_h * 0.25))
    cv2.rectangle(paint, band[:2], band[2:], tuple(float(c) for c in band_colour), -1)
    _put_label_text(paint, "MILK", (int(left + half_w * 0.2), int(top + body_h * 0.15), int(right - half_w * 0.2),
                                    int(top + body_h * 0.4)), (30, 50, 140))
    return ProductLayer(mask, paint, base_y, (left, right + side))


def _bag(
    width: int, height: int, cx: float, base_y: float, colour: np.ndarray, rng: np.random.Generator
) -> ProductLayer:
    """A tote bag: a body with two thin strap handles, each enclosing a real hole of backdrop."""
    mask, paint = _canvas(width, height)
    half_w = height * rng.uniform(0.22, 0.27)
    body_h = height * rng.uniform(0.36, 0.42)
    top = base_y - body_h
    body = np.array([[cx - half_w * 0.88, top], [cx + half_w * 0.88, top], [cx + half_w, base_y],
                     [cx - half_w, base_y]], np.float32)
    cv2.fillPoly(mask, [np.round(body).astype(np.int32)], 1)
    paint[:] = colour * _cylinder_shading(width, cx - half_w * 1.6, cx + half_w * 1.6)
    strap = max(int(height * rng.uniform(0.012, 0.02)), 2)
    strap_colour = tuple(float(c) for c in np.clip(colour * 0.75, 0, 255))
    for offset in (-0.45, 0.45):
        centre = (int(cx + offset * half_w), int(top))
        axes = (int(half_w * 0.3), int(body_h * rng.uniform(0.45, 0.6)))
        cv2.ellipse(mask, centre, axes, 0, 180, 360, 1, strap)
        cv2.ellipse(paint, centre, axes, 0, 180, 360, strap_colour, strap)
    seam = int(top + body_h * 0.12)
    cv2.line(paint, (int(cx - half_w * 0.9), seam), (int(cx + half_w * 0.9), seam),
             tuple(float(c) for c in np.clip(colour * 0.85, 0, 255)), max(strap // 2, 1))
    return ProductLayer(mask, paint, base_y, (cx - half_w, cx + half_w))


def _glass(
    width: int, height: int, cx: float, base_y: float, colour: np.ndarray, rng: np.random.Generator
) -> ProductLayer:
    """A translucent glass bottle: its body lets 30-40% of the backdrop through (true alpha 0.6-0.7),
    rims and cap are opaque, and a vertical highlight runs down the body."""
    layer = _bottle(width, height, cx, base_y, colour, rng)
    opacity = np.full(layer.mask.shape, rng.uniform(0.6, 0.7), np.float32)
    rim = cv2.morphologyEx(layer.mask, cv2.MORPH_GRADIENT, np.ones((2 * (height // 120) + 3,) * 2, np.uint8))
    opacity[rim > 0] = 0.95
    ys = np.nonzero(layer.mask.any(axis=1))[0]
    opacity[: int(ys[0] + (ys[-1] - ys[0]) * 0.12)] = 1.0  # the cap
    tint = np.clip(colour * 0.6 + 100.0, 0, 255)
    paint = np.where(opacity[..., None] < 0.9, tint, layer.colour).astype(np.float32)
    return ProductLayer(layer.mask, paint, layer.base_y, layer.x_range, opacity)


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

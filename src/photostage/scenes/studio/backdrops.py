"""Things behind and on the set besides materials: skies, bokeh discs, neon tubes, and the light
patterns a window or plants cast (gobos). Masks are drawn at low resolution with OpenCV and
blurred: they are soft by nature, so the low resolution never shows.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from photostage.imaging import noise
from photostage.scenes.studio.colours import RGB
from photostage.scenes.studio.lighting import light_direction

_MASK_SIDE = 256  # longest side of gobo masks before upsampling

_DAY_SKY = ((96, 150, 214), (176, 206, 232), (226, 232, 236))  # zenith, mid, horizon
_SUNSET_SKY = ((64, 64, 122), (224, 128, 112), (252, 196, 128))


def _rgb(colour: RGB) -> np.ndarray:
    return np.asarray(colour, np.float32) / np.float32(255.0)


def sky(
    rng: np.random.Generator,
    height: int,
    width: int,
    horizon: int,
    sunset: bool,
    light_angle: float,
    detail_octaves: int,
) -> np.ndarray:
    """An (H, W, 3) sky down to ``horizon`` (rows below repeat the horizon haze): gradient, sun glow,
    soft clouds."""
    zenith, middle, low = (_rgb(colour) for colour in (_SUNSET_SKY if sunset else _DAY_SKY))
    rows = np.clip(np.arange(height, dtype=np.float32) / max(horizon, 1), 0.0, 1.0)[:, None, None]
    upper = zenith + (middle - zenith) * np.clip(rows * 1.6, 0.0, 1.0)
    gradient = upper + (low - upper) * np.clip((rows - 0.55) / 0.45, 0.0, 1.0) ** 1.4
    image: np.ndarray = np.broadcast_to(gradient, (height, width, 3)).astype(np.float32)
    light_x, _ = light_direction(light_angle)
    sun = (width * (0.5 + 0.32 * light_x), horizon * (0.82 if sunset else 0.35))
    cols = np.arange(width, dtype=np.float32)[None, :]
    distance = np.sqrt((cols - sun[0]) ** 2 + ((np.arange(height, dtype=np.float32)[:, None] - sun[1]) * 1.4) ** 2)
    glow = np.exp(-distance / (0.22 * width)) * (0.55 if sunset else 0.3)
    sun_colour = np.asarray([1.0, 0.86, 0.6] if sunset else [1.0, 0.98, 0.92], np.float32)
    image = image + glow[..., None] * (sun_colour - image) * 0.9
    clouds = noise.fractal(rng, height, width, width * 0.35, max(3, detail_octaves - 1), 0.55, stretch=3.0)
    cover = np.clip((clouds + 0.04) * 4.0, 0.0, 1.0) * np.clip(1.0 - rows[..., 0] * 0.9, 0.0, 1.0)
    cloud_colour = np.asarray([0.98, 0.8, 0.74] if sunset else [0.97, 0.97, 0.98], np.float32)
    return (image + cover[..., None] * 0.55 * (cloud_colour - image)).astype(np.float32)


def sea(
    rng: np.random.Generator, height: int, width: int, horizon: int, shore: int, light_angle: float
) -> tuple[np.ndarray, np.ndarray]:
    """The sea between the horizon and the shore line: ((H, W, 3) colour, (H, W) weight).

    Deep blue at the horizon to turquoise shallows, glittering toward the sun's side, long swell
    lines compressed by perspective, and a line of surf foam where it meets the sand.
    """
    rows = np.arange(height, dtype=np.float32)[:, None]
    depth = np.clip((rows - horizon) / max(shore - horizon, 1), 0.0, 1.0)  # 0 far, 1 at the shore
    far, near = np.asarray([0.16, 0.34, 0.52], np.float32), np.asarray([0.3, 0.62, 0.66], np.float32)
    colour = far[None, None, :] + (near - far)[None, None, :] * (depth**1.6)[..., None]
    swell_phase = 1.0 / np.maximum(depth * 0.9 + 0.05, 0.05)
    wobble = noise.fractal(rng, height, width, width * 0.25, 3, 0.5, stretch=6.0)
    swell = np.sin(swell_phase * 6.0 + wobble * 8.0) * np.float32(0.5) + np.float32(0.5)
    light_x, _ = light_direction(light_angle)
    cols = (np.arange(width, dtype=np.float32)[None, :] / width - 0.5) * 2.0
    glitter_side = np.clip(1.0 - np.abs(cols - light_x * 0.5) * 1.2, 0.0, 1.0)
    sparkle = noise.value_noise(rng, height, width, height / 2.0, width / 6.0)
    glints = np.clip((sparkle - 0.9) * 8.0, 0.0, 1.0) * glitter_side * (1.0 - depth) * 0.6
    colour = colour * (0.9 + 0.16 * swell)[..., None] + glints[..., None]
    foam_line = shore + noise.fractal(rng, 1, width, width * 0.2, 3, 0.5)[0] * (shore - horizon) * 0.15
    foam = np.exp(-(((rows - foam_line[None, :]) / max(1.5, (shore - horizon) * 0.05)) ** 2))
    colour = colour + (np.float32(0.95) - colour) * (foam * 0.85)[..., None]
    weight = np.clip((foam_line[None, :] + max(1.0, (shore - horizon) * 0.04) - rows) / 1.5, 0.0, 1.0)
    weight = weight * (rows >= horizon)
    return colour.astype(np.float32), weight.astype(np.float32)


def _add_patch(layer: np.ndarray, patch: np.ndarray, left: int, top: int) -> None:
    """Add ``patch`` into ``layer`` at (left, top), clipped to the layer."""
    height, width = layer.shape[:2]
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(width, left + patch.shape[1]), min(height, top + patch.shape[0])
    if x1 > x0 and y1 > y0:
        layer[y0:y1, x0:x1] += patch[y0 - top : y1 - top, x0 - left : x1 - left]


def _disc(radius: float, centre_x: float, centre_y: float) -> np.ndarray:
    """An out-of-focus highlight: a smooth-edged disc with a faintly brighter rim, as a patch."""
    side = int(2 * radius) + 5
    xs = np.arange(side, dtype=np.float32)[None, :] + 0.5 - centre_x
    ys = np.arange(side, dtype=np.float32)[:, None] + 0.5 - centre_y
    inside = radius - np.sqrt(xs * xs + ys * ys)  # distance inside the edge, in pixels
    edge = max(0.8, radius * 0.06)
    body = np.clip(inside / edge + 0.5, 0.0, 1.0)
    rim = np.exp(-((inside / max(1.0, radius * 0.12)) ** 2)) * 0.3
    return (body * (0.85 + rim)).astype(np.float32)


def bokeh(
    rng: np.random.Generator,
    height: int,
    width: int,
    rows: tuple[int, int],
    colours: list[RGB],
    count: int,
    strength: float,
) -> np.ndarray:
    """Additive (H, W, 3) out-of-focus light discs within ``rows``, with slightly brighter rims."""
    scale = min(1.0, _MASK_SIDE * 2 / max(height, width))
    small_h, small_w = max(8, round(height * scale)), max(8, round(width * scale))
    layer: np.ndarray = np.zeros((small_h, small_w, 3), np.float32)
    top, bottom = (round(rows[0] * scale), max(round(rows[0] * scale) + 2, round(rows[1] * scale)))
    for _ in range(count):
        radius = max(1.5, float(small_w * rng.uniform(0.018, 0.06)))
        centre_x, centre_y = float(rng.uniform(0, small_w)), float(rng.uniform(top, bottom))
        colour = _rgb(colours[int(rng.integers(len(colours)))]) * float(rng.uniform(0.25, 0.75))
        left, top_row = int(centre_x - radius) - 2, int(centre_y - radius) - 2
        _add_patch(layer, _disc(radius, centre_x - left, centre_y - top_row)[..., None] * colour, left, top_row)
    layer = cv2.GaussianBlur(layer, (0, 0), max(0.6, small_w * 0.003))
    return cv2.resize(layer, (width, height), interpolation=cv2.INTER_LINEAR) * np.float32(strength)


def _wide_blur(mask: np.ndarray, sigma: float) -> np.ndarray:
    """A large Gaussian blur computed at reduced resolution (a glow has no fine detail)."""
    factor = max(1, min(4, int(sigma // 2)))
    if factor == 1:
        return cv2.GaussianBlur(mask, (0, 0), sigma)
    height, width = mask.shape[:2]
    small = cv2.resize(mask, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def neon_tubes(
    rng: np.random.Generator, height: int, width: int, junction: int, colours: tuple[RGB, RGB]
) -> np.ndarray:
    """Additive (H, W, 3) glowing neon shapes on the wall: a ring or arch and a bar, with halos."""
    scale = min(1.0, _MASK_SIDE * 2 / max(height, width))
    small_h, small_w = max(8, round(height * scale)), max(8, round(width * scale))
    wall_h = max(4, round(junction * scale))
    glow = np.zeros((small_h, small_w, 3), np.float32)
    thickness = max(1, round(small_w * 0.008))
    centre = (round(small_w * rng.uniform(0.3, 0.7)), round(wall_h * rng.uniform(0.35, 0.55)))
    radius = round(min(small_w, wall_h) * rng.uniform(0.22, 0.36))
    shapes = np.zeros((2, small_h, small_w), np.float32)
    if rng.random() < 0.5:
        cv2.circle(shapes[0], centre, radius, 1.0, thickness, lineType=cv2.LINE_AA)
    else:
        cv2.ellipse(shapes[0], centre, (radius, radius), 0, 180, 360, 1.0, thickness, lineType=cv2.LINE_AA)
    bar_y = round(wall_h * rng.uniform(0.15, 0.8))
    bar_x = round(small_w * rng.uniform(0.05, 0.25))
    side = rng.random() < 0.5
    x0, x1 = (
        (bar_x, bar_x + round(small_w * 0.25)) if side else (small_w - bar_x - round(small_w * 0.25), small_w - bar_x)
    )
    cv2.line(shapes[1], (x0, bar_y), (x1, bar_y), 1.0, thickness, lineType=cv2.LINE_AA)
    for index, colour in enumerate(colours):
        tube = shapes[index]
        halo = _wide_blur(tube, small_w * 0.012) * 3.0 + _wide_blur(tube, small_w * 0.05) * 6.0
        rgb = _rgb(colour)
        glow += halo[..., None] * rgb[None, None, :] + tube[..., None] * (0.6 + 0.4 * rgb)[None, None, :]
    return cv2.resize(glow, (width, height), interpolation=cv2.INTER_LINEAR)


def _mask_canvas(height: int, width: int) -> tuple[np.ndarray, float]:
    scale = min(1.0, _MASK_SIDE / max(height, width))
    return np.zeros((max(8, round(height * scale)), max(8, round(width * scale))), np.float32), scale


def _upsample(mask: np.ndarray, height: int, width: int, blur: float) -> np.ndarray:
    soft = cv2.GaussianBlur(mask, (0, 0), max(0.5, blur)) if blur > 0 else mask
    return cv2.resize(soft, (width, height), interpolation=cv2.INTER_LINEAR)


def window_light(
    rng: np.random.Generator,
    height: int,
    width: int,
    junction: float | None,
    light_angle: float,
    softness: float,
) -> np.ndarray:
    """(H, W) in [0, 1]: sunlit window panes thrown on the wall (and floor), sheared away from the
    light. ``junction`` None is a flat lay (one plane)."""
    mask, scale = _mask_canvas(height, width)
    small_h, small_w = mask.shape
    light_x, _ = light_direction(light_angle)
    shear = -light_x * 0.45
    columns, rows = int(rng.integers(2, 4)), 2
    pane_w, pane_h = small_w * rng.uniform(0.09, 0.13), small_h * rng.uniform(0.16, 0.22)
    gap = max(1.0, small_w * 0.012)
    left = small_w * (0.5 - light_x * 0.28) - columns * (pane_w + gap) / 2
    top = (junction * scale * 0.12) if junction is not None else small_h * rng.uniform(0.1, 0.3)
    for row in range(rows):
        for column in range(columns):
            x0, y0 = left + column * (pane_w + gap), top + row * (pane_h + gap)
            corners = np.asarray([[x0, y0], [x0 + pane_w, y0], [x0 + pane_w, y0 + pane_h], [x0, y0 + pane_h]])
            corners[:, 0] += (corners[:, 1] - top) * shear
            cv2.fillPoly(mask, [np.round(corners * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
    return _upsample(mask, height, width, small_w * (0.004 + 0.02 * softness))


def plant_shadows(rng: np.random.Generator, height: int, width: int, light_angle: float, softness: float) -> np.ndarray:
    """(H, W) in [0, 1]: dappled shadows of leafy branches reaching in from the light's side."""
    mask, _ = _mask_canvas(height, width)
    small_h, small_w = mask.shape
    light_x, light_y = light_direction(light_angle)
    for _ in range(int(rng.integers(2, 4))):
        start = np.asarray(
            [
                small_w * (0.5 + light_x * 0.62) + rng.uniform(-0.2, 0.2) * small_w,
                small_h * (0.5 + light_y * 0.62) + rng.uniform(-0.35, 0.35) * small_h,
            ]
        )
        heading = math.atan2(-light_y, -light_x) + rng.uniform(-0.6, 0.6)
        length = small_w * rng.uniform(0.45, 0.8)
        steps = 9
        for step in range(steps):
            heading += rng.uniform(-0.18, 0.18)
            point = start + np.asarray([math.cos(heading), math.sin(heading)]) * length * step / steps
            nxt = start + np.asarray([math.cos(heading), math.sin(heading)]) * length * (step + 1) / steps
            cv2.line(
                mask,
                tuple(np.round(point).astype(int)),
                tuple(np.round(nxt).astype(int)),
                1.0,
                max(1, round(small_w * 0.006)),
                lineType=cv2.LINE_AA,
            )
            for side in (-1, 1):
                leaf_angle = heading + side * rng.uniform(0.5, 1.1)
                leaf_len = small_w * rng.uniform(0.045, 0.09) * (1.0 - 0.4 * step / steps)
                centre = point + np.asarray([math.cos(leaf_angle), math.sin(leaf_angle)]) * leaf_len
                axes = (max(1, round(leaf_len)), max(1, round(leaf_len * rng.uniform(0.3, 0.45))))
                cv2.ellipse(
                    mask,
                    tuple(np.round(centre).astype(int)),
                    axes,
                    math.degrees(leaf_angle),
                    0,
                    360,
                    1.0,
                    -1,
                    lineType=cv2.LINE_AA,
                )
    return _upsample(mask, height, width, small_w * (0.006 + 0.025 * softness))

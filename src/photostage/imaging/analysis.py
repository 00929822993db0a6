"""What a photograph says about the scene it shows: where a product can stand, where the light
comes from and how soft it is, its colour temperature, depth of field and noise.

:func:`analyse_scene` is a pure function of the pixels (no model, no I/O), run once per request
on a template. It reads:

* **the support surface** — the floor or table top, found as the strongest horizontal split of
  the picture into a "behind" and an "on" region (a colour/texture change along a long,
  level line: a horizon, a wall/floor line, a table's far edge), and the surface's near boundary
  (a table's front edge) when there is one. ``support_row`` is where a product's base stands on
  it: a little in front of the far edge. A picture with no such split (a table seen from above,
  a close texture) is a ``flat`` surface: a flat lay, where any place is on the surface;
* **the light** — the direction it comes from (in :mod:`shadows`' convention: degrees clockwise
  from the top; in a front view the upper half of the dial is light in front of the subject) from
  the brightness gradient across the surface and the whole frame, and its softness from how
  strong that gradient and the picture's local contrast are;
* **colour temperature** — the illuminant's colour from the bright, nearly neutral pixels (a
  white-patch/grey-world mix), as an RGB white point and in kelvin (McCamy's formula);
* **depth of field** — how much softer the region behind the support line is than the surface
  at the support line, measured on textured pixels only (a plain wall is not "blurred");
* **noise** — the sensor noise's standard deviation in 8-bit levels (Immerkær's estimator over
  the flattest blocks).

Everything except the noise runs on a copy at most 320 px wide, so it costs a few milliseconds.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

RGB = tuple[int, int, int]
SurfaceKind = Literal["floor", "flat"]

_PROBE_WIDTH = 320
_NOISE_SIDE = 1024
_LUMA = np.asarray([0.2126, 0.7152, 0.0722], np.float32)
_STAND_DEPTH = 0.35  # the support row lies this far from the far edge toward the near edge
_MIN_SPLIT = 10.0  # Lab distance × edge weight below which there is no surface edge


@dataclass(frozen=True)
class SceneFacts:
    """The analysed facts of a scene photograph; rows are fractions of its height."""

    surface: SurfaceKind
    edge_row: float | None  # horizon / wall-floor line / table far edge
    near_row: float  # where the surface ends toward the camera (1.0: the frame's bottom)
    support_row: float  # where a product's base stands
    light_angle: float  # degrees clockwise from the top the key light comes from
    light_strength: float  # 0 (flat, all-round light) … 1 (one strong direction)
    softness: float  # 0 hard … 1 very soft
    white_point: tuple[float, float, float]  # the illuminant's RGB, largest channel 1
    kelvin: float  # correlated colour temperature
    depth_of_field: float  # 0 all sharp … 1 the background fully soft
    noise: float  # sensor noise σ in 8-bit levels
    exposure: float  # mean luminance of the picture, 0–1
    surface_colour: RGB  # mean colour of the surface around the support row
    backdrop_colour: RGB  # mean colour behind the edge (of the whole frame for a flat lay)

    @property
    def has_edge(self) -> bool:
        return self.edge_row is not None


def _probe(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    scale = min(1.0, _PROBE_WIDTH / width)
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / np.float32(255.0), cv2.COLOR_RGB2Lab)


def _split_scores(lab: np.ndarray, low: int, high: int) -> np.ndarray:
    """For every row r in [low, high): how strongly the picture changes at r (Lab distance
    between the bands above and below, weighted by how much of the row is a level edge)."""
    height = lab.shape[0]
    band = max(3, round(0.18 * height))
    rows = lab.mean(axis=1)  # (H, 3) mean colour per row
    spread = lab[..., 0].std(axis=1)  # texture per row
    cumulative = np.vstack([np.zeros((1, 3), np.float32), np.cumsum(rows, axis=0)])
    spread_cum = np.concatenate([[0.0], np.cumsum(spread)])
    smooth = cv2.GaussianBlur(lab[..., 0], (0, 0), 1.2)
    gradient = np.abs(cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3))
    threshold = max(2.0, float(np.percentile(gradient, 90)))
    level = (gradient > threshold).mean(axis=1)
    level = np.maximum(level, np.concatenate([level[1:], [0.0]]))
    level = np.maximum(level, np.concatenate([[0.0], level[:-1]]))
    scores = np.zeros(height, np.float32)
    for row in range(max(1, low), min(height - 1, high)):
        top, bottom = max(0, row - band), min(height, row + band)
        above = (cumulative[row] - cumulative[top]) / (row - top)
        below = (cumulative[bottom] - cumulative[row]) / (bottom - row)
        texture = abs(
            (spread_cum[row] - spread_cum[top]) / (row - top) - (spread_cum[bottom] - spread_cum[row]) / (bottom - row)
        )
        distance = float(np.linalg.norm(above - below)) + 0.5 * texture
        scores[row] = distance * (0.35 + level[row])
    return scores


def _edges(lab: np.ndarray) -> tuple[float | None, float]:
    """(far edge row, near edge row) as fractions; None when the picture has no surface edge."""
    height = lab.shape[0]
    scores = _split_scores(lab, round(0.12 * height), round(0.9 * height))
    best = int(np.argmax(scores))
    if scores[best] < _MIN_SPLIT:
        return None, 1.0
    # Is the lower part a surface seen in perspective, or just another picture region? A floor
    # or table fills the frame's width below the edge; the edge is near level across the frame.
    edge = best / height
    near = 1.0
    start = best + round(0.15 * height)
    if start < height - round(0.05 * height):
        below = _split_scores(lab, start, round(0.97 * height))
        candidate = int(np.argmax(below))
        if below[candidate] >= 0.8 * scores[best] and below[candidate] >= _MIN_SPLIT:
            near = candidate / height
    return edge, near


def _level_check(lab: np.ndarray, edge: float) -> bool:
    """Whether the split at ``edge`` runs across the frame onto one surface: the left, middle and
    right thirds all change at about that row (a horizon, a wall foot, not one object's outline),
    and below it they show the same material."""
    height, width = lab.shape[:2]
    row = round(edge * height)
    band = max(3, round(0.12 * height))
    belows = []
    for third in range(3):
        part = lab[:, third * width // 3 : (third + 1) * width // 3]
        above = part[max(0, row - band) : row].reshape(-1, 3).mean(axis=0)
        below = part[row : min(height, row + band)].reshape(-1, 3).mean(axis=0)
        if float(np.linalg.norm(above - below)) <= 6.0:
            return False
        belows.append(below)
    spread = max(float(np.linalg.norm(a - b)) for a in belows for b in belows)
    return spread < 35.0


def _light(luma: np.ndarray, top: int, bottom: int, view_is_flat: bool) -> tuple[float, float, float]:
    """(angle, strength, softness) from the brightness gradient of the surface and the frame."""
    height, width = luma.shape
    smooth = cv2.GaussianBlur(luma, (0, 0), max(2.0, width / 40))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xs = xs / width - 0.5
    ys = ys / height - 0.5
    region = slice(top, max(top + 2, bottom))
    sample = smooth[region]
    lo, hi = np.percentile(sample, [5, 95])
    keep = (sample >= lo) & (sample <= hi)
    design = np.stack([np.ones(int(keep.sum()), np.float32), xs[region][keep], ys[region][keep]], axis=1)
    coefficients, *_ = np.linalg.lstsq(design, sample[keep], rcond=None)
    mean = max(float(coefficients[0]), 1e-3)
    across = float(coefficients[1]) / mean  # relative brightness change left → right
    down = float(coefficients[2]) / mean  # relative change far → near (top → bottom)
    frame = np.linalg.lstsq(
        np.stack([np.ones(xs.size, np.float32), xs.ravel(), ys.ravel()], axis=1), smooth.ravel(), rcond=None
    )[0]
    across = 0.6 * across + 0.4 * float(frame[1]) / max(float(frame[0]), 1e-3)
    light_x = float(np.clip(across * 2.5, -1.0, 1.0))
    if view_is_flat:
        light_y = float(np.clip(-down * 2.5, -1.0, 1.0))  # brighter at the top: light from the top
        depth = light_y if abs(light_y) > 0.05 else 0.7
    else:
        # A floor brighter toward the back than near the camera is lit from behind (backlight).
        depth = -0.5 if down < -0.25 else 0.75
    angle = math.degrees(math.atan2(light_x, depth)) % 360.0
    strength = float(np.clip(math.hypot(across, down) * 1.6, 0.0, 1.0))
    contrast = float(np.std(cv2.Laplacian(cv2.GaussianBlur(luma, (0, 0), 1.5), cv2.CV_32F))) / max(mean, 1e-3)
    softness = float(np.clip(0.9 - 0.55 * strength - 0.8 * contrast, 0.15, 0.95))
    return angle, strength, softness


def _white_point(rgb: np.ndarray) -> tuple[tuple[float, float, float], float]:
    """The illuminant: the mean of bright, nearly neutral pixels (falling back to grey world)."""
    pixels = rgb.reshape(-1, 3).astype(np.float32)
    luma = pixels @ _LUMA
    chroma = pixels.max(axis=1) - pixels.min(axis=1)
    low, high = np.percentile(luma, [60, 98])
    chosen = pixels[(luma >= low) & (luma <= high) & (chroma < 0.35 * np.maximum(luma, 1.0))]
    source = chosen if len(chosen) >= 50 else pixels
    mean = source.mean(axis=0) * 0.7 + pixels.mean(axis=0) * 0.3
    white = mean / max(float(mean.max()), 1e-3)
    linear = np.where(white <= 0.04045, white / 12.92, ((white + 0.055) / 1.055) ** 2.4)
    xyz = (
        np.asarray([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]], np.float32) @ linear
    )
    total = float(xyz.sum()) or 1.0
    x, y = float(xyz[0]) / total, float(xyz[1]) / total
    n = (x - 0.3320) / (0.1858 - y if abs(0.1858 - y) > 1e-4 else -1e-4)
    kelvin = float(np.clip(449 * n**3 + 3525 * n**2 + 6823.3 * n + 5520.33, 1500.0, 15000.0))
    return (float(white[0]), float(white[1]), float(white[2])), kelvin


def _sharpness(luma: np.ndarray) -> np.ndarray:
    """Per pixel: fine detail relative to coarser detail (drops where the picture is out of focus)."""
    fine_blur = cv2.GaussianBlur(luma, (0, 0), 0.8)
    mid_blur = cv2.GaussianBlur(luma, (0, 0), 2.5)
    fine = np.abs(luma - fine_blur)
    mid = np.abs(fine_blur - mid_blur)
    return np.stack([fine, mid])


def _depth_of_field(luma: np.ndarray, edge_row: int | None, support_row: int) -> float:
    if edge_row is None or edge_row < 6:
        return 0.0
    height = luma.shape[0]
    layers = _sharpness(luma)
    behind = layers[:, : max(2, edge_row - 2)]
    band = max(3, round(0.08 * height))
    front = layers[:, max(0, support_row - band) : min(height, support_row + band)]

    def ratio(part: np.ndarray) -> float | None:
        fine, mid = part[0], part[1]
        textured = mid > max(1.0, float(np.percentile(mid, 60)))
        if textured.sum() < 30:
            return None
        return float(fine[textured].mean() / max(float(mid[textured].mean()), 1e-3))

    back, near = ratio(behind), ratio(front)
    if back is None or near is None or near <= 0:
        return 0.0
    return float(np.clip(1.0 - back / near, 0.0, 1.0) * 1.6) if back < near else 0.0


def _noise(rgb: np.ndarray) -> float:
    """Immerkær's fast noise estimate, over the flattest tenth of 32-px blocks."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    height, width = grey.shape
    if max(height, width) > _NOISE_SIDE:  # a central crop keeps the noise's scale (no resampling)
        top, left = max(0, (height - _NOISE_SIDE) // 2), max(0, (width - _NOISE_SIDE) // 2)
        grey = grey[top : top + _NOISE_SIDE, left : left + _NOISE_SIDE]
    kernel = np.asarray([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = np.abs(cv2.filter2D(grey, -1, kernel))[1:-1, 1:-1]
    block = 32
    rows, cols = response.shape[0] // block, response.shape[1] // block
    if rows == 0 or cols == 0:
        return float(math.sqrt(math.pi / 2) * response.mean() / 6.0)
    blocks = response[: rows * block, : cols * block].reshape(rows, block, cols, block).mean(axis=(1, 3))
    flattest = np.sort(blocks.ravel())[: max(1, blocks.size // 10)]
    return float(math.sqrt(math.pi / 2) * flattest.mean() / 6.0)


def _mean_colour(pixels: np.ndarray) -> RGB:
    mean = pixels.reshape(-1, 3).mean(axis=0) if pixels.size else np.full(3, 128.0)
    return (round(float(mean[0])), round(float(mean[1])), round(float(mean[2])))


def analyse_scene(rgb: np.ndarray) -> SceneFacts:
    """Analyse a scene photograph ((H, W, 3) uint8 RGB)."""
    if rgb.ndim == 2:
        rgb = np.dstack([rgb] * 3)
    rgb = np.ascontiguousarray(rgb[..., :3])
    small = _probe(rgb)
    lab = _lab(small)
    height = small.shape[0]
    edge, near = _edges(lab)
    if edge is not None and not _level_check(lab, edge):
        edge, near = None, 1.0
    surface: SurfaceKind = "floor" if edge is not None else "flat"
    support = edge + _STAND_DEPTH * (near - edge) if edge is not None else 0.5
    luma = small.astype(np.float32) @ _LUMA
    top = round((edge if edge is not None else 0.0) * height)
    bottom = round(near * height)
    angle, strength, softness = _light(luma, top, bottom, surface == "flat")
    white, kelvin = _white_point(small)
    edge_px = None if edge is None else round(edge * height)
    dof = _depth_of_field(luma, edge_px, round(support * height))
    band = max(2, round(0.06 * height))
    support_px = round(support * height)
    surface_colour = _mean_colour(small[max(0, support_px - band) : min(height, support_px + band)].astype(np.float32))
    backdrop = small[: max(1, edge_px)] if edge_px is not None else small
    return SceneFacts(
        surface=surface,
        edge_row=edge,
        near_row=near,
        support_row=float(support),
        light_angle=angle,
        light_strength=strength,
        softness=softness,
        white_point=white,
        kelvin=kelvin,
        depth_of_field=dof,
        noise=_noise(rgb),
        exposure=float(luma.mean() / 255.0),
        surface_colour=surface_colour,
        backdrop_colour=_mean_colour(backdrop.astype(np.float32)),
    )


_CACHE: dict[tuple[tuple[int, ...], bytes], SceneFacts] = {}
_CACHE_SIZE = 8
_CACHE_LOCK = threading.Lock()


def cached_analysis(rgb: np.ndarray) -> SceneFacts:
    """:func:`analyse_scene`, remembered for the last few pictures (a shop stages its catalogue on
    a few templates of its own, and the images of one request share theirs, so each is read once),
    keyed by shape and a digest of every 4th pixel; safe across the server's render threads."""
    sample = np.ascontiguousarray(rgb[::4, ::4])
    key = (rgb.shape, hashlib.blake2b(sample.tobytes(), digest_size=16).digest())
    with _CACHE_LOCK:
        facts = _CACHE.get(key)
    if facts is None:
        facts = analyse_scene(rgb)
        with _CACHE_LOCK:
            if key not in _CACHE and len(_CACHE) >= _CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = facts
    return facts

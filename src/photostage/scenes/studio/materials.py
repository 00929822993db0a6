"""Procedural materials: flat albedo textures (float32 RGB in [0, 1]) for surfaces and walls.

Each material is a small function of a generator, a size, a base colour, the quality knobs and
``unit`` — the texture's pixels per "hand width" (the size of a tile, a plank's width, the
period of a marble vein swirl). Perspective, light and shadow are applied later by the renderer;
a material only says what the surface looks like under flat, even light.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from photostage.imaging import noise
from photostage.scenes.studio.colours import RGB
from photostage.scenes.studio.quality import Quality


@dataclass(frozen=True)
class MaterialRequest:
    """What to render: a material at a size, in a colour, at a physical scale."""

    height: int
    width: int
    colour: RGB
    unit: float  # texture pixels per hand width
    quality: Quality
    accents: tuple[RGB, RGB]


def _rgb(colour: RGB) -> np.ndarray:
    return np.asarray(colour, np.float32) / np.float32(255.0)


def _tinted(shade: np.ndarray, colour: RGB) -> np.ndarray:
    """A grey ``shade`` field (1 = the base colour) coloured: (H, W, 3)."""
    return shade[..., None] * _rgb(colour)[None, None, :]


def _lerp_colours(weight: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Per-pixel blend of two colours by ``weight`` (0 → low, 1 → high): (H, W, 3)."""
    return low[None, None, :] + weight[..., None] * (high - low)[None, None, :]


def _fine(rng: np.random.Generator, request: MaterialRequest, feature_px: float, stretch: float = 1.0) -> np.ndarray:
    """High-frequency detail (pores, fibres, grain) whose strength follows the quality's detail."""
    octaves = max(1, request.quality.octaves - 3)
    return noise.fractal(rng, request.height, request.width, feature_px, octaves, 0.6, stretch) * np.float32(
        request.quality.detail
    )


def paint(rng: np.random.Generator, request: MaterialRequest) -> np.ndarray:
    """A painted wall: nearly flat colour with a faint roller mottle."""
    mottle = noise.fractal(rng, request.height, request.width, request.unit * 3, request.quality.octaves)
    shade = 1.0 + 0.035 * mottle + 0.02 * _fine(rng, request, 3.0)
    return _tinted(shade, request.colour)


def paper(rng: np.random.Generator, request: MaterialRequest) -> np.ndarray:
    """Seamless paper: flat, with a very fine fibre."""
    mottle = noise.fractal(rng, request.height, request.width, request.unit * 4, request.quality.octaves)
    shade = 1.0 + 0.02 * mottle + 0.025 * _fine(rng, request, 2.5, stretch=3.0)
    return _tinted(shade, request.colour)


def plaster(rng: np.random.Generator, request: MaterialRequest) -> np.ndarray:
    """Limewash/Venetian plaster: cloudy tonal variation and trowel strokes."""
    clouds = noise.fractal(rng, request.height, request.width, request.unit * 2.5, request.quality.octaves, 0.55)
    strokes = noise.fractal(rng, request.height, request.width, request.unit * 0.7, 3, 0.5, stretch=2.5)
    shade = 1.0 + 0.16 * clouds + 0.05 * strokes + 0.03 * _fine(rng, request, 2.0)
    return _tinted(shade, request.colour)


def concrete(rng: np.random.Generator, request: MaterialRequest) -> np.ndarray:
    """Cast concrete: blotchy mottling, fine aggregate speckle and scattered pores."""
    height, width = request.height, request.width
    blotches = noise.fractal(rng, height, width, request.unit * 2.0, request.quality.octaves, 0.6)
    stains = noise.fractal(rng, height, width, request.unit * 5.0, 3, 0.5)
    speckle = _fine(rng, request, 1.6)
    pores = noise.value_noise(rng, height, width, height / 2.2, width / 2.2)
    pore_mask = np.clip((pores - 0.86) * 9.0, 0.0, 1.0) * np.float32(request.quality.detail)
    shade = 1.0 + 0.2 * blotches + 0.1 * stains + 0.12 * speckle - 0.22 * pore_mask
    return _tinted(shade, request.colour)


def stone(rng: np.random.Generator, request: MaterialRequest) -> np.ndarray:
    """Natural stone (travertine/limestone/slate): soft bands, tonal clouds, sparse pits, fine grain."""
    height, width, octaves = request.height, request.width, request.quality.octaves
    bands = noise.fractal(rng, height, width, request.unit * 1.2, octaves, 0.5, stretch=5.0)
    bend = noise.fractal(rng, height, width, request.unit * 3.0, 2)
    bands = noise.warp(bands, bend, bend * 0.3, request.unit * 0.8)
    clouds = noise.fractal(rng, height, width, request.unit * 2.5, octaves, 0.55)
    pits = noise.value_noise(rng, height, width, height / 3.0, width / 3.0)
    pit_mask = np.clip((pits - 0.9) * 8.0, 0.0, 1.0) * np.float32(request.quality.detail)
    grain = _fine(rng, request, 1.5)
    shade = 1.0 + 0.22 * bands + 0.14 * clouds + 0.05 * grain - 0.16 * pit_mask
    albedo = _tinted(shade, request.colour)
    warm = np.clip(bands, 0.0, None)[..., None] * np.asarray([0.04, 0.015, -0.02], np.float32)
    return albedo + warm


def _vein_profile(sharpness: float) -> np.ndarray:
    """One period of a vein across its phase: exp(-sharpness·|sin(π·phase)|), as a lookup table."""
    phase = np.linspace(0.0, 1.0, 1024, endpoint=False, dtype=np.float32)
    return np.exp(-np.abs(np.sin(phase * np.float32(math.pi))) * np.float32(sharpness)).astype(np.float32)


def marble(rng: np.random.Generator, request: MaterialRequest) -> np.ndarray:
    """Polished marble: a cloudy body crossed by turbulent diagonal veins, soft ones and hairlines."""
    height, width, octaves = request.height, request.width, request.quality.octaves
    base = _rgb(request.colour)
    dark_body = float(base.mean()) < 0.38
    vein_colour = np.asarray([0.93, 0.9, 0.84], np.float32) if dark_body else base * np.float32(0.5)

    xs, ys = noise.pixel_grid(height, width)
    angle = float(rng.uniform(0.35, 1.2)) * (1 if rng.random() < 0.5 else -1)
    along = (xs * np.float32(math.cos(angle)) + ys * np.float32(math.sin(angle))) / np.float32(request.unit * 1.8)
    turbulence = noise.fractal(rng, height, width, request.unit * 2.2, octaves, 0.55)
    wobble = noise.fractal(rng, height, width, request.unit * 0.8, octaves, 0.5)
    phase = along + turbulence * np.float32(1.7) + wobble * np.float32(0.35)
    soft = noise.periodic(phase, _vein_profile(5.0))
    fade = np.clip(noise.fractal(rng, height, width, request.unit * 2.5, 3) * 2.5 + 0.65, 0.0, 1.0)
    thin_phase = along * np.float32(1.3) + turbulence * np.float32(2.2) + wobble * np.float32(0.9)
    thin = noise.periodic(thin_phase, _vein_profile(32.0))
    thin_fade = np.clip(noise.fractal(rng, height, width, request.unit * 1.5, 3) * 4.0 + 0.1, 0.0, 1.0)
    clouds = noise.fractal(rng, height, width, request.unit * 1.8, octaves, 0.55)
    veins = np.clip(
        soft * fade * 0.7
        + thin * thin_fade * np.float32(0.8 * request.quality.detail)
        + np.clip(clouds, 0, None) * 0.18,
        0.0,
        1.0,
    )
    body = _tinted(1.0 + 0.04 * clouds, request.colour)
    return body + veins[..., None] * (vein_colour - base)[None, None, :]


def _ring_profile() -> np.ndarray:
    """One period of wood grain across the rings: late wood is a narrow dark band."""
    phase = np.linspace(0.0, 1.0, 1024, endpoint=False, dtype=np.float32)
    return np.power((np.sin(phase * np.float32(2 * math.pi)) + 1.0) * 0.5, 2.5).astype(np.float32)


def wood(rng: np.random.Generator, request: MaterialRequest) -> np.ndarray:
    """Planked wood: ring grain warped along the plank, fibres, per-plank tone and seams."""
    height, width = request.height, request.width
    plank_px = request.unit * float(rng.uniform(0.9, 1.3))
    ring_px = plank_px * float(rng.uniform(0.18, 0.3))
    xs, ys = noise.pixel_grid(height, width)
    # Grain runs vertically (planks run into the depth); noise stretched along the grain.
    drift = noise.fractal(rng, width, height, request.unit * 2.5, request.quality.octaves, 0.5, stretch=5.0).T
    plank_index = np.floor(xs / plank_px).astype(np.int32)
    count = int(plank_index.max()) + 2
    plank_phase = rng.uniform(0, 50, count).astype(np.float32)
    plank_tone = rng.uniform(-0.09, 0.09, count).astype(np.float32)
    rings = noise.periodic(
        xs / np.float32(ring_px) + drift * np.float32(3.0) + plank_phase[plank_index], _ring_profile()
    )
    fibres = noise.fractal(rng, width, height, 3.0, 2, 0.6, stretch=12.0).T * np.float32(request.quality.detail)
    joint_rows = rng.uniform(0, height, count).astype(np.float32)
    joint = np.clip(1.4 - np.abs(ys - joint_rows[plank_index]), 0.0, 1.0)
    edge = np.clip(1.0 - np.abs(((xs + 0.5) % plank_px) - 0.5), 0.0, 1.0)
    shade = 1.0 + plank_tone[plank_index] - 0.2 * rings + 0.12 * fibres - 0.22 * np.maximum(edge, joint)
    albedo = _tinted(shade, request.colour)
    return albedo + (rings * np.float32(-0.04))[..., None] * np.asarray([0.0, 0.3, 0.6], np.float32)


def terrazzo(rng: np.random.Generator, request: MaterialRequest) -> np.ndarray:
    """Terrazzo: a fine cement matrix studded with irregular chips of a few colours."""
    height, width = request.height, request.width
    matrix = 1.0 + 0.03 * noise.fractal(rng, height, width, request.unit, 3) + 0.04 * _fine(rng, request, 1.5)
    albedo = _tinted(matrix, request.colour).astype(np.float32)
    chip_colours = [request.accents[0], request.accents[1], (235, 235, 230), (90, 90, 92)]  # ≤ 4: cv2.transform
    chip_px = request.unit * 0.09
    count = int(height * width / (chip_px * chip_px) * 0.15)
    centres = rng.uniform(0, 1, (count, 2)) * np.asarray([width, height])
    radii = chip_px * np.exp(rng.normal(0.0, 0.45, count)) * 0.5
    choice = rng.integers(0, len(chip_colours), count)
    sides = 6
    angles = np.linspace(0, 2 * math.pi, sides, endpoint=False)[None, :] + rng.uniform(0, 6.3, (count, 1))
    jitter = rng.uniform(0.55, 1.15, (count, sides))
    points = np.stack([np.cos(angles), np.sin(angles)], axis=2) * (radii[:, None] * jitter)[..., None]
    # Chips are drawn per colour at twice the size (antialiased, 2 fractional bits), then averaged down.
    polygons = np.round((points + centres[:, None, :]) * 8).astype(np.int32)
    masks = []
    for index in range(len(chip_colours)):
        mask = np.zeros((height * 2, width * 2), np.uint8)
        for member in np.flatnonzero(choice == index):  # one call per chip: overlaps in one call cancel
            cv2.fillPoly(mask, [polygons[member]], 255, lineType=cv2.LINE_AA, shift=2)
        masks.append(cv2.resize(mask, (width, height), interpolation=cv2.INTER_AREA))
    covers = cv2.merge(masks).astype(np.float32)
    palette = np.asarray(chip_colours, np.float32).T / np.float32(255.0 * 255.0)  # (3, groups)
    tone = 1.0 + 0.08 * noise.fractal(rng, height, width, request.unit * 0.5, 2)
    chips = cv2.transform(covers, palette) * tone[..., None]
    coverage = cv2.transform(covers, np.full((1, len(chip_colours)), 1.0 / 255.0, np.float32))
    coverage = np.minimum(coverage, 1.0)
    return albedo * (1.0 - coverage[..., None]) + chips


def fabric(rng: np.random.Generator, request: MaterialRequest) -> np.ndarray:
    """Linen: a plain weave of uneven threads, slubs, and soft folds."""
    height, width = request.height, request.width
    xs, ys = noise.pixel_grid(height, width)
    period = max(2.2, request.unit * 0.05)
    slub_x = noise.fractal(rng, width, height, period * 3, 2, 0.5, stretch=14.0).T
    slub_y = noise.fractal(rng, height, width, period * 3, 2, 0.5, stretch=14.0)
    warp_threads = np.sin(xs * np.float32(2 * math.pi / period)) + slub_x * 1.6
    weft_threads = np.sin(ys * np.float32(2 * math.pi / period)) + slub_y * 1.6
    over = np.sin(xs * np.float32(math.pi / period)) * np.sin(ys * np.float32(math.pi / period)) > 0
    weave = np.where(over, warp_threads, weft_threads) * np.float32(0.5 * request.quality.detail)
    folds = noise.fractal(rng, height, width, request.unit * 2.2, 3, 0.4, stretch=2.2)
    bend = noise.fractal(rng, height, width, request.unit * 3.0, 2)
    folds = noise.warp(folds, bend, bend, request.unit * 1.5)
    shade = 1.0 + 0.09 * weave + 0.3 * folds + 0.03 * noise.fractal(rng, height, width, request.unit * 4, 3)
    return _tinted(shade, request.colour)


def sand(rng: np.random.Generator, request: MaterialRequest) -> np.ndarray:
    """Sand: wind ripples lit from the side, grain speckle of mixed minerals, gentle dunes."""
    height, width, octaves = request.height, request.width, request.quality.octaves
    _, ys = noise.pixel_grid(height, width)
    bend = noise.fractal(rng, height, width, request.unit * 3.0, 3, 0.5)
    phase = ys / np.float32(request.unit * 0.32) + bend * np.float32(9.0)
    ripple = np.sin(phase * np.float32(2 * math.pi))
    relief = np.cos(phase * np.float32(2 * math.pi)) * 0.5 + ripple * 0.5  # asymmetric crest
    dunes = noise.fractal(rng, height, width, request.unit * 4.0, octaves, 0.5)
    grains = noise.value_noise(rng, height, width, height / 1.5, width / 1.5) - np.float32(0.5)
    grains *= np.float32(request.quality.detail)
    shade = 1.0 + 0.07 * relief + 0.12 * dunes + 0.18 * grains
    albedo = _tinted(shade, request.colour)
    return albedo + (grains[..., None] * np.asarray([0.03, 0.0, -0.03], np.float32))


def tiles(rng: np.random.Generator, request: MaterialRequest) -> np.ndarray:
    """Square glazed tiles: per-tile tone, bevelled edges and a grout grid."""
    height, width = request.height, request.width
    xs, ys = noise.pixel_grid(height, width)
    size = request.unit * 1.1
    column = np.floor(xs / size).astype(np.int32)
    row = np.floor(ys / size).astype(np.int32)
    rows_n, cols_n = int(row.max()) + 2, int(column.max()) + 2
    tone = rng.uniform(-0.05, 0.05, (rows_n, cols_n)).astype(np.float32)
    local_x, local_y = xs - column * size, ys - row * size
    edge = np.minimum(np.minimum(local_x, size - local_x), np.minimum(local_y, size - local_y))
    grout_px = max(1.0, size * 0.035)
    grout = np.clip(grout_px - edge + 0.5, 0.0, 1.0)
    bevel = np.clip(1.0 - (edge - grout_px) / (size * 0.08), 0.0, 1.0)
    glaze = 0.03 * noise.fractal(rng, height, width, request.unit, 3)
    shade = 1.0 + tone[row, column] + glaze - 0.08 * bevel
    body = _tinted(shade, request.colour)
    grout_colour = _rgb(request.colour) * np.float32(0.78) + np.float32(0.08)
    return body + grout[..., None] * (grout_colour[None, None, :] - body)


def glass(rng: np.random.Generator, request: MaterialRequest) -> np.ndarray:
    """Glass/acrylic: an almost featureless tone (its look comes from reflections)."""
    sheen = noise.fractal(rng, request.height, request.width, request.unit * 5, 3)
    return _tinted(1.0 + 0.015 * sheen, request.colour)


def water(rng: np.random.Generator, request: MaterialRequest) -> np.ndarray:
    """Shallow water: a deep tone lit by a network of bright caustics."""
    height, width = request.height, request.width
    warp_x = noise.fractal(rng, height, width, request.unit * 1.5, 3)
    warp_y = noise.fractal(rng, height, width, request.unit * 1.5, 3)
    field = noise.fractal(rng, height, width, request.unit * 0.7, max(3, request.quality.octaves - 1), 0.5)
    field = noise.warp(field, warp_x, warp_y, request.unit * 0.5)
    caustics = noise.ridged(field, 7.0)
    depth = noise.fractal(rng, height, width, request.unit * 4, 3)
    base = _rgb(request.colour)
    deep = base * np.float32(0.7)
    body = _lerp_colours(np.clip(0.5 + depth, 0.0, 1.0), deep, base)
    glow = np.minimum(base * 1.5 + 0.25, 1.0)
    return body + (caustics * np.float32(0.45))[..., None] * (glow - base)[None, None, :]


def snow(rng: np.random.Generator, request: MaterialRequest) -> np.ndarray:
    """Fresh snow: soft drifts with blue-grey hollows, a crisp fine crust and scattered glints."""
    height, width = request.height, request.width
    drifts = noise.fractal(rng, height, width, request.unit * 3.0, request.quality.octaves, 0.5, stretch=2.0)
    crust = noise.fractal(rng, height, width, max(2.0, request.unit * 0.08), 2, 0.6)
    crust *= np.float32(request.quality.detail)
    sparkle = noise.value_noise(rng, height, width, height / 1.2, width / 1.2)
    glints = np.clip((sparkle - np.float32(0.965)) * np.float32(30.0), 0.0, 1.0)
    shade = 1.0 + 0.05 * crust + 0.16 * drifts
    base = _rgb(request.colour)
    hollow = base * np.asarray([0.78, 0.86, 1.0], np.float32)  # shaded snow takes the sky's blue
    body = _lerp_colours(np.clip(0.5 + drifts * 2.2, 0.0, 1.0), hollow, base) * shade[..., None]
    return body + glints[..., None] * np.float32(0.35)


MaterialFunction = Callable[[np.random.Generator, MaterialRequest], np.ndarray]

MATERIALS: dict[str, MaterialFunction] = {
    "paint": paint,
    "paper": paper,
    "plaster": plaster,
    "concrete": concrete,
    "stone": stone,
    "marble": marble,
    "wood": wood,
    "terrazzo": terrazzo,
    "fabric": fabric,
    "sand": sand,
    "tiles": tiles,
    "glass": glass,
    "mirror": glass,
    "water": water,
    "snow": snow,
}


def render_material(name: str, rng: np.random.Generator, request: MaterialRequest) -> np.ndarray:
    """The albedo of material ``name`` (unknown names render as paint), supersampled if asked."""
    function = MATERIALS.get(name, paint)
    factor = request.quality.supersample
    if factor <= 1.0:
        return np.clip(function(rng, request), 0.0, 1.0).astype(np.float32)
    large = MaterialRequest(
        height=round(request.height * factor),
        width=round(request.width * factor),
        colour=request.colour,
        unit=request.unit * factor,
        quality=request.quality,
        accents=request.accents,
    )
    albedo = np.clip(function(rng, large), 0.0, 1.0).astype(np.float32)
    return cv2.resize(albedo, (request.width, request.height), interpolation=cv2.INTER_AREA)

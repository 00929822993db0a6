"""Fast vectorised procedural noise for textures: value noise, fractal sums, warps, ridges.

Value noise here is a lattice of random values interpolated by ``cv2.resize`` (bicubic), which
is an order of magnitude faster than evaluating gradient noise per pixel in numpy and looks the
same once a few octaves are summed. Every function takes an explicit ``numpy.random.Generator``
so the caller owns reproducibility; nothing touches a global RNG.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

_SAMPLES_PER_FEATURE = 8.0


def value_noise(rng: np.random.Generator, height: int, width: int, cells_y: float, cells_x: float) -> np.ndarray:
    """Smooth noise in about [0, 1] with roughly ``cells_x`` × ``cells_y`` features across the image."""
    lattice_y = max(2, int(math.ceil(cells_y)) + 1)
    lattice_x = max(2, int(math.ceil(cells_x)) + 1)
    lattice = rng.random((lattice_y, lattice_x), dtype=np.float32)
    # Oversize then crop so the feature size matches the request even after ceil().
    full_w = max(width, int(round(width * (lattice_x - 1) / max(cells_x, 1e-3))))
    full_h = max(height, int(round(height * (lattice_y - 1) / max(cells_y, 1e-3))))
    full = cv2.resize(lattice, (full_w, full_h), interpolation=cv2.INTER_CUBIC)
    return full[:height, :width]


def fractal(
    rng: np.random.Generator,
    height: int,
    width: int,
    feature_px: float,
    octaves: int,
    persistence: float = 0.5,
    stretch: float = 1.0,
) -> np.ndarray:
    """Fractal (fBm) value noise, zero-centred, about [-0.5, 0.5].

    ``feature_px`` is the size of the coarsest features; each further octave halves it.
    ``stretch`` > 1 elongates features horizontally (grain, fibres, ripples).
    Octaves finer than two pixels are skipped: they would only alias. Coarse octaves are summed
    at reduced resolution (a feature never spans fewer than ~8 samples there) and the sum is
    upsampled once, so the cost is close to one full-resolution octave.
    """
    total: np.ndarray | None = None
    amplitude, weight = 1.0, 0.0
    size = float(feature_px)
    for _ in range(max(1, octaves)):
        if size < 2.0 and weight > 0:
            break
        scale = min(1.0, _SAMPLES_PER_FEATURE / size)
        level_h, level_w = max(2, math.ceil(height * scale)), max(2, math.ceil(width * scale))
        octave = value_noise(rng, level_h, level_w, height / size, width / (size * stretch))
        octave -= np.float32(0.5)
        if total is None:
            total = octave * np.float32(amplitude)
        else:
            if total.shape != octave.shape:
                total = cv2.resize(total, (level_w, level_h), interpolation=cv2.INTER_LINEAR)
            cv2.scaleAdd(octave, amplitude, total, dst=total)
        weight += amplitude
        amplitude *= persistence
        size /= 2.0
    assert total is not None
    if total.shape != (height, width):
        total = cv2.resize(total, (width, height), interpolation=cv2.INTER_CUBIC)
    total *= np.float32(1.0 / weight)
    return total


def pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Float32 x and y coordinate maps (for remaps and analytic patterns)."""
    xs = np.broadcast_to(np.arange(width, dtype=np.float32)[None, :], (height, width))
    ys = np.broadcast_to(np.arange(height, dtype=np.float32)[:, None], (height, width))
    return xs, ys


def warp(field: np.ndarray, offset_x: np.ndarray, offset_y: np.ndarray, amount: float) -> np.ndarray:
    """Domain warp: sample ``field`` at (x + amount·offset_x, y + amount·offset_y)."""
    height, width = field.shape[:2]
    xs, ys = pixel_grid(height, width)
    map_x = xs + offset_x * np.float32(amount)
    map_y = ys + offset_y * np.float32(amount)
    return cv2.remap(field, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def ridged(noise: np.ndarray, sharpness: float) -> np.ndarray:
    """Thin bright ridges where zero-centred noise crosses zero (veins, caustics), in [0, 1]."""
    ridge = 1.0 - np.minimum(np.abs(noise) * np.float32(2.0), 1.0)
    return np.power(ridge, np.float32(sharpness)).astype(np.float32)


def periodic(phase: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """Evaluate a period-1 function, tabulated over one period in ``profile``, at ``phase``.

    A table lookup instead of transcendental functions per pixel (several times faster).
    """
    size = profile.shape[0]
    index = (phase * np.float32(size)).astype(np.int64)
    if size & (size - 1) == 0:
        np.bitwise_and(index, size - 1, out=index)  # a power-of-two table wraps with a mask
    else:
        np.mod(index, size, out=index)
    return profile[index]

"""composite_over: exact integer "over", bit for bit where the layer is opaque."""

from __future__ import annotations

import numpy as np

from photostage.imaging import compose


def reference_over(background: np.ndarray, layer: np.ndarray) -> np.ndarray:
    alpha = layer[..., 3:4].astype(np.int64)
    rgb = (layer[..., :3] * alpha + background[..., :3].astype(np.int64) * (255 - alpha)) / 255
    return np.floor(rgb + 0.5).astype(np.uint8)


def test_the_shift_rounding_equals_division_for_every_blend_value() -> None:
    values = np.arange(0, 255 * 255 + 1, dtype=np.uint32)
    shifted = values + 128
    assert np.array_equal((shifted + (shifted >> 8)) >> 8, (values + 127) // 255)


def test_every_alpha_and_colour_pair_blends_exactly() -> None:
    grid = np.arange(256, dtype=np.uint8)
    fg, alpha, bg = np.meshgrid(grid, grid, np.array([0, 1, 127, 128, 254, 255], np.uint8), indexing="ij")
    layer = np.dstack([fg.reshape(256, -1)] * 3 + [alpha.reshape(256, -1)])
    background = np.dstack([bg.reshape(256, -1)] * 3)
    out = compose.composite_over(background, layer)
    assert np.array_equal(out, reference_over(background, layer))
    opaque = layer[..., 3] == 255
    assert np.array_equal(out[opaque], layer[..., :3][opaque])
    assert np.array_equal(out[layer[..., 3] == 0], background[layer[..., 3] == 0])


def test_opaque_rgba_background_keeps_its_alpha_and_box_limits_the_work() -> None:
    rng = np.random.default_rng(3)
    background = np.dstack([rng.integers(0, 256, (64, 80, 3), dtype=np.uint8), np.full((64, 80), 255, np.uint8)])
    layer = np.zeros((64, 80, 4), np.uint8)
    layer[10:30, 20:50] = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    full = compose.composite_over(background, layer)
    boxed = compose.composite_over(background, layer, box=(20, 10, 50, 30))
    assert full.shape == (64, 80, 4) and np.all(full[..., 3] == 255)
    assert np.array_equal(full, boxed)
    assert np.array_equal(full[..., :3], reference_over(background, layer))


def test_transparent_background_is_porter_duff_over() -> None:
    background = np.zeros((1, 3, 4), np.uint8)
    background[0, 1] = (10, 20, 30, 128)
    background[0, 2] = (200, 100, 0, 255)
    layer = np.zeros((1, 3, 4), np.uint8)
    layer[0, :, :] = (250, 0, 0, 128)
    out = compose.composite_over(background, layer)
    assert tuple(out[0, 0]) == (250, 0, 0, 128)  # over nothing: the layer as it is
    assert out[0, 1, 3] == 192  # 128 + 128·(255 − 128)/255
    assert tuple(out[0, 2]) == (225, 50, 0, 255)

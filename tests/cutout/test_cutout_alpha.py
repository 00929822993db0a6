"""AlphaEngine: an already transparent input is its own matte; the soft edge can be defringed."""

from __future__ import annotations

import cv2
import numpy as np

from photostage.cutout.alpha import AlphaEngine


def transparent_disc(size: int = 96, edge_colour: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """A dark blue disc with an antialiased edge whose colours still carry ``edge_colour``."""
    big = np.zeros((size * 4, size * 4), np.float32)
    cv2.circle(big, (size * 2, size * 2), size + 20, 1.0, -1)
    alpha = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)
    product = np.array([20, 30, 120], np.float32)
    rgb = alpha[..., None] * product + (1 - alpha[..., None]) * np.array(edge_colour, np.float32)
    rgba = np.dstack([np.clip(rgb + 0.5, 0, 255), np.clip(alpha * 255 + 0.5, 0, 255)]).astype(np.uint8)
    rgba[alpha == 0, :3] = 0  # transparent pixels of a PNG are often black
    return rgba


def test_alpha_and_box_come_from_the_input() -> None:
    rgba = transparent_disc()
    cutout = AlphaEngine().extract(rgba)
    assert cutout.engine == "alpha"
    assert np.array_equal(cutout.rgba[..., 3], rgba[..., 3])
    ys, xs = np.nonzero(rgba[..., 3])
    assert cutout.box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_defringe_removes_a_white_rim_and_keeps_opaque_pixels() -> None:
    rgba = transparent_disc()
    cutout = AlphaEngine().extract(rgba)
    alpha = rgba[..., 3]
    partial = (alpha > 0) & (alpha < 255)
    before = rgba[..., :3][partial].astype(np.float32).mean()
    after = cutout.rgba[..., :3][partial].astype(np.float32).mean()
    assert after < before - 40  # the edge now looks like the product, not the old white canvas
    opaque = alpha == 255
    assert np.array_equal(cutout.rgba[opaque], rgba[opaque])
    transparent = alpha == 0
    assert np.array_equal(cutout.rgba[transparent], rgba[transparent])


def test_defringe_can_be_switched_off() -> None:
    rgba = transparent_disc()
    cutout = AlphaEngine(defringe=False).extract(rgba)
    assert np.array_equal(cutout.rgba, rgba)
    assert cutout.rgba is not rgba


def test_opaque_input_is_the_whole_frame() -> None:
    rgba = np.full((10, 12, 4), 200, np.uint8)
    rgba[..., 3] = 255
    cutout = AlphaEngine().extract(rgba)
    assert cutout.box == (0, 0, 12, 10)
    assert np.array_equal(cutout.rgba, rgba)

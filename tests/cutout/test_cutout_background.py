"""The backdrop model fitted to the border band: plain, gradient and textured backdrops."""

from __future__ import annotations

import numpy as np

from photostage.cutout.background import fit_background


def ramp(height: int = 120, width: int = 160) -> np.ndarray:
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    xs = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    top, bottom = np.array([0.6, 0.7, 0.9], np.float32), np.array([0.95, 0.93, 0.9], np.float32)
    return top * (1 - ys) + bottom * ys + 0.05 * xs * xs


def test_plain_backdrop() -> None:
    image = np.full((100, 140, 3), 0.96, np.float32)
    model = fit_background(image, band=5)
    assert model.kind == "plain"
    assert np.allclose(model.surface(100, 140), 0.96, atol=1e-3)


def test_gradient_backdrop_is_modelled_at_any_resolution() -> None:
    image = ramp()
    model = fit_background(image, band=6)
    assert model.kind == "gradient"
    assert np.abs(model.surface(120, 160) - image).max() < 0.01
    assert np.abs(model.surface(240, 320) - ramp(240, 320)).max() < 0.01


def test_textured_backdrop() -> None:
    rng = np.random.default_rng(1)
    image = np.clip(0.85 + rng.normal(0.0, 0.04, (120, 160, 3)), 0, 1).astype(np.float32)
    model = fit_background(image, band=6)
    assert model.kind == "textured"
    assert 0.02 < float(model.noise.mean()) < 0.06


def test_product_touching_the_border_does_not_bend_the_fit() -> None:
    image = ramp()
    image[60:, 50:110] = (0.1, 0.2, 0.5)  # a product standing on the bottom edge
    model = fit_background(image, band=6)
    clean = ramp()
    assert np.abs(model.surface(120, 160) - clean).max() < 0.02

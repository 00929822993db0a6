"""The synthetic fixture set itself: deterministic, exact truth, the hard cases really present."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from photostage.cutout.synthetic import BACKGROUND_KINDS, PRODUCT_KINDS, render_scene


@pytest.mark.parametrize("product", PRODUCT_KINDS)
@pytest.mark.parametrize("background", BACKGROUND_KINDS)
def test_scene_shapes_and_ranges(product: str, background: str) -> None:
    scene = render_scene(product, background, (160, 120), seed=3)  # type: ignore[arg-type]
    assert scene.rgb.shape == (120, 160, 3) and scene.rgb.dtype == np.uint8
    assert scene.rgba.shape == (120, 160, 4) and (scene.rgba[..., 3] == 255).all()
    assert scene.alpha.min() == 0.0 and scene.alpha.max() == 1.0
    soft = (scene.alpha > 0) & (scene.alpha < 1)
    assert soft.any(), "edges are antialiased"
    assert 0.03 < (scene.alpha > 0.5).mean() < 0.6


def test_scenes_are_deterministic() -> None:
    first = render_scene("mug", "textured", (128, 128), seed=5)
    second = render_scene("mug", "textured", (128, 128), seed=5)
    assert np.array_equal(first.rgb, second.rgb) and np.array_equal(first.alpha, second.alpha)


def test_mug_handle_has_a_real_hole() -> None:
    scene = render_scene("mug", "white", (256, 256), seed=1)
    background = (scene.alpha == 0).astype(np.uint8)
    count, labels = cv2.connectedComponents(background, connectivity=4)
    assert count >= 3, "the outside plus at least one enclosed hole"


def test_floor_shadow_darkens_only_the_background() -> None:
    lit = render_scene("box", "white", (200, 200), seed=2, shadow=False, jpeg_quality=None)
    shaded = render_scene("box", "white", (200, 200), seed=2, shadow=True, jpeg_quality=None)
    assert np.array_equal(lit.alpha, shaded.alpha)
    darker = shaded.rgb.astype(int).sum(axis=2) < lit.rgb.astype(int).sum(axis=2) - 30
    assert darker.sum() > 100
    assert (lit.alpha[darker] < 1).all(), "the product itself is never shaded"
    assert (lit.alpha[darker] == 0).mean() > 0.95

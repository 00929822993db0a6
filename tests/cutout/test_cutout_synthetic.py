"""The synthetic fixture set itself: deterministic, exact truth, the hard cases really present."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from photostage.cutout.synthetic import BACKGROUND_KINDS, PRODUCT_KINDS, TONES, product_colour, render_scene


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


def test_every_tone_is_drawn_and_white_is_a_few_levels_under_the_sweep() -> None:
    """Fixtures are not chosen to stand apart: ``any`` draws saturated, dark, pale and white products
    alike, and a white product sits a few levels under a white sweep, as on real packshots."""
    rng = np.random.default_rng(0)
    drawn = set()
    for _ in range(60):
        colour = product_colour("any", rng)
        drawn |= {tone for tone, palette in TONES.items() if (palette == colour).all(axis=1).any()}
    assert drawn == set(TONES)
    white = render_scene("carton", "white", (160, 160), seed=1, tone="white", shadow=False, jpeg_quality=None)
    backdrop = np.median(white.rgb[white.alpha == 0].astype(np.float32), axis=0)
    front = np.median(white.rgb[white.alpha == 1].astype(np.float32), axis=0)
    assert 3 < float((backdrop - front).max()) < 30


def test_bag_straps_enclose_real_holes_and_glass_is_translucent() -> None:
    bag = render_scene("bag", "white", (256, 256), seed=1, tone="dark")
    count, _ = cv2.connectedComponents((bag.alpha == 0).astype(np.uint8), connectivity=4)
    assert count >= 4, "the outside plus a hole inside each strap"
    glass = render_scene("glass", "grey", (256, 256), seed=1)
    body = glass.alpha[(glass.alpha > 0.5) & (glass.alpha < 0.8)]
    assert body.size > 500, "most of the bottle lets the backdrop through"


def test_mirror_reflection_is_background_in_the_truth() -> None:
    plain = render_scene("box", "white", (200, 200), seed=2, tone="dark", jpeg_quality=None)
    mirrored = render_scene("box", "white", (200, 200), seed=2, tone="dark", reflection=True, jpeg_quality=None)
    assert np.array_equal(plain.alpha, mirrored.alpha)
    changed = np.abs(plain.rgb.astype(int) - mirrored.rgb.astype(int)).max(axis=2) > 10
    assert changed.sum() > 100
    assert (plain.alpha[changed] < 1).all()

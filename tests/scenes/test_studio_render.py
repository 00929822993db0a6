"""The studio engine's rendering: determinism, light, materials, geometry, colour, quality, shadows."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from photostage.config import ModelEntry
from photostage.scenes.base import PlacedObject, RenderedScene, RenderJob, SceneSpec, ShadowSpec
from photostage.scenes.effect import BuiltinEngine
from photostage.scenes.registry import SceneEngines
from photostage.scenes.shadow import with_shadow
from photostage.scenes.studio.engine import StudioEngine
from photostage.scenes.studio.materials import MATERIALS

SIZE = 160


def _product(width: int = SIZE, height: int = SIZE, colour=(200, 30, 30), empty: bool = False) -> PlacedObject:
    """A canvas-sized standing product (a bottle-like block) with its base at 80% height."""
    rgba = np.zeros((height, width, 4), np.uint8)
    if empty:
        return PlacedObject(rgba=rgba, box=(0, 0, 0, 0))
    x0, x1 = int(width * 0.42), int(width * 0.58)
    y0, y1 = int(height * 0.45), int(height * 0.8)
    cv2.rectangle(rgba, (x0, y0), (x1 - 1, y1 - 1), (*colour, 255), -1)
    return PlacedObject(rgba=rgba, box=(x0, y0, x1, y1))


def _render(
    prompt: str | None = None,
    seed: int = 1,
    index: int = 0,
    width: int = SIZE,
    height: int = SIZE,
    product: PlacedObject | None = None,
    **scene: object,
) -> RenderedScene:
    spec = SceneSpec(kind="prompt", prompt=prompt, **scene)  # type: ignore[arg-type]
    job = RenderJob(
        scene=spec,
        width=width,
        height=height,
        product=product if product is not None else _product(width, height),
        seed=seed,
        index=index,
    )
    return with_shadow(StudioEngine().render(job), job)


def _luminance(rgba: np.ndarray) -> np.ndarray:
    return rgba[..., :3].astype(np.float32) @ np.asarray([0.2126, 0.7152, 0.0722], np.float32)


def test_engine_identity() -> None:
    engine = StudioEngine()
    assert engine.name == "studio" and engine.available()


def test_output_is_a_canvas_sized_opaque_background_with_light_wrap() -> None:
    rendered = _render("marble countertop", width=200, height=120, product=_product(200, 120))
    assert rendered.background.shape == (120, 200, 4) and rendered.background.dtype == np.uint8
    assert (rendered.background[..., 3] == 255).all()
    assert 0 < rendered.light_wrap <= 1
    assert rendered.info["surface"] == "marble"


def test_same_seed_gives_identical_bytes() -> None:
    first = _render("terrazzo table, bokeh", seed=42).background
    second = _render("terrazzo table, bokeh", seed=42).background
    assert first.tobytes() == second.tobytes()


def test_different_seeds_and_indices_give_variations() -> None:
    base = _render("concrete floor", seed=1).background.astype(np.int16)
    other_seed = _render("concrete floor", seed=2).background.astype(np.int16)
    other_index = _render("concrete floor", seed=1, index=1).background.astype(np.int16)
    assert np.abs(base - other_seed).mean() > 2.0
    assert np.abs(base - other_index).mean() > 2.0


def test_dark_prompts_are_darker_than_bright_ones() -> None:
    dark = _luminance(_render("on the wooden table in the dark room").background).mean()
    bright = _luminance(_render("bright airy soft light, white paper sweep").background).mean()
    assert dark < bright - 60


def _detail_energy(rgba: np.ndarray) -> float:
    """Band-pass energy: texture detail (veins), above the light's gradients, below film grain."""
    luminance = cv2.GaussianBlur(_luminance(rgba), (0, 0), 1.0)
    return float(np.abs(luminance - cv2.GaussianBlur(luminance, (0, 0), 4.0)).mean())


def test_marble_has_veins() -> None:
    empty = _product(empty=True)
    marble = _render("marble countertop, marble wall", product=empty, preference="best", seed=3).background
    plain = _render("white paper sweep", product=empty, preference="best", seed=3).background
    assert _detail_energy(marble) > 2.0 * _detail_energy(plain)


def _step_strength(rgba: np.ndarray) -> float:
    profile = _luminance(rgba).mean(axis=1)
    return float(np.abs(profile[3:] - profile[:-3]).max())


def test_front_view_has_a_horizon_and_top_view_does_not() -> None:
    prompt = "white wall, dark wood floor"
    front = _render(prompt, view="front")
    top = _render(prompt, view="top")
    assert front.info["view"] == "front" and top.info["view"] == "top"
    assert _step_strength(front.background) > 3 * _step_strength(top.background)
    horizon = int(front.info["horizon_row"])  # type: ignore[call-overload]
    assert horizon < int(SIZE * 0.8)  # above the product's base: it stands on the floor
    profile = _luminance(front.background).mean(axis=1)
    assert abs(int(np.argmax(np.abs(profile[3:] - profile[:-3]))) + 1 - horizon) <= 6


def test_flat_lay_words_choose_the_top_view() -> None:
    assert _render("linen flat lay").info["view"] == "top"
    assert _render("linen").info["view"] == "front"


def test_colour_steers_the_mean_hue() -> None:
    red = _render("plaster wall", color=(200, 40, 40)).background[..., :3].reshape(-1, 3).mean(axis=0)
    blue = _render("plaster wall", color=(40, 60, 200)).background[..., :3].reshape(-1, 3).mean(axis=0)
    assert red[0] > red[2] + 20 and blue[2] > blue[0] + 20


def test_steps_and_preference_change_the_output() -> None:
    few = _render("marble countertop", steps=2).background.astype(np.int16)
    many = _render("marble countertop", steps=48).background.astype(np.int16)
    assert np.abs(few - many).mean() > 0.5
    fast = _render("marble countertop", preference="fast").background.astype(np.int16)
    best = _render("marble countertop", preference="best").background.astype(np.int16)
    assert np.abs(fast - best).mean() > 0.5


def test_shadow_lies_under_the_product() -> None:
    product = _product()
    with_shadow = _luminance(_render("white paper sweep", product=product).background)
    without = _luminance(_render("white paper sweep", product=product, shadow=ShadowSpec(enabled=False)).background)
    x0, _, x1, y1 = product.box
    base_band = (slice(y1, y1 + 4), slice(x0, x1))
    assert with_shadow[base_band].mean() < without[base_band].mean() - 15
    assert np.abs(with_shadow[:20] - without[:20]).max() <= 1  # nothing far away changes


def test_shadow_follows_the_light_angle() -> None:
    product = _product()
    spec_left = ShadowSpec(light_angle=270.0, opacity=1.0, softness=0.3)
    spec_right = ShadowSpec(light_angle=90.0, opacity=1.0, softness=0.3)
    lit_from_left = _luminance(_render("white paper sweep", product=product, shadow=spec_left).background)
    lit_from_right = _luminance(_render("white paper sweep", product=product, shadow=spec_right).background)
    x0, _, x1, y1 = product.box
    right_of_product = (slice(y1 - 12, y1 + 2), slice(x1 + 2, x1 + 30))
    assert lit_from_left[right_of_product].mean() < lit_from_right[right_of_product].mean() - 5


def test_glossy_floors_reflect_the_product() -> None:
    product = _product(colour=(220, 20, 20))
    x0, _, x1, y1 = product.box
    below = (slice(y1 + 1, y1 + 8), slice(x0 + 2, x1 - 2))

    def redness(prompt: str) -> float:
        background = _render(prompt, product=product, shadow=ShadowSpec(enabled=False)).background.astype(np.float32)
        return float((background[below][..., 0] - background[below][..., 2]).mean())

    assert redness("mirror floor, white sweep") > redness("white paper sweep") + 20


def test_transparent_scene_is_a_shadow_layer() -> None:
    rendered = _render("marble", transparent=True)
    assert rendered.background.shape == (SIZE, SIZE, 4)
    assert rendered.background[..., 3].max() > 50 and rendered.background[:10, :, 3].max() == 0


@pytest.mark.parametrize("material", sorted(set(MATERIALS) - {"paint"}))
def test_every_material_renders(material: str) -> None:
    word = {"fabric": "linen", "tiles": "tiled", "paint": "painted"}.get(material, material)
    rendered = _render(f"{word} floor", width=96, height=64, product=_product(96, 64))
    assert rendered.info["surface"] == material
    assert np.isfinite(rendered.background.astype(np.float32)).all()


@pytest.mark.parametrize(
    "prompt",
    [
        "sand, sunset sky",
        "neon, glossy floor",
        "bokeh lights, dark",
        "concrete, window light, plants shadow",
        "water, blue sky",
        "flat lay, plants",
    ],
)
def test_scene_families_render(prompt: str) -> None:
    rendered = _render(prompt, width=120, height=90, product=_product(120, 90))
    assert rendered.background.shape == (90, 120, 4)
    assert rendered.background[..., :3].std() > 3


def test_product_free_canvas_and_tiny_canvas() -> None:
    assert _render("marble", width=24, height=24, product=_product(24, 24, empty=True)).background.shape == (
        24,
        24,
        4,
    )


def test_effect_and_locked_template_are_passed_to_the_builtin_engine() -> None:
    job = RenderJob(
        scene=SceneSpec(kind="effect", color=(10, 200, 10)),
        width=64,
        height=64,
        product=_product(64, 64),
        seed=0,
    )
    registry = SceneEngines({"studio": StudioEngine()}, {"v1": ModelEntry(engine="studio")}, BuiltinEngine(), str)
    rendered = registry.engine_for("v1", job.scene).render(job)  # the registry routes, not the engine
    assert tuple(rendered.background[2, 2, :3]) == (10, 200, 10)

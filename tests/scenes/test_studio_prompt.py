"""The studio prompt interpreter and planner: words → terms → a decided ScenePlan."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from photostage.scenes.studio import colours
from photostage.scenes.studio.plan import ScenePlan, plan_scene
from photostage.scenes.studio.prompt import describe_product, parse_prompt


def _plan(
    prompt: str | None,
    negative: str | None = None,
    color=None,
    view: str = "auto",
    light_angle: float | None = None,
    seed: int = 7,
) -> ScenePlan:
    rng = np.random.Generator(np.random.PCG64(seed))
    return plan_scene(parse_prompt(prompt), parse_prompt(negative), color, view, light_angle, rng)


@pytest.mark.parametrize(
    ("prompt", "field", "expected"),
    [
        ("marble countertop", "surface", "marble"),
        ("on a wooden table", "surface", "wood"),
        ("raw concrete floor", "surface", "concrete"),
        ("slate stone slab", "surface", "stone"),
        ("terrazzo", "surface", "terrazzo"),
        ("draped linen", "surface", "fabric"),
        ("kraft paper", "surface", "paper"),
        ("on sand", "surface", "sand"),
        ("ceramic tiles", "surface", "tiles"),
        ("glass table", "surface", "glass"),
        ("mirror surface", "surface", "mirror"),
        ("in shallow water", "surface", "water"),
        ("marble wall background", "wall", "marble"),
        ("seamless studio sweep", "backdrop", "sweep"),
        ("plain wall", "backdrop", "wall"),
        ("blue sky", "backdrop", "sky"),
        ("sunset", "backdrop", "sunset"),
        ("fairy lights", "bokeh_lights", True),
        ("window light", "window_light", True),
        ("plants shadow gobo", "plant_shadows", True),
        ("soft studio lighting", "lighting", "soft"),
        ("in the dark room", "lighting", "low_key"),
        ("direct sunlight", "lighting", "sunlight"),
        ("golden hour", "lighting", "golden_hour"),
        ("neon", "lighting", "neon"),
        ("closeup", "closeup", True),
        ("flat lay", "view", "top"),
    ],
)
def test_every_keyword_family_changes_the_plan(prompt: str, field: str, expected: object) -> None:
    plan = _plan(prompt)
    assert getattr(plan, field) == expected
    baseline = _plan("")
    assert getattr(plan, field) != getattr(baseline, field) or field in ("lighting", "backdrop", "surface")


def test_depth_of_field_words_raise_the_blur() -> None:
    assert _plan("shallow depth of field").depth_of_field > _plan("").depth_of_field
    assert _plan("bokeh").depth_of_field > _plan("wide shot").depth_of_field


@pytest.mark.parametrize("mood", ["pastel", "monochromatic", "vibrant", "warm", "cool"])
def test_moods_change_the_palette(mood: str) -> None:
    plain, moody = _plan("pink wall, wood table"), _plan(f"pink wall, wood table, {mood}")
    assert (plain.wall_colour, plain.surface_colour) != (moody.wall_colour, moody.surface_colour)


def test_colour_names_and_modifiers() -> None:
    terms = parse_prompt("dark green velvet, light oak table, white wall, teal")
    assert terms.surface == "fabric"
    assert terms.surface_colour is not None and colours.luminance(terms.surface_colour) < colours.luminance(
        colours.COLOUR_NAMES["green"]
    )
    assert terms.wall_colour == colours.COLOUR_NAMES["white"]
    assert terms.colours == (colours.COLOUR_NAMES["teal"],)


def test_material_roles_follow_their_nouns() -> None:
    terms = parse_prompt("marble countertop, concrete wall background")
    assert (terms.surface, terms.wall) == ("marble", "concrete")
    plan = _plan("on the wooden table in front of a terrazzo wall")
    assert (plan.surface, plan.wall) == ("wood", "terrazzo")


def test_claid_style_prompts() -> None:
    plan = _plan(
        "marble countertop, marble wall background, monochromatic, bokeh, closeup, professional product photography"
    )
    assert (plan.surface, plan.wall, plan.closeup, plan.bokeh_lights) == ("marble", "marble", True, True)
    assert "monochrome" in plan.moods and plan.depth_of_field > 0.5
    dark = _plan("on the wooden table in the dark room")
    assert (dark.surface, dark.lighting) == ("wood", "low_key")


def test_negative_prompt_removes_what_it_names() -> None:
    assert not _plan("marble table, bokeh", negative="bokeh").bokeh_lights
    assert _plan("marble table, bokeh", negative="bokeh").depth_of_field == 0.0
    assert _plan("marble table", negative="marble").surface != "marble"
    assert _plan("dark room", negative="dark").lighting != "low_key"
    assert not _plan("window light, plants", negative="plants").plant_shadows
    red_wall = _plan("red wall", negative="red").wall_colour
    assert colours.hue_distance(red_wall, colours.COLOUR_NAMES["red"]) > 0.09
    assert _plan("glass table", negative="reflections").gloss == 0.0


def test_negated_words_inside_the_prompt() -> None:
    plan = _plan("concrete floor, no bokeh, without plants")
    assert not plan.bokeh_lights and not plan.plant_shadows


def test_defaults_avoid_negatives_for_every_seed() -> None:
    for seed in range(12):
        plan = _plan("", negative="wood, paper, concrete, plaster", seed=seed)
        assert plan.surface not in ("wood", "paper", "concrete", "plaster")


@pytest.mark.parametrize("prompt", [None, "", "zxqv florp 12345 🚀 !!", "on the %%% ,,, +++", "a" * 5000])
def test_unknown_words_never_fail(prompt: str | None) -> None:
    plan = _plan(prompt)
    assert plan.view == "front" and plan.lighting in ("soft", "sunlight")


def test_view_selection() -> None:
    assert _plan("overhead shot of linen").view == "top"
    assert _plan("flat lay", view="front").view == "front"
    assert _plan("marble", view="top").view == "top"


def test_request_colour_is_the_main_colour() -> None:
    plan = _plan("plaster wall, paper", color=(30, 90, 200))
    assert colours.hue_distance(plan.wall_colour, (30, 90, 200)) < 0.05


def test_light_angle_override_and_seed_jitter() -> None:
    assert _plan("", light_angle=123.0).light_angle == 123.0
    angles = {round(_plan("", seed=seed).light_angle) for seed in range(6)}
    assert len(angles) > 3


def _tall_blue_bottle() -> np.ndarray:
    rgba = np.zeros((200, 80, 4), np.uint8)
    cv2.rectangle(rgba, (10, 40), (70, 199), (30, 60, 190, 255), -1)
    cv2.rectangle(rgba, (30, 5), (50, 40), (20, 20, 20, 255), -1)
    return rgba


def _flat_dark_tray() -> np.ndarray:
    rgba = np.zeros((60, 240, 4), np.uint8)
    cv2.rectangle(rgba, (0, 10), (239, 50), (30, 30, 34, 255), -1)
    return rgba


def test_describe_product_suits_shape_and_colour() -> None:
    tall = describe_product(_tall_blue_bottle(), None)
    terms = parse_prompt(tall)
    assert terms.first("view") == "front" and terms.surface is not None and terms.wall_colour is not None
    assert colours.hue_distance(terms.wall_colour, (30, 60, 190)) > 0.3  # a harmonious contrast
    flat = parse_prompt(describe_product(_flat_dark_tray(), None))
    assert flat.first("view") == "top" and flat.surface == "marble"  # light stone under a dark object


def test_describe_product_honours_guidelines() -> None:
    text = describe_product(_tall_blue_bottle(), "on a walnut table, neon glow, no marble")
    terms = parse_prompt(text)
    assert terms.surface == "wood" and terms.first("lighting") == "neon"
    assert text.startswith("on a walnut table") and "marble" not in text.replace("no marble", "")
    avoided = parse_prompt(describe_product(_flat_dark_tray(), "no marble"))
    assert avoided.surface != "marble"


def test_describe_empty_product() -> None:
    assert "studio" in describe_product(np.zeros((10, 10, 4), np.uint8), None)

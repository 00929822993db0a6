"""The prompt suite: prompts written the way shop owners write them, and the scene each must get.

For every prompt the engine's decided scene (its :class:`ScenePlan`) must contain the expected
surface, backdrop, props and palette. Some prompts use none of the keyword vocabulary's words:
they are understood through the offline sentence embedding (all-MiniLM-L6-v2, the `prompts`
extra), which these tests need; the keyword fallback is tested at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from photostage.scenes.studio import colours
from photostage.scenes.studio.colours import COLOUR_NAMES
from photostage.scenes.studio.concepts import words_of
from photostage.scenes.studio.embedding import packaged_model_dir
from photostage.scenes.studio.engine import StudioEngine
from photostage.scenes.studio.plan import ScenePlan, plan_scene
from photostage.scenes.studio.prompt import parse_prompt
from photostage.scenes.studio.vocabulary import PHRASES

needs_model = pytest.mark.skipif(packaged_model_dir() is None, reason="the `prompts` extra is not installed")


@dataclass(frozen=True)
class Expect:
    surface: tuple[str, ...] = ()  # any of these
    backdrop: tuple[str, ...] = ()
    props: tuple[str, ...] = ()  # all of these
    lighting: tuple[str, ...] = ()
    wall: tuple[str, ...] = ()
    palette: str | None = None  # see _palette_ok
    not_props: tuple[str, ...] = field(default=())


SUITE: dict[str, Expect] = {
    "minimalist podium, pastel colours": Expect(props=("podium",), palette="pastel"),
    "kitchen counter, morning light, plants in background": Expect(
        surface=("marble", "stone", "wood"), wall=("tiles",), props=("plants",), lighting=("sunlight",)
    ),
    "beach, sand, summer": Expect(surface=("sand",), backdrop=("sea",), lighting=("sunlight",)),
    "our candle on a bathroom shelf": Expect(surface=("stone", "glass", "marble"), wall=("tiles",)),
    "hand cream on a marble plinth, soft pink": Expect(surface=("marble",), props=("podium",), palette="pink"),
    "skincare bottle on a stone pedestal with eucalyptus": Expect(surface=("stone",), props=("podium", "plants")),
    "coffee beans bag on a rustic wooden kitchen table": Expect(surface=("wood",)),
    "olive oil bottle on the kitchen worktop next to the window": Expect(
        surface=("marble", "stone", "wood"), wall=("tiles",)
    ),
    "shampoo on a tiled bathroom shelf, clean and bright": Expect(wall=("tiles",), lighting=("soft", "sunlight")),
    "sunscreen on the beach with the sea behind": Expect(surface=("sand",), backdrop=("sea",)),
    "flip flops on sand by the ocean, summer holiday": Expect(
        surface=("sand",), backdrop=("sea",), not_props=("pine", "ornaments")
    ),
    "surrounded by green plants, botanical": Expect(props=("plants",)),
    "monstera leaves around the product": Expect(props=("plants",)),
    "lying on soft linen fabric": Expect(surface=("fabric",)),
    "on a silk sheet, elegant": Expect(surface=("fabric",)),
    "on a rough stone slab, natural": Expect(surface=("stone",)),
    "in the snow, winter": Expect(surface=("snow",), palette="cool", not_props=("pine",)),
    "in shallow water with ripples": Expect(surface=("water",)),
    "christmas gift wrap with red ribbon": Expect(props=("gifts", "pine", "ornaments"), palette="red"),
    "christmas theme, festive, cosy": Expect(props=("pine", "ornaments"), palette="green"),
    "autumn vibes with fallen leaves": Expect(props=("leaves",), lighting=("golden_hour",), palette="warm"),
    "spring flowers, fresh and light": Expect(props=("flowers",), palette="pastel"),
    "halloween pumpkins, spooky": Expect(props=("pumpkins",), lighting=("low_key",)),
    "valentine's day, romantic rose petals": Expect(props=("petals",), palette="pink"),
    "easter eggs, pastel": Expect(props=("eggs",), palette="pastel"),
    "luxury perfume on black marble, dramatic": Expect(surface=("marble",), lighting=("low_key",)),
    "on my desk in the office": Expect(surface=("wood",)),
    "on a nightstand in a cosy bedroom": Expect(surface=("wood",), palette="warm"),
    "cafe table, blurry background lights": Expect(surface=("wood",), backdrop=("bokeh",)),
    "white studio background, clean ecommerce": Expect(backdrop=("sweep", "wall"), palette="light"),
    "on a round display riser, blue": Expect(props=("podium",), palette="blue"),
    "birthday present with a bow": Expect(props=("gifts",)),
    "summer vibes with palm leaves by the pool": Expect(props=("plants",), lighting=("sunlight",)),
    "tea tin on a table in a sunny kitchen": Expect(wall=("tiles",), lighting=("sunlight",)),
    "deep green velvet, gold accents": Expect(surface=("fabric",), palette="green surface"),
    "scandinavian style, light wood, white wall": Expect(surface=("wood",), palette="light", not_props=("plants",)),
    # none of the vocabulary's words: understood through the embedding alone
    "ski chalet": Expect(surface=("snow",)),
    "mother's day bouquet": Expect(props=("flowers",)),
    "by the sink next to the toothbrush": Expect(wall=("tiles",)),
    "where the surf rolls in": Expect(surface=("sand",), backdrop=("sea",)),
    "trick or treat": Expect(props=("pumpkins",)),
    "next to the stove while dinner cooks": Expect(wall=("tiles",)),
    "gift for dad": Expect(props=("gifts",)),
    "tulips on the windowsill": Expect(props=("flowers",)),
    "on the bathroom vanity": Expect(wall=("tiles",)),
    "a cottage garden in june": Expect(props=("plants",)),
}

VOCABULARY_FREE = (
    "ski chalet",
    "mother's day bouquet",
    "by the sink next to the toothbrush",
    "where the surf rolls in",
    "trick or treat",
    "next to the stove while dinner cooks",
    "gift for dad",
    "tulips on the windowsill",
    "on the bathroom vanity",
    "a cottage garden in june",
)


@pytest.fixture(scope="module")
def engine() -> StudioEngine:
    return StudioEngine()


def _plan(engine: StudioEngine, prompt: str, seed: int = 3) -> ScenePlan:
    reading = engine.read(prompt)
    rng = np.random.Generator(np.random.PCG64(seed))
    return plan_scene(reading.terms, parse_prompt(None), None, "auto", None, rng)


def _palette_ok(plan: ScenePlan, palette: str) -> bool:
    hue, lightness, saturation = colours.to_hls(plan.wall_colour)
    accents_hues = [colours.to_hls(accent)[0] for accent in plan.accents]
    if palette == "pastel":
        return lightness >= 0.7 and 0.15 <= saturation <= 0.8
    if palette == "light":
        return lightness >= 0.8
    if palette == "cool":
        return "cool" in plan.moods
    if palette == "warm":
        return "warm" in plan.moods or (hue < 0.14 or hue > 0.95) and saturation > 0.15
    if palette == "green surface":
        return colours.hue_distance(plan.surface_colour, COLOUR_NAMES["green"]) < 0.1
    reference = COLOUR_NAMES[palette]
    named_hue = colours.to_hls(reference)[0]
    near = [abs((h - named_hue + 0.5) % 1.0 - 0.5) < 0.08 for h in (hue, *accents_hues)]
    return any(near) and (saturation > 0.12 or palette == "pink")


def test_the_suite_is_big_enough_and_has_vocabulary_free_prompts() -> None:
    assert len(SUITE) >= 40
    for prompt in VOCABULARY_FREE:
        assert prompt in SUITE
        words = words_of(prompt)
        known = [word for word in words if word in PHRASES or word in COLOUR_NAMES or word.rstrip("s") in PHRASES]
        assert not known, f"{prompt!r} uses vocabulary words {known}"
        assert not parse_prompt(prompt).facts


@needs_model
@pytest.mark.parametrize("prompt", list(SUITE))
def test_the_scene_contains_what_the_prompt_names(engine: StudioEngine, prompt: str) -> None:
    expect = SUITE[prompt]
    plan = _plan(engine, prompt)
    summary = (plan.surface, plan.wall, plan.backdrop, plan.lighting, plan.props, sorted(plan.moods), plan.concepts)
    if expect.surface:
        assert plan.surface in expect.surface, summary
    if expect.wall:
        assert plan.wall in expect.wall, summary
    if expect.backdrop:
        assert plan.backdrop in expect.backdrop, summary
    if expect.lighting:
        assert plan.lighting in expect.lighting, summary
    for prop in expect.props:
        assert prop in plan.props, summary
    for prop in expect.not_props:
        assert prop not in plan.props, summary
    if expect.palette:
        assert _palette_ok(plan, expect.palette), (expect.palette, plan.wall_colour, plan.accents, summary)


@needs_model
def test_unused_words_are_reported(engine: StudioEngine) -> None:
    assert engine.read("kitchen counter, morning light, plants in background").unused == ()
    reading = engine.read("serum on a marble plinth, shot on a hasselblad")
    assert "hasselblad" in reading.unused and "marble" not in reading.unused and "plinth" not in reading.unused
    assert engine.read("marble podium, no plants").unused == ()


@needs_model
def test_negated_concepts_stay_out(engine: StudioEngine) -> None:
    assert "plants" not in _plan(engine, "marble podium, no plants").props
    assert _plan(engine, "beach without the sea").backdrop != "sea"


@needs_model
def test_the_same_prompt_reads_the_same(engine: StudioEngine) -> None:
    first, second = engine.read("wrapped up for the holidays"), engine.read("wrapped up for the holidays")
    assert first == second and first.method == "embedding"


def test_without_the_model_named_concepts_still_come_through() -> None:
    fallback = StudioEngine(use_embedding=False)
    reading = fallback.read("kitchen counter, morning light, plants in background")
    assert reading.method == "keywords"
    plan = plan_scene(reading.terms, parse_prompt(None), None, "auto", None, np.random.Generator(np.random.PCG64(1)))
    assert plan.wall == "tiles" and "plants" in plan.props
    assert _plan(fallback, "beach, sand, summer").backdrop == "sea"
    assert "podium" in _plan(fallback, "perfume on a plinth").props
    # what the fallback cannot follow, it says
    assert fallback.read("trick or treat").unused == ("trick", "treat")

"""The cut-out's confidence and its named reasons (photostage.cutout.quality), on synthetic photos:
a product on a studio backdrop is trusted; a busy or cluttered scene, a textured backdrop a pale
product dissolved into, the whole frame, nothing, or a spray of fragments are not."""

from __future__ import annotations

import numpy as np
import pytest

from photostage.config import CutoutSettings
from photostage.cutout.classical import ClassicalEngine
from photostage.cutout.quality import CERTAIN, assess
from photostage.cutout.synthetic import render_scene

MINIMUM = CutoutSettings().min_confidence


@pytest.fixture(scope="module")
def engine() -> ClassicalEngine:
    return ClassicalEngine(matting="guided")


@pytest.mark.parametrize(("product", "background", "tone"), [
    ("bottle", "white", "saturated"), ("carton", "white", "white"), ("bag", "grey", "dark"),
    ("mug", "gradient", "pale"),
])
def test_a_product_on_a_studio_backdrop_is_trusted(engine, product, background, tone):  # type: ignore[no-untyped-def]
    scene = render_scene(product, background, (320, 320), seed=7, tone=tone)
    confidence = assess(scene.rgb, engine.extract(scene.rgba).rgba[..., 3])
    assert confidence.score >= 0.85, confidence.summary()


@pytest.mark.parametrize("background", ["cluttered", "busy"])
@pytest.mark.parametrize(("product", "tone"), [("bottle", "saturated"), ("box", "dark"), ("carton", "white"),
                                               ("shoe", "pale")])
def test_busy_scenes_are_not_trusted(engine, background, product, tone):  # type: ignore[no-untyped-def]
    """No plain backdrop: whatever the engine returns (often most of the frame) is refused."""
    scene = render_scene(product, background, (320, 320), seed=8, tone=tone)
    confidence = assess(scene.rgb, engine.extract(scene.rgba).rgba[..., 3])
    assert confidence.score < MINIMUM, confidence.summary()
    assert confidence.reasons


def test_a_pale_product_lost_in_a_textured_backdrop_is_not_trusted(engine):  # type: ignore[no-untyped-def]
    scene = render_scene("carton", "textured", (320, 320), seed=9, tone="pale")
    confidence = assess(scene.rgb, engine.extract(scene.rgba).rgba[..., 3])
    assert confidence.score < MINIMUM
    assert "background_not_uniform" in {reason.code for reason in confidence.reasons}


def test_the_whole_frame_is_not_a_cut_out() -> None:
    scene = render_scene("mug", "white", (200, 200), seed=1)
    confidence = assess(scene.rgb, np.full((200, 200), 255, np.uint8))
    assert confidence.score < 0.05
    codes = {reason.code for reason in confidence.reasons}
    assert {"fills_frame", "touches_three_sides"} <= codes


def test_nothing_found() -> None:
    scene = render_scene("mug", "white", (200, 200), seed=1)
    confidence = assess(scene.rgb, np.zeros((200, 200), np.uint8))
    assert confidence.score == 0.0
    assert [reason.code for reason in confidence.reasons] == ["no_product"]


def test_fragments_are_not_trusted() -> None:
    scene = render_scene("box", "white", (240, 240), seed=2)
    alpha = np.zeros((240, 240), np.uint8)
    for y in range(20, 220, 40):
        for x in range(20, 220, 40):
            alpha[y : y + 12, x : x + 12] = 255
    confidence = assess(scene.rgb, alpha)
    assert "many_pieces" in {reason.code for reason in confidence.reasons}
    assert confidence.score < MINIMUM


def test_reasons_read_worst_first_and_serialise() -> None:
    scene = render_scene("mug", "white", (200, 200), seed=1)
    confidence = assess(scene.rgb, np.full((200, 200), 255, np.uint8))
    scores = [reason.score for reason in confidence.reasons]
    assert scores == sorted(scores)
    as_dict = confidence.as_dict()
    assert as_dict["confidence"] == round(confidence.score, 3)
    assert {"code", "score", "message"} <= set(as_dict["reasons"][0])  # type: ignore[index]
    assert confidence.summary().startswith(f"{confidence.score:.2f}: ")
    assert CERTAIN.summary() == "1.00" and CERTAIN.as_dict() == {"confidence": 1.0, "reasons": []}

"""Forms a Claid user may send that photostage once refused: colours (CSS names, rgb(), alpha),
padding in pixels, exactly 50%, and one to four values; a typo inside an object reported once."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from photostage.contract.colors import ColorError, canonical, parse_color
from photostage.contract.errors import details_from_validation
from photostage.contract.request import SceneCreateAPIIn, parse_padding
from photostage.imaging.geometry import padding_box

from ..api.test_api_scene import create, decode, effect_body, fetch_tmp  # noqa: TID252

OBJECT = {"image_url": "https://example.com/p.png"}


def errors_of(body: dict[str, object]) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        SceneCreateAPIIn.model_validate(body)
    return details_from_validation(list(caught.value.errors()))


@pytest.mark.parametrize(
    ("text", "rgba"),
    [
        ("#abc", (0xAA, 0xBB, 0xCC, 255)), ("#A1B2C3", (0xA1, 0xB2, 0xC3, 255)),
        ("#a1b2c380", (0xA1, 0xB2, 0xC3, 0x80)), ("#abc8", (0xAA, 0xBB, 0xCC, 0x88)),
        ("white", (255, 255, 255, 255)), (" RebeccaPurple ", (0x66, 0x33, 0x99, 255)),
        ("rgb(255, 128, 0)", (255, 128, 0, 255)), ("rgba(255,128,0,0.5)", (255, 128, 0, 128)),
        ("rgb(100% 50% 0% / 25%)", (255, 128, 0, 64)), ("rgb(10 20 30)", (10, 20, 30, 255)),
        ("transparent", (0, 0, 0, 0)),
    ],
)
def test_accepted_colour_forms(text: str, rgba: tuple[int, int, int, int]) -> None:
    assert parse_color(text) == rgba


@pytest.mark.parametrize(
    "text", ["hsl(0, 100%, 50%)", "redd", "#12345", "#ggg", "rgb(256, 0, 0)", "rgb(1, 2)", "rgba(1,2,3,2)", "", "0"]
)
def test_other_colours_are_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ColorError, match="accepted: .*#rrggbbaa.*rgb\\(r, g, b\\).*CSS colour name"):
        parse_color(text)


def test_canonical_spelling() -> None:
    assert canonical((1, 2, 3, 255)) == "#010203"
    assert canonical((1, 2, 3, 128)) == "#01020380"


def test_scene_colours_are_canonical_and_opaque() -> None:
    body = {"object": OBJECT, "scene": {"prompt": "a wooden table", "color": "rgb(255 0 0)"}}
    assert SceneCreateAPIIn.model_validate(body).scene.color == "#ff0000"
    body["scene"]["color"] = "rgba(255, 0, 0, 0.5)"  # type: ignore[index]
    assert "must be opaque" in errors_of(body)["scene.color"][0]
    body["scene"]["color"] = "teal"  # type: ignore[index]
    assert SceneCreateAPIIn.model_validate(body).scene.color == "#008080"


def test_effect_background_alpha() -> None:
    body = {"object": OBJECT, "scene": {"effect": "shadows", "color": "#ffffff00"}}
    assert SceneCreateAPIIn.model_validate(body).scene.color == "transparent"
    body["scene"]["color"] = "rgba(0, 0, 255, 50%)"  # type: ignore[index]
    scene = SceneCreateAPIIn.model_validate(body).scene
    assert scene.color == "#0000ff80" and scene.background_alpha == 128  # type: ignore[union-attr]
    body["output"] = {"format": "jpeg"}
    assert "needs an output format with alpha" in errors_of(body)["body"][0]


@pytest.mark.parametrize(
    ("padding", "sides"),
    [
        ("10%", ((10, "%"),) * 4),
        ("10px 20px", ((10, "px"), (20, "px"), (10, "px"), (20, "px"))),
        ("1px 2% 3px", ((1, "px"), (2, "%"), (3, "px"), (2, "%"))),
        ("1% 2% 3% 4%", ((1, "%"), (2, "%"), (3, "%"), (4, "%"))),
        ("50%", ((50, "%"),) * 4),
    ],
)
def test_padding_forms(padding: str, sides: tuple[tuple[float, str], ...]) -> None:
    margins = parse_padding(padding)
    assert (margins.top, margins.right, margins.bottom, margins.left) == tuple((float(n), u) for n, u in sides)


@pytest.mark.parametrize("padding", ["51%", "10em", "1% 2% 3% 4% 5%", "-1px", "", "10 %"])
def test_padding_refusals_list_the_forms(padding: str) -> None:
    body = {"object": {**OBJECT, "placement_type": "padding", "padding": padding}, "scene": {"prompt": "a table"}}
    assert "object.padding" in errors_of(body)


def test_padding_geometry() -> None:
    # 100 px top and bottom, 10% left and right on a 1000×1000 canvas: a square object fills the
    # 800 px of height room, centred in the horizontal room
    margins = parse_padding("100px 10%").fractions(1000, 1000)
    box = padding_box((50, 50), (1000, 1000), margins)
    assert (round(box.left), round(box.top), round(box.width), round(box.height)) == (100, 100, 800, 800)
    # asymmetric: 0 top, 500px bottom → the object lives in the top half
    box = padding_box((50, 50), (1000, 1000), parse_padding("0px 0px 500px").fractions(1000, 1000))
    assert (round(box.top), round(box.height)) == (0, 500)
    # exactly 50% all round: the smallest object the contract allows (1% of the side), centred
    box = padding_box((50, 100), (1000, 1000), parse_padding("50%").fractions(1000, 1000))
    assert round(box.height) == 10 and abs(box.top + box.height / 2 - 500) < 1e-6


def test_a_typo_inside_an_object_is_one_error() -> None:
    body = {"object": OBJECT, "scene": {"prompt": "a table"}, "output": {"number_of_imgs": 2}}
    assert errors_of(body) == {"output.number_of_imgs": ["Extra fields are not permitted."]}
    body = {"object": OBJECT, "scene": {"prompt": {"txt": "a table"}}}
    assert errors_of(body) == {"scene.prompt.txt": ["Extra fields are not permitted."]}
    body = {"object": OBJECT, "scene": {"prompt": "a table"}, "output": {"format": {"type": "webp", "compresion": 1}}}
    assert list(errors_of(body)) == ["output.format.compresion"]


def test_padding_in_pixels_end_to_end(client, auth, product_uri):  # type: ignore[no-untyped-def]
    body = effect_body(product_uri)
    body["object"] = {"image_url": product_uri, "placement_type": "padding", "padding": "200px 10%"}
    body["scene"].update(shadow={"enabled": False}, color="white")  # type: ignore[attr-defined]
    out = decode(fetch_tmp(client, create(client, auth, body).json()["data"]["output"][0]["tmp_url"]))
    rows = np.flatnonzero((out[..., :3] < 200).any(axis=(1, 2)))
    assert abs(rows[0] - 200) <= 3 and abs(rows[-1] - (1024 - 201)) <= 3


def test_translucent_effect_background_end_to_end(client, auth, product_uri):  # type: ignore[no-untyped-def]
    body = effect_body(product_uri)
    body["scene"].update(color="rgba(0, 0, 255, 0.5)")  # type: ignore[attr-defined]
    out = decode(fetch_tmp(client, create(client, auth, body).json()["data"]["output"][0]["tmp_url"]))
    corner = out[5, 5]
    assert tuple(corner) == (0, 0, 255, 128)
    assert out[..., 3].max() == 255  # the product stays opaque

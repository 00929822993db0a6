"""Template analysis (imaging.analysis): surface, light, colour temperature, depth of field, noise —
on synthetic rooms with known answers and on real photographs (scikit-image's bundled CC0/public
domain photos, read in place) — and standing a product on the detected surface."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from photostage.imaging.analysis import analyse_scene
from photostage.imaging.codecs import decode
from photostage.scenes.base import PlacedObject
from photostage.scenes.standing import base_row, stand_on_surface


def _photo_dir() -> Path | None:
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "data"
    return folder if (folder / "motorcycle_left.png").is_file() else None


PHOTOS = _photo_dir()
needs_photos = pytest.mark.skipif(PHOTOS is None, reason="scikit-image's sample photos are not installed")


def _photo(name: str) -> np.ndarray:
    assert PHOTOS is not None
    return decode((PHOTOS / name).read_bytes(), max_pixels=10**8).rgba[..., :3]


def _room(
    height: int = 360,
    width: int = 480,
    edge: float = 0.55,
    light_from_right: bool = True,
    seed: int = 0,
    table_front: float | None = None,
) -> np.ndarray:
    """A wall over a floor (or a table top with a dark front below ``table_front``), a picture on
    the wall, textured, lit from one side."""
    rng = np.random.default_rng(seed)
    room = np.zeros((height, width, 3), np.float32)
    split = round(edge * height)
    room[:split] = (196, 188, 176)
    room[split:] = (128, 100, 78)
    if table_front is not None:
        room[round(table_front * height) :] = (52, 40, 34)
    cv2.rectangle(room, (60, 50), (150, 120), (80, 96, 120), -1)
    room += cv2.GaussianBlur(rng.normal(0, 14, (height, width, 1)).astype(np.float32), (0, 0), 3)[..., None]
    ramp = np.linspace(0.75, 1.15, width, dtype=np.float32)
    room *= (ramp if light_from_right else ramp[::-1])[None, :, None]
    room += rng.normal(0, 1.5, room.shape).astype(np.float32)
    return np.clip(room, 0, 255).astype(np.uint8)


def test_a_wall_over_a_floor_is_a_floor_with_its_edge() -> None:
    facts = analyse_scene(_room(edge=0.55))
    assert facts.surface == "floor" and facts.edge_row is not None
    assert abs(facts.edge_row - 0.55) < 0.02
    assert facts.edge_row < facts.support_row < facts.near_row == 1.0
    assert facts.surface_colour[0] < 160  # the floor's colour, not the wall's


def test_a_table_has_a_near_edge() -> None:
    facts = analyse_scene(_room(edge=0.45, table_front=0.8))
    assert facts.edge_row is not None and abs(facts.edge_row - 0.45) < 0.02
    assert abs(facts.near_row - 0.8) < 0.03
    assert facts.edge_row < facts.support_row < facts.near_row


def test_a_texture_seen_from_above_is_flat() -> None:
    rng = np.random.default_rng(3)
    grain = cv2.GaussianBlur(rng.normal(0, 20, (300, 400)).astype(np.float32), (0, 0), 4, sigmaY=1)
    wood = np.clip(np.dstack([150 + grain, 104 + grain * 0.7, 68 + grain * 0.5]), 0, 255).astype(np.uint8)
    assert analyse_scene(wood).surface == "flat"


def test_the_light_side_is_found() -> None:
    right = analyse_scene(_room(light_from_right=True))
    left = analyse_scene(_room(light_from_right=False))
    assert 0 < right.light_angle < 180  # light from the right half of the dial
    assert 180 < left.light_angle < 360
    assert right.light_strength > 0.2


def test_colour_temperature_orders_warm_and_cool() -> None:
    room = _room().astype(np.float32)
    warm = np.clip(room * np.asarray([1.0, 0.88, 0.7], np.float32), 0, 255).astype(np.uint8)
    cool = np.clip(room * np.asarray([0.78, 0.9, 1.0], np.float32), 0, 255).astype(np.uint8)
    assert analyse_scene(warm).kelvin < analyse_scene(room.astype(np.uint8)).kelvin < analyse_scene(cool).kelvin
    white = analyse_scene(warm).white_point
    assert white[0] == 1.0 and white[2] < 0.85


def test_a_blurred_background_reads_as_depth_of_field() -> None:
    rng = np.random.default_rng(5)
    texture = np.clip(128 + rng.normal(0, 40, (360, 480, 3)), 0, 255).astype(np.uint8)
    texture[200:] = np.clip(texture[200:].astype(np.int16) // 2 + 40, 0, 255).astype(np.uint8)
    sharp = analyse_scene(texture)
    soft = texture.copy()
    soft[:200] = cv2.GaussianBlur(texture[:200], (0, 0), 3)
    blurred = analyse_scene(soft)
    assert blurred.edge_row is not None
    assert blurred.depth_of_field > sharp.depth_of_field + 0.3


def test_noise_is_measured_in_levels() -> None:
    rng = np.random.default_rng(9)
    smooth = np.tile(np.linspace(60, 200, 640, dtype=np.float32)[None, :, None], (480, 1, 3))
    for sigma in (2.0, 6.0):
        noisy = np.clip(smooth + rng.normal(0, sigma, smooth.shape), 0, 255).astype(np.uint8)
        assert abs(analyse_scene(noisy).noise - sigma) < 0.35 * sigma + 0.4


@needs_photos
def test_real_photographs() -> None:
    garage = analyse_scene(_photo("motorcycle_left.png"))
    assert garage.surface == "floor" and garage.edge_row is not None
    # the support row is on the garage's concrete floor: light grey, not the dark bike or shelves
    row = round(garage.support_row * 500)
    support = _photo("motorcycle_left.png")[row - 3 : row + 3, 185:556]  # the middle half, where products go
    assert support.mean() > 110 and support.std(axis=(0, 1)).max() < 30
    coffee = analyse_scene(_photo("coffee.png"))
    assert coffee.surface == "flat"  # a table top seen from above
    assert coffee.kelvin < garage.kelvin  # warm café light
    launch = analyse_scene(_photo("rocket.jpg"))
    assert launch.surface == "floor" and launch.edge_row is not None and launch.edge_row > 0.7


def _bottle(height: int, width: int, top: int, box_h: int) -> PlacedObject:
    rgba = np.zeros((height, width, 4), np.uint8)
    x0 = width // 2 - box_h // 6
    cv2.rectangle(rgba, (x0, top), (x0 + box_h // 3, top + box_h - 1), (200, 60, 40, 255), -1)
    ys, xs = np.nonzero(rgba[..., 3])
    return PlacedObject(rgba=rgba, box=(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))


def test_standing_follows_position_and_view() -> None:
    facts = analyse_scene(_room(edge=0.5))
    height, width = 360, 480
    floating = _bottle(height, width, 40, 120)  # base at row 160: in front of the wall
    stood = stand_on_surface(floating, facts, "front", position_given=False)
    assert abs(base_row(stood) - facts.support_row * height) <= 0.02 * height
    assert np.array_equal(stood.rgba[stood.alpha > 0][:, :3].reshape(-1, 3)[:1], [[200, 60, 40]])
    # a given position that floats is moved down; one already on the floor is kept
    assert (
        abs(base_row(stand_on_surface(floating, facts, "front", position_given=True)) - facts.support_row * height) <= 4
    )
    on_floor = _bottle(height, width, 200, 120)
    assert stand_on_surface(on_floor, facts, "front", position_given=True) is on_floor
    # a flat lay keeps the request's placement
    assert stand_on_surface(floating, facts, "top", position_given=False) is floating
    # too tall to stand there: scaled down about its base, still on the support row
    tall = _bottle(height, width, 5, 340)
    fitted = stand_on_surface(tall, facts, "front", position_given=False)
    assert abs(base_row(fitted) - facts.support_row * height) <= 3 and fitted.box[1] >= 0.02 * height - 1
    # the shrink is part of how much the product's own pixels end up enlarged (the response says it)
    enlarged = dataclasses.replace(tall, source_size=(57, 170), enlargement=2.0)
    shrunk = stand_on_surface(enlarged, facts, "front", position_given=False)
    width_ratio = (shrunk.box[2] - shrunk.box[0]) / (tall.box[2] - tall.box[0])
    assert shrunk.source_size == (57, 170) and shrunk.enlargement == pytest.approx(2.0 * width_ratio, rel=0.05)
    assert stood.enlargement == 1.0  # moved, not resized

"""Opt-in harmonisation: the product takes the scene's white balance, exposure, edge light and grain."""

from __future__ import annotations

import cv2
import numpy as np

from photostage.imaging.harmonise import harmonise, scene_white

LUMA = np.asarray([0.2126, 0.7152, 0.0722], np.float32)


def _product() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    layer = np.zeros((200, 200, 4), np.uint8)
    cv2.rectangle(layer, (60, 40), (139, 179), (200, 200, 200, 255), -1)
    return layer, (60, 40, 140, 180)


def _warm_dim_room() -> np.ndarray:
    room = np.zeros((200, 200, 3), np.uint8)
    room[:] = (110, 80, 50)
    room[:60, :60] = (250, 220, 180)  # a warm lamp: the scene's brightest near-neutral light
    return room


def test_off_changes_nothing() -> None:
    layer, box = _product()
    assert harmonise(layer, box, _warm_dim_room(), 0.0) is layer


def test_the_product_takes_the_scene_white_balance_and_exposure() -> None:
    layer, box = _product()
    room = _warm_dim_room()
    white = scene_white(room)
    assert white[0] == 1.0 and white[2] < 0.85
    out = harmonise(layer, box, room, 1.0)
    centre = out[100:120, 90:110, :3].reshape(-1, 3).astype(np.float32).mean(axis=0)
    assert centre[0] > centre[2] + 15  # warmer
    assert centre @ LUMA < 190  # dimmer, toward the room ...
    assert centre @ LUMA > 120  # ... but still a light product, not the room's colour
    # outside the product and its alpha: untouched
    assert np.array_equal(out[..., 3], layer[..., 3])
    assert np.array_equal(out[layer[..., 3] == 0], layer[layer[..., 3] == 0])


def test_the_edge_takes_more_of_the_scene_than_the_middle() -> None:
    layer, box = _product()
    room = np.full((200, 200, 3), (40, 90, 200), np.uint8)
    out = harmonise(layer, box, room, 1.0, white=(1.0, 1.0, 1.0)).astype(np.int16)
    edge, middle = out[100, 61, :3], out[100, 100, :3]
    assert edge[2] - edge[0] > middle[2] - middle[0] + 20


def test_grain_is_matched_and_deterministic() -> None:
    layer, box = _product()
    room = np.full((200, 200, 3), 200, np.uint8)
    first = harmonise(layer, box, room, 1.0, white=(1.0, 1.0, 1.0), noise=4.0, seed=3)
    again = harmonise(layer, box, room, 1.0, white=(1.0, 1.0, 1.0), noise=4.0, seed=3)
    assert np.array_equal(first, again)
    assert 2.5 < float(first[80:160, 80:120, 1].astype(np.float32).std()) < 6.0

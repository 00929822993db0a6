"""The shadow renderer: where the shadow falls, how dense and soft it is, and how it is applied."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from photostage.imaging.shadows import apply_shadow, contact_columns, shadow_alpha_layer, shadow_density

SIZE = 256


def _standing_product() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A canvas-sized alpha of a bottle-like silhouette standing with its base at row 200."""
    alpha = np.zeros((SIZE, SIZE), np.uint8)
    cv2.rectangle(alpha, (104, 90), (151, 199), 255, -1)
    cv2.rectangle(alpha, (120, 60), (135, 90), 255, -1)
    ys, xs = np.nonzero(alpha)
    return alpha, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def _mass_center(density: np.ndarray, outside: np.ndarray) -> tuple[float, float]:
    weights = density * outside
    ys, xs = np.mgrid[0 : density.shape[0], 0 : density.shape[1]]
    total = float(weights.sum())
    return float((xs * weights).sum() / total), float((ys * weights).sum() / total)


@pytest.fixture(scope="module")
def product() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    return _standing_product()


def test_density_is_float_in_unit_range(product) -> None:
    alpha, box = product
    for view in ("front", "top"):
        density = shadow_density(alpha, box, view, 315, 1.0, 0.5)
        assert density.dtype == np.float32 and density.shape == alpha.shape
        assert density.min() >= 0.0 and density.max() <= 1.0 and density.max() > 0.3


@pytest.mark.parametrize("view", ["front", "top"])
def test_shadow_falls_away_from_the_light(product, view: str) -> None:
    alpha, box = product
    outside = (alpha == 0).astype(np.float32)
    centre_x = (box[0] + box[2]) / 2
    from_left = _mass_center(shadow_density(alpha, box, view, 270, 1.0, 0.4), outside)
    from_right = _mass_center(shadow_density(alpha, box, view, 90, 1.0, 0.4), outside)
    assert from_left[0] > centre_x + 5 and from_right[0] < centre_x - 5


def test_front_shadow_sits_at_the_base(product) -> None:
    alpha, box = product
    density = shadow_density(alpha, box, "front", 315, 1.0, 0.5)
    outside = (alpha == 0).astype(np.float32)
    _, centre_y = _mass_center(density, outside)
    assert abs(centre_y - box[3]) < 0.25 * (box[3] - box[1])
    assert density[: box[1] - 5].max() < 0.02  # nothing floats above the product


def test_front_shadow_toward_camera_when_backlit(product) -> None:
    alpha, box = product
    front_lit = shadow_density(alpha, box, "front", 0, 1.0, 0.3)
    back_lit = shadow_density(alpha, box, "front", 180, 1.0, 0.3)
    below = slice(box[3] + 8, SIZE)
    assert back_lit[below].sum() > 3 * front_lit[below].sum()


def test_density_is_zero_far_away(product) -> None:
    alpha, box = product
    density = shadow_density(alpha, box, "front", 315, 1.0, 1.0)
    assert density[:, :20].max() < 1e-3 and density[:20].max() < 1e-3


def test_contact_is_darker_than_far_cast(product) -> None:
    alpha, box = product
    density = shadow_density(alpha, box, "front", 270, 1.0, 0.4)
    contact = density[box[3] - 2 : box[3] + 2, box[2] : box[2] + 4].mean()
    far_cast = density[box[3] - 12 : box[3] + 4, box[2] + 60 : box[2] + 70].max()
    assert contact > far_cast + 0.1


@pytest.mark.parametrize("view", ["front", "top"])
def test_softness_widens_the_shadow(product, view: str) -> None:
    alpha, box = product
    crisp = shadow_density(alpha, box, view, 315, 1.0, 0.0)
    soft = shadow_density(alpha, box, view, 315, 1.0, 1.0)
    assert (soft > 0.02).sum() > 1.3 * (crisp > 0.02).sum()


def test_opacity_scales_the_density(product) -> None:
    alpha, box = product
    full = shadow_density(alpha, box, "front", 315, 1.0, 0.5)
    half = shadow_density(alpha, box, "front", 315, 0.5, 0.5)
    np.testing.assert_allclose(half, full * 0.5, atol=1e-5)
    assert not shadow_density(alpha, box, "front", 315, 0.0, 0.5).any()


def test_top_and_front_differ(product) -> None:
    alpha, box = product
    front = shadow_density(alpha, box, "front", 315, 1.0, 0.5)
    top = shadow_density(alpha, box, "top", 315, 1.0, 0.5)
    assert np.abs(front - top).mean() > 0.005
    # A flat lay's drop shadow surrounds the silhouette (it is offset, not anchored to a base line).
    beside = (slice(box[1], box[1] + 40), slice(box[2], box[2] + 6))
    assert top[beside].mean() > front[beside].mean()


def test_empty_alpha_gives_no_shadow() -> None:
    alpha = np.zeros((64, 64), np.uint8)
    assert not shadow_density(alpha, (0, 0, 0, 0), "front", 315, 1.0, 0.5).any()


def test_apply_shadow_darkens_toward_tint_and_keeps_alpha(product) -> None:
    alpha, box = product
    density = shadow_density(alpha, box, "front", 315, 1.0, 0.5)
    background = np.full((SIZE, SIZE, 4), 200, np.uint8)
    background[..., 3] = 123
    shaded = apply_shadow(background, density, tint=(0, 0, 50))
    assert shaded.shape == background.shape and shaded.dtype == np.uint8
    assert (shaded[..., 3] == 123).all()
    peak = np.unravel_index(np.argmax(density), density.shape)
    assert shaded[peak][0] < 200 and shaded[peak][2] > shaded[peak][0]
    np.testing.assert_array_equal(shaded[:10], background[:10])
    rgb = apply_shadow(background[..., :3].copy(), density)
    assert rgb.shape == (SIZE, SIZE, 3)


def test_shadow_alpha_layer(product) -> None:
    alpha, box = product
    density = shadow_density(alpha, box, "top", 315, 1.0, 0.5)
    layer = shadow_alpha_layer(density, tint=(10, 20, 30))
    assert layer.shape == (SIZE, SIZE, 4)
    assert (layer[..., :3] == (10, 20, 30)).all()
    assert abs(int(layer[..., 3].max()) - round(float(density.max()) * 255)) <= 1


# --- ground contact from the whole footprint ---------------------------------------------------


def _car() -> np.ndarray:
    """A car in three-quarter view: the near (front) wheel reaches lower than the far (rear) one."""
    alpha = np.zeros((512, 512), np.uint8)
    cv2.rectangle(alpha, (90, 330), (430, 405), 255, -1)
    cv2.rectangle(alpha, (170, 270), (350, 335), 255, -1)
    cv2.circle(alpha, (360, 410), 42, 255, -1)
    cv2.circle(alpha, (150, 396), 38, 255, -1)
    return alpha


def _chair() -> np.ndarray:
    """A chair in three-quarter view: front legs end 40 px lower than the back legs."""
    alpha = np.zeros((512, 512), np.uint8)
    cv2.fillPoly(alpha, [np.array([[150, 300], [330, 300], [370, 340], [190, 340]])], 255)
    cv2.rectangle(alpha, (150, 120), (165, 300), 255, -1)
    cv2.rectangle(alpha, (315, 120), (330, 300), 255, -1)
    cv2.rectangle(alpha, (150, 120), (330, 170), 255, -1)
    for x, bottom in ((190, 470), (355, 470), (155, 430), (318, 430)):
        cv2.rectangle(alpha, (x, 330), (x + 12, bottom), 255, -1)
    return alpha


def _box_of(alpha: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(alpha)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _density_under(density: np.ndarray, alpha: np.ndarray, x0: int, x1: int) -> float:
    bottom = int(np.nonzero(alpha[:, x0:x1].any(axis=1))[0].max())
    return float(density[bottom + 1 : bottom + 5, x0:x1].mean())


@pytest.mark.parametrize("angle", [315.0, 45.0, 200.0])
@pytest.mark.parametrize(
    ("shape", "contacts"),
    [(_car, [(345, 376), (135, 166)]), (_chair, [(190, 202), (355, 367), (155, 167), (318, 330)])],
)
def test_every_contact_gets_a_shadow_of_similar_density(shape, contacts, angle: float) -> None:
    alpha = shape()
    density = shadow_density(alpha, _box_of(alpha), "front", angle, 0.6, 0.5)
    under = [_density_under(density, alpha, x0, x1) for x0, x1 in contacts]
    assert min(under) > 0.2, under
    assert max(under) / min(under) <= 1.5, under


def test_the_floor_under_a_car_body_is_occluded_but_a_raised_part_casts_no_contact() -> None:
    alpha = _car()
    density = shadow_density(alpha, _box_of(alpha), "front", 315.0, 0.6, 0.5)
    # Under the sill, between the wheels, the floor is in the car's shade.
    assert density[415:425, 230:280].mean() > 0.15
    # A mug: the handle's low point above the base is not a contact.
    mug = np.zeros((256, 256), np.uint8)
    cv2.rectangle(mug, (80, 80), (160, 200), 255, -1)
    cv2.ellipse(mug, (160, 130), (30, 40), 0, -90, 90, 255, 8)

    work = mug.astype(np.float32) / 255.0
    columns, rows = contact_columns(work, 201.0, 121.0)
    assert columns.min() >= 80 and columns.max() <= 160 and set(rows.tolist()) == {200}


def test_a_hand_hanging_beside_a_figure_is_not_a_contact() -> None:
    figure = np.zeros((256, 256), np.uint8)
    cv2.rectangle(figure, (110, 20), (146, 230), 255, -1)  # body and legs down to the floor
    cv2.rectangle(figure, (90, 60), (100, 140), 255, -1)  # an arm hanging free, its hand at mid height
    cv2.rectangle(figure, (90, 60), (110, 70), 255, -1)

    columns, _ = contact_columns(figure.astype(np.float32) / 255.0, 231.0, 211.0)
    assert columns.min() >= 110


# --- dithering ------------------------------------------------------------------------------------


def _longest_run(row: np.ndarray) -> int:
    changes = np.flatnonzero(np.diff(row.astype(np.int16)) != 0)
    edges = np.concatenate([[-1], changes, [row.size - 1]])
    return int(np.diff(edges).max())


def test_a_slow_shadow_gradient_does_not_band() -> None:
    """A ramp of 6 grey levels over 480 px: rounded, each level is an 80 px band; dithered, runs are
    short and the local mean follows the true gradient."""
    density = np.tile(np.linspace(0.0, 6.0 / 200.0, 480, dtype=np.float32)[None, :] + 0.01, (64, 1))
    flat = np.full((64, 480, 3), 200, np.uint8)
    shaded = apply_shadow(flat, density)[..., 0].astype(np.float32)
    truth = 200.0 * (1.0 - density)
    assert max(_longest_run(row) for row in shaded[8:56]) < 40
    local = cv2.blur(shaded, (16, 16))[8:56, 16:-16]
    assert float(np.abs(local - cv2.blur(truth, (16, 16))[8:56, 16:-16]).mean()) < 0.12
    # the same density gives the same bytes
    assert apply_shadow(flat, density).tobytes() == apply_shadow(flat, density).tobytes()


def test_transparent_shadow_alpha_is_dithered_too() -> None:
    density = np.tile(np.linspace(0.1, 0.13, 480, dtype=np.float32)[None, :], (64, 1))
    alpha = shadow_alpha_layer(density)[..., 3]
    assert max(_longest_run(row) for row in alpha[8:56]) < 40

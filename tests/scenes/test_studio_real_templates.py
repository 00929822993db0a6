"""Template scenes on real photographs (scikit-image's CC0/public-domain sample photos, read in
place): the product stands on the detected surface, its shadow falls away from the photo's light,
`adjust` changes the photo measurably but keeps its structure, `transform` changes its materials
and colours while keeping its layout — between `adjust` and a fresh scene."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from photostage.config import ModelEntry
from photostage.imaging import compose
from photostage.imaging.analysis import analyse_scene
from photostage.imaging.codecs import decode
from photostage.scenes.base import PlacedObject, RenderJob, SceneSpec, ShadowSpec
from photostage.scenes.effect import BuiltinEngine
from photostage.scenes.registry import SceneEngines
from photostage.scenes.shadow import with_shadow
from photostage.scenes.standing import base_row, stand_on_surface
from photostage.scenes.studio.engine import StudioEngine


def _photo_dir() -> Path | None:
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "data"
    return folder if (folder / "motorcycle_left.png").is_file() else None


PHOTOS = _photo_dir()
pytestmark = pytest.mark.skipif(PHOTOS is None, reason="scikit-image's sample photos are not installed")
FLOORS = ("motorcycle_left.png", "motorcycle_right.png", "rocket.jpg")
ALL = (*FLOORS, "coffee.png")
HEIGHT = 480


def _photo(name: str) -> np.ndarray:
    assert PHOTOS is not None
    return decode((PHOTOS / name).read_bytes(), max_pixels=10**8).rgba[..., :3]


def _canvas(template: np.ndarray) -> tuple[int, int]:
    return round(HEIGHT * template.shape[1] / template.shape[0] / 8) * 8, HEIGHT


def _product(width: int, height: int) -> PlacedObject:
    """A bottle, placed as a request with no position would place it: centred, 45% of the height."""
    rgba = np.zeros((height, width, 4), np.uint8)
    body_h = round(height * 0.45)
    top = (height - body_h) // 2
    x0 = width // 2 - body_h // 6
    cv2.rectangle(rgba, (x0, top + body_h // 4), (x0 + body_h // 3, top + body_h - 1), (40, 90, 160, 255), -1)
    cv2.rectangle(rgba, (x0 + body_h // 9, top), (x0 + 2 * body_h // 9, top + body_h // 4), (40, 90, 160, 255), -1)
    ys, xs = np.nonzero(rgba[..., 3])
    return PlacedObject(rgba=rgba, box=(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))


def _render(template: np.ndarray, mode: str, product: PlacedObject, prompt: str | None = None, **shadow: object):
    width, height = _canvas(template)
    spec = SceneSpec(
        kind="template" if mode != "fresh" else "prompt",
        template=template if mode != "fresh" else None,
        template_mode=mode if mode != "fresh" else "transform",  # type: ignore[arg-type]
        prompt=prompt,
        view="front",
        shadow=ShadowSpec(**shadow),  # type: ignore[arg-type]
    )
    job = RenderJob(scene=spec, width=width, height=height, product=product, seed=5)
    engines = SceneEngines({"studio": StudioEngine()}, {"v1": ModelEntry(engine="studio")}, BuiltinEngine(), str)
    return with_shadow(engines.engine_for("v1", spec).render(job), job).background[..., :3]  # as the pipeline does


def _edges(rgb: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))


def edge_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (Gaussian window, σ 1.5) of the two pictures' gradient magnitudes: structure, not colour."""
    x, y = _edges(a), _edges(b)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_x, mu_y = cv2.GaussianBlur(x, (0, 0), 1.5), cv2.GaussianBlur(y, (0, 0), 1.5)
    var_x = cv2.GaussianBlur(x * x, (0, 0), 1.5) - mu_x**2
    var_y = cv2.GaussianBlur(y * y, (0, 0), 1.5) - mu_y**2
    cov = cv2.GaussianBlur(x * y, (0, 0), 1.5) - mu_x * mu_y
    ssim = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim.mean())


def colour_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-pixel distance in CIELAB (ΔE*ab, 1976)."""
    lab_a = cv2.cvtColor(a.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    lab_b = cv2.cvtColor(b.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return float(np.linalg.norm(lab_a - lab_b, axis=2).mean())


@pytest.mark.parametrize("name", FLOORS)
def test_the_product_stands_on_the_detected_support_line(name: str) -> None:
    template = _photo(name)
    facts = analyse_scene(template)
    assert facts.surface == "floor"
    width, height = _canvas(template)
    stood = stand_on_surface(_product(width, height), facts, "front", position_given=False)
    assert abs(base_row(stood) - facts.support_row * height) <= 0.02 * height


@pytest.mark.parametrize("name", FLOORS)
def test_the_cast_shadow_points_away_from_the_estimated_light(name: str) -> None:
    template = _photo(name)
    facts = analyse_scene(template)
    width, height = _canvas(template)
    product = stand_on_surface(_product(width, height), facts, "front", position_given=False)
    plain = _render(template, "lock", product, enabled=False).astype(np.float32)
    shaded = _render(template, "lock", product).astype(np.float32)
    darkening = np.clip(plain - shaded, 0, None).mean(axis=2) * (product.alpha == 0)
    ys, xs = np.nonzero(darkening > 1.0)
    weights = darkening[ys, xs]
    x0, _, x1, base = product.box
    dx = float((xs * weights).sum() / weights.sum()) - (x0 + x1) / 2
    dy = float((ys * weights).sum() / weights.sum()) - base
    # where the shadow renderer throws a shadow for that light: sideways by the shear, back (up)
    # for light in front of the product, toward the camera for light behind it
    side = -np.sin(np.radians(facts.light_angle))
    depth = np.cos(np.radians(facts.light_angle))
    expected = np.asarray([side * 0.85, -np.sign(depth or 1.0) * max(0.14, 0.38 * abs(depth))])
    got = np.asarray([dx, dy])
    cosine = float(expected @ got / (np.linalg.norm(expected) * np.linalg.norm(got)))
    assert np.degrees(np.arccos(np.clip(cosine, -1, 1))) <= 30.0, (facts.light_angle, dx, dy)


@pytest.mark.parametrize("name", ALL)
def test_adjust_changes_the_photo_but_keeps_its_structure(name: str) -> None:
    template = _photo(name)
    width, height = _canvas(template)
    fitted = compose.cover_fit(template, width, height)
    product = _product(width, height)
    adjusted = _render(template, "adjust", product, prompt="warm golden light", enabled=False)
    assert edge_ssim(adjusted, fitted) >= 0.8
    assert colour_distance(adjusted, fitted) >= 5.0  # a visible change, not a few levels


@pytest.mark.parametrize("name", ALL)
def test_transform_changes_materials_and_keeps_the_layout(name: str) -> None:
    template = _photo(name)
    width, height = _canvas(template)
    fitted = compose.cover_fit(template, width, height)
    product = _product(width, height)
    prompt = "concrete floor, pastel blue wall"
    adjusted = _render(template, "adjust", product, prompt=prompt, enabled=False)
    transformed = _render(template, "transform", product, prompt=prompt, enabled=False)
    fresh = _render(template, "fresh", product, prompt=prompt, enabled=False)
    assert edge_ssim(transformed, fitted) >= 0.5
    # between adjust and a fresh scene: less structure than adjust, more than a fresh scene ...
    assert edge_ssim(fresh, fitted) < edge_ssim(transformed, fitted) < edge_ssim(adjusted, fitted)
    # ... and its materials and colours changed more than adjust changes them
    assert colour_distance(transformed, fitted) > colour_distance(adjusted, fitted) + 10.0


def test_shadow_tint_follows_the_floor_colour() -> None:
    template = _photo("motorcycle_left.png")
    facts = analyse_scene(template)
    width, height = _canvas(template)
    product = stand_on_surface(_product(width, height), facts, "front", position_given=False)
    shaded = _render(template, "lock", product)
    x0, _, x1, base = product.box
    under = shaded[base : base + 3, x0:x1].reshape(-1, 3).astype(np.float32).mean(axis=0)
    floor = compose.cover_fit(template, width, height)[base : base + 3, x0:x1].reshape(-1, 3).mean(axis=0)
    assert under.sum() < floor.sum() - 40  # darker ...
    assert np.argmax(under) == np.argmax(floor)  # ... in the floor's own hue, not neutral grey

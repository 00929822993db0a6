"""ClassicalEngine against synthetic catalog photos with exact truth (photostage.cutout.synthetic).

Acceptance (issue 4): mean IoU of alpha > 127 >= 0.97 on plain backdrops, >= 0.90 on gradients;
edge error (SAD in the truth's soft band) printed and bounded; no halo on a dark scene; mug
handle holes are backdrop; near-white glossy highlights stay product; floor shadows are backdrop.
The default run uses a handful of 256-640 px photos; the whole fixture set is marked slow.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from photostage.cutout import matting
from photostage.cutout.base import Cutout
from photostage.cutout.classical import ClassicalEngine
from photostage.cutout.synthetic import (
    BACKGROUND_KINDS,
    PRODUCT_KINDS,
    BackgroundKind,
    ProductKind,
    SyntheticScene,
    render_scene,
)

PLAIN: tuple[BackgroundKind, ...] = ("white", "grey")


@dataclass(frozen=True)
class Case:
    product: ProductKind
    background: BackgroundKind
    size: tuple[int, int]
    seed: int
    supersample: int = 4


@dataclass(frozen=True)
class Outcome:
    case: Case
    scene: SyntheticScene
    cutout: Cutout

    @property
    def alpha(self) -> np.ndarray:
        return self.cutout.rgba[..., 3].astype(np.float32) / 255.0


DEFAULT_CASES = (
    Case("bottle", "white", (384, 384), 1),
    Case("mug", "white", (320, 320), 2),
    Case("box", "grey", (320, 320), 3),
    Case("shoe", "grey", (384, 384), 4),
    Case("mug", "grey", (256, 256), 5),
    Case("shoe", "white", (640, 480), 6),
    Case("bottle", "gradient", (320, 320), 7),
    Case("mug", "gradient", (384, 384), 8),
    Case("box", "gradient", (256, 256), 9),
)


@pytest.fixture(scope="session")
def warm_matting() -> None:
    """Compile (or load from the numba cache) pymatting's kernels once per test session."""
    matting.warm_up()


@pytest.fixture(scope="module")
def engine(warm_matting: None) -> ClassicalEngine:
    return ClassicalEngine()


@pytest.fixture(scope="module")
def outcomes(engine: ClassicalEngine) -> dict[Case, Outcome]:
    return {case: run(engine, case) for case in DEFAULT_CASES}


def run(engine: ClassicalEngine, case: Case) -> Outcome:
    scene = render_scene(case.product, case.background, case.size, case.seed, supersample=case.supersample)
    return Outcome(case, scene, engine.extract(scene.rgba))


def iou(outcome: Outcome) -> float:
    predicted = outcome.cutout.rgba[..., 3] > 127
    truth = outcome.scene.alpha > 0.5
    return float((predicted & truth).sum() / max((predicted | truth).sum(), 1))


def edge_band(truth: np.ndarray) -> np.ndarray:
    """The truth's soft edge (0 < alpha < 1) grown by two pixels: where edge error is measured."""
    soft = ((truth > 0) & (truth < 1)).astype(np.uint8)
    return cv2.dilate(soft, np.ones((5, 5), np.uint8)) > 0


def edge_sad(outcome: Outcome) -> tuple[float, float]:
    """Sum and per-pixel mean of |alpha - truth| over the edge band (alpha in [0, 1])."""
    band = edge_band(outcome.scene.alpha)
    error = np.abs(outcome.alpha - outcome.scene.alpha)[band]
    return float(error.sum()), float(error.mean())


def mean_iou_by_kind(results: Iterator[Outcome]) -> dict[str, list[float]]:
    table: dict[str, list[float]] = {}
    for outcome in results:
        table.setdefault(outcome.case.background, []).append(iou(outcome))
    return table


def report(results: list[Outcome]) -> None:
    for outcome in results:
        sad, mae = edge_sad(outcome)
        case = outcome.case
        print(f"{case.background:9s} {case.product:7s} {case.size[0]}x{case.size[1]} IoU={iou(outcome):.4f} "
              f"SAD={sad:7.1f} band MAE={mae:.3f}")
    for kind, values in mean_iou_by_kind(iter(results)).items():
        print(f"mean IoU {kind:9s} {np.mean(values):.4f} (min {np.min(values):.4f}, n={len(values)})")


# --- acceptance ----------------------------------------------------------------------------------


def test_iou_on_plain_and_gradient_backdrops(outcomes: dict[Case, Outcome]) -> None:
    report(list(outcomes.values()))
    table = mean_iou_by_kind(iter(outcomes.values()))
    plain = [value for kind in PLAIN for value in table[kind]]
    assert np.mean(plain) >= 0.97
    assert np.mean(table["gradient"]) >= 0.90
    assert min(plain) >= 0.95


def test_edge_error_is_bounded(outcomes: dict[Case, Outcome]) -> None:
    for outcome in outcomes.values():
        sad, mae = edge_sad(outcome)
        print(f"{outcome.case.product}/{outcome.case.background}: SAD {sad:.1f}, band MAE {mae:.3f}")
        assert mae < 0.12
        assert sad / max(outcome.scene.alpha.shape) < 1.0  # under one full-alpha pixel per pixel of size


def test_no_halo_on_a_dark_scene(outcomes: dict[Case, Outcome]) -> None:
    """Composited on black, the edge band may not be much brighter than the truth's composite: the
    old white backdrop must not shine through (it does without decontamination). The colour part
    of the excess (same alpha, estimated vs true colours) must be small on its own."""
    for outcome in outcomes.values():
        if outcome.case.background != "white":
            continue
        band = edge_band(outcome.scene.alpha)
        alpha = outcome.alpha[..., None]
        predicted = (alpha * outcome.cutout.rgba[..., :3].astype(np.float32))[band].mean()
        truth = (outcome.scene.alpha[..., None] * outcome.scene.foreground)[band].mean()
        true_colours = (alpha * outcome.scene.foreground)[band].mean()
        contaminated = (alpha * outcome.scene.rgb.astype(np.float32))[band].mean()
        print(f"{outcome.case.product}: edge brightness over truth {predicted - truth:+.2f}, of which colour "
              f"{predicted - true_colours:+.2f} (undecontaminated {contaminated - truth:+.2f})")
        assert predicted - truth < 4.0
        assert predicted - true_colours < 2.5
        assert predicted - truth < 0.6 * (contaminated - truth)


def test_handle_hole_is_background(outcomes: dict[Case, Outcome]) -> None:
    for outcome in outcomes.values():
        if outcome.case.product != "mug":
            continue
        hole = enclosed_background(outcome.scene.alpha)
        assert hole.sum() > 20, "the fixture must have a real hole"
        assert (outcome.cutout.rgba[..., 3][hole] == 0).mean() > 0.95


def test_glossy_highlights_stay_product(outcomes: dict[Case, Outcome]) -> None:
    for outcome in outcomes.values():
        inside = erode(outcome.scene.alpha >= 1.0, 3)
        bright = inside & (outcome.scene.rgb.astype(np.int32).min(axis=2) > 215)
        if bright.sum() < 10:
            continue
        assert (outcome.cutout.rgba[..., 3][bright] == 255).mean() > 0.98, outcome.case


def test_floor_shadow_is_background(outcomes: dict[Case, Outcome]) -> None:
    for outcome in outcomes.values():
        if outcome.case.background == "gradient":
            continue
        backdrop = erode(outcome.scene.alpha <= 0.0, 2)
        level = np.median(outcome.scene.rgb[backdrop].astype(np.float32), axis=0)
        shaded = backdrop & (outcome.scene.rgb.astype(np.float32).mean(axis=2) < level.mean() - 12)
        assert shaded.sum() > 50, "the fixture must have a visible shadow"
        assert (outcome.cutout.rgba[..., 3][shaded] == 0).mean() > 0.97, outcome.case


def test_opaque_pixels_are_the_input_pixels(outcomes: dict[Case, Outcome]) -> None:
    for outcome in outcomes.values():
        opaque = outcome.cutout.rgba[..., 3] == 255
        assert np.array_equal(outcome.cutout.rgba[..., :3][opaque], outcome.scene.rgb[opaque])


def test_box_is_the_alpha_box(outcomes: dict[Case, Outcome]) -> None:
    for outcome in outcomes.values():
        ys, xs = np.nonzero(outcome.cutout.rgba[..., 3])
        assert outcome.cutout.box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert outcome.cutout.engine == "classical"


# --- behaviour -----------------------------------------------------------------------------------


def test_guided_fallback_without_pymatting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine must work where pymatting is not installed: ``auto`` falls back to guided."""
    monkeypatch.setattr(matting, "pymatting_available", lambda: False)
    assert matting.resolve_method("auto") == "guided"
    with pytest.raises(ValueError, match="pymatting"):
        matting.resolve_method("closed_form")
    engine = ClassicalEngine(matting="auto")
    assert not engine.closed_form
    for case in (Case("bottle", "white", (320, 320), 11), Case("mug", "gradient", (320, 320), 12)):
        outcome = run(engine, case)
        assert iou(outcome) > 0.97
        assert edge_sad(outcome)[1] < 0.12


def test_plain_photo_without_product_keeps_the_frame() -> None:
    blank = np.full((120, 160, 4), 250, np.uint8)
    blank[..., 3] = 255
    cutout = ClassicalEngine().extract(blank)
    assert cutout.box == (0, 0, 160, 120)
    assert (cutout.rgba[..., 3] == 255).all()


def test_very_narrow_photo(engine: ClassicalEngine) -> None:
    photo = np.full((1200, 60, 4), 245, np.uint8)
    photo[..., 3] = 255
    photo[300:901, 15:46, :3] = (20, 40, 200)
    cutout = engine.extract(photo)
    assert cutout.box == (15, 300, 46, 901)


def test_input_transparency_is_respected(engine: ClassicalEngine) -> None:
    scene = render_scene("box", "white", (256, 256), seed=21)
    rgba = scene.rgba.copy()
    rgba[:, :128, 3] = 0
    cutout = engine.extract(rgba)
    assert (cutout.rgba[:, :128, 3] == 0).all()
    assert (cutout.rgba[:, 128:, 3] > 0).any()


# --- the whole fixture set -----------------------------------------------------------------------


@pytest.mark.slow
def test_full_fixture_set(engine: ClassicalEngine) -> None:
    cases = [Case(product, background, (size, size), seed)
             for background in BACKGROUND_KINDS for product in PRODUCT_KINDS
             for size, seed in ((384, 100), (512, 200), (384, 300))]
    results = [run(engine, case) for case in cases]
    report(results)
    table = mean_iou_by_kind(iter(results))
    assert np.mean([value for kind in PLAIN for value in table[kind]]) >= 0.97
    assert np.mean(table["gradient"]) >= 0.90
    assert np.mean(table["textured"]) >= 0.85
    assert np.mean([edge_sad(outcome)[1] for outcome in results]) < 0.08


@pytest.mark.slow
def test_megapixel_photo(engine: ClassicalEngine) -> None:
    outcome = run(engine, Case("mug", "white", (1280, 960), 31, supersample=2))
    print(f"1.2 MP mug: IoU {iou(outcome):.4f}, band MAE {edge_sad(outcome)[1]:.3f}")
    assert iou(outcome) > 0.97
    assert (outcome.cutout.rgba[..., 3][enclosed_background(outcome.scene.alpha)] == 0).mean() > 0.95


# --- helpers -------------------------------------------------------------------------------------


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.erode(mask.astype(np.uint8), kernel) > 0


def enclosed_background(truth: np.ndarray) -> np.ndarray:
    """Truth background not connected to the frame's border (a handle's hole), eroded by 2 px."""
    background = (truth <= 0.0).astype(np.uint8)
    count, labels = cv2.connectedComponents(background, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    enclosed = (labels > 0) & ~np.isin(labels, border)
    return erode(enclosed, 2)

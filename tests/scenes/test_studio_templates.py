"""Template scenes in the studio engine: `adjust` keeps the template, `transform` follows it."""

from __future__ import annotations

import cv2
import numpy as np

from photostage.imaging import compose
from photostage.scenes.base import PlacedObject, RenderJob, SceneSpec, ShadowSpec
from photostage.scenes.shadow import with_shadow
from photostage.scenes.studio.engine import StudioEngine
from photostage.scenes.studio.templates import analyse_template

WIDTH, HEIGHT = 192, 144


def _product() -> PlacedObject:
    rgba = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    box = (84, 60, 108, 118)
    cv2.rectangle(rgba, box[:2], (box[2] - 1, box[3] - 1), (240, 240, 240, 255), -1)
    return PlacedObject(rgba=rgba, box=box)


def _template(horizon: float = 0.55) -> np.ndarray:
    """A 300×220 room: a blue-grey wall over a beige floor, a picture frame and a plant pot."""
    height, width = 220, 300
    template = np.zeros((height, width, 3), np.uint8)
    split = int(height * horizon)
    template[:split] = (70, 100, 150)
    template[split:] = (215, 195, 160)
    cv2.rectangle(template, (30, 30), (110, 90), (230, 225, 210), -1)
    cv2.circle(template, (240, split + 30), 22, (60, 120, 60), -1)
    return template


def _render(
    template: np.ndarray,
    mode: str,
    prompt: str | None = None,
    color=None,
    seed: int = 4,
    shadow: ShadowSpec | None = None,
):  # -> RenderedScene
    spec = SceneSpec(
        kind="template",
        template=template,
        template_mode=mode,
        prompt=prompt,  # type: ignore[arg-type]
        color=color,
        shadow=shadow or ShadowSpec(),
    )
    job = RenderJob(scene=spec, width=WIDTH, height=HEIGHT, product=_product(), seed=seed)
    return with_shadow(StudioEngine().render(job), job)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(np.float32) @ np.asarray([0.2126, 0.7152, 0.0722], np.float32)


def test_adjust_keeps_the_template_structure() -> None:
    template = _template()
    rendered = _render(template, "adjust", prompt="warm golden light")
    assert rendered.background.shape == (HEIGHT, WIDTH, 4)
    fitted = compose.cover_fit(template, WIDTH, HEIGHT)
    correlation = np.corrcoef(_luma(rendered.background).ravel(), _luma(fitted).ravel())[0, 1]
    assert correlation > 0.9
    assert rendered.light_wrap > 0 and rendered.info["template_mode"] == "adjust"


def test_adjust_tints_toward_the_colour_and_adds_the_shadow() -> None:
    template = _template()
    neutral = _render(template, "adjust", shadow=ShadowSpec(enabled=False)).background.astype(np.float32)
    tinted = _render(template, "adjust", color=(220, 40, 40), shadow=ShadowSpec(enabled=False)).background
    shift = tinted.astype(np.float32).mean(axis=(0, 1)) - neutral.mean(axis=(0, 1))
    assert shift[0] > shift[2] + 5
    shaded = _luma(_render(template, "adjust").background)
    x0, _, x1, y1 = _product().box
    assert shaded[y1 : y1 + 3, x0:x1].mean() < _luma(neutral)[y1 : y1 + 3, x0:x1].mean() - 10


def test_adjust_relights_dark_prompts() -> None:
    template = _template()
    bright = _luma(_render(template, "adjust", prompt="soft light").background).mean()
    dark = _luma(_render(template, "adjust", prompt="dark moody room").background).mean()
    assert dark < bright - 20


def test_transform_follows_the_template_palette_and_layout() -> None:
    template = _template(horizon=0.5)
    layout = analyse_template(template)
    assert layout.horizon is not None and abs(layout.horizon - 0.5) < 0.06
    rendered = _render(template, "transform", prompt="concrete floor")
    background = rendered.background.astype(np.float32)
    assert rendered.info["template_mode"] == "transform" and rendered.info["surface"] == "concrete"
    wall = background[:20].reshape(-1, 4).mean(axis=0)
    assert wall[2] > wall[0] + 15  # the template's blue-grey wall, not a default neutral
    other = _render(_template_warm(), "transform", prompt="concrete floor").background.astype(np.float32)
    other_wall = other[:20].reshape(-1, 4).mean(axis=0)
    assert other_wall[0] > other_wall[2] + 15


def _template_warm() -> np.ndarray:
    template = _template()
    return template[..., ::-1].copy()  # the same room with warm (orange) walls and a cool floor


def test_transform_without_a_horizon_is_a_flat_lay() -> None:
    flat = np.full((100, 100, 3), (200, 180, 150), np.uint8)
    rendered = _render(flat, "transform", prompt="linen")
    assert rendered.info["view"] == "top"


def test_templates_are_deterministic() -> None:
    template = _template()
    for mode in ("adjust", "transform"):
        assert _render(template, mode).background.tobytes() == _render(template, mode).background.tobytes()

"""The scene engine protocol and the typed values that cross it.

An engine renders the *background* of one output image: the scene with the product's shadows
but without the product. The pipeline then composites the product on top, exactly (product
fidelity): an engine cannot alter the product's pixels even if it wanted to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from photostage.imaging.analysis import SceneFacts

SceneKind = Literal["prompt", "template", "effect"]
View = Literal["auto", "top", "front"]
TemplateMode = Literal["transform", "adjust", "lock"]
Preference = Literal["fast", "optimal", "best"]
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class ShadowSpec:
    enabled: bool = True
    opacity: float = 0.6
    softness: float = 0.5
    light_angle: float | None = None  # degrees clockwise from top the light comes from; None = engine's


@dataclass(frozen=True)
class PlacedObject:
    """The cut-out product placed on the canvas.

    ``rgba`` is a canvas-sized (H, W, 4) uint8 layer with straight (non-premultiplied) alpha,
    transparent outside the product. ``box`` is (x0, y0, x1, y1), exclusive ends, of alpha > 0.
    """

    rgba: np.ndarray
    box: tuple[int, int, int, int]

    @property
    def alpha(self) -> np.ndarray:
        return self.rgba[..., 3]


@dataclass(frozen=True)
class SceneSpec:
    """What the request asks of the scene, resolved and typed (no wire types)."""

    kind: SceneKind
    prompt: str | None = None
    negative_prompt: str | None = None
    color: RGB | None = None
    transparent: bool = False
    background_alpha: int = 255  # an effect background's opacity, from a #rrggbbaa / rgba() colour
    view: View = "auto"
    template: np.ndarray | None = None  # (h, w, 3) uint8 RGB as decoded, not yet fitted
    template_facts: SceneFacts | None = None  # the template analysed once per request (None: not yet)
    template_mode: TemplateMode = "transform"
    steps: int | None = None
    preference: Preference = "optimal"
    shadow: ShadowSpec = field(default_factory=ShadowSpec)
    model: str = "v1"
    model_options: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class RenderJob:
    scene: SceneSpec
    width: int
    height: int
    product: PlacedObject
    seed: int
    index: int = 0


@dataclass
class RenderedScene:
    """An engine's result: the background, product shadows included, product excluded.

    ``background`` is (H, W, 4) uint8 RGBA (alpha 255 unless the scene is transparent).
    ``light_wrap`` (0–1) asks the pipeline to let the scene's light spill onto the product's
    soft edge (pixels with 0 < alpha < 255 only: opaque product pixels are never touched).
    """

    background: np.ndarray
    light_wrap: float = 0.0
    info: dict[str, object] = field(default_factory=dict)


class SceneEngine(Protocol):
    name: str

    def available(self) -> bool:
        """Whether the engine can run here (weights present, dependencies importable)."""
        ...

    def render(self, job: RenderJob) -> RenderedScene:
        ...

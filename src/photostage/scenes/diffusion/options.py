"""The diffusion engine's knobs, read from the model table (``engines.models.<name>.options``).

Several model names may map to the one diffusion engine with different settings (say ``v2`` with
30 steps, ``v2-beta`` with 12 and another scheduler). Options are validated when a job is
rendered; a misspelt or out-of-range option is an error, never silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Literal

InitSource = Literal["studio", "neutral"]
TemplateCall = Literal["auto", "img2img", "inpaint"]

DEFAULT_PROMPT_SUFFIX = "professional product photography, photorealistic, soft natural light, high detail"
DEFAULT_NEGATIVE_PROMPT = (
    "text, watermark, logo, extra products, duplicate objects, people, hands, "
    "blurry, lowres, deformed, cartoon"
)


@dataclass(frozen=True)
class DiffusionOptions:
    """Per-model settings of the diffusion engine; every field has a working default.

    * ``steps`` — denoising steps when the request gives none (a request's ``steps`` wins).
    * ``guidance_scale`` — classifier-free guidance: how literally the prompt is followed.
    * ``strength_prompt`` — share of the init image repainted in prompt scenes (1 = all of it:
      the studio layout is then ignored; below 1 the model keeps its floor line and light).
    * ``strength_transform`` / ``strength_adjust`` — the same for template scenes.
    * ``scheduler`` — a diffusers scheduler class compatible with the weights, e.g.
      ``DPMSolverMultistepScheduler``; ``None`` keeps the one saved with the weights.
    * ``max_side`` — longest side the model renders at; the result is upscaled to the canvas.
      ``None``: the model's native area (512² for SD 1.5, 1024² for SDXL), never above the canvas.
    * ``init`` — the backdrop the model starts from: the ``studio`` engine's render of the same
      prompt (consistent floor, light and shadows) or a ``neutral`` flat colour.
    * ``protect_band`` — the band around the product the model may not paint, as a share of the
      product's size (geometric mean of its box sides) at render size.
    * ``mask_margin`` — the least width of that band, in pixels at render size.
    * ``outline_check`` — check each result for paint that continues the product's outline past
      the band; a flagged image is painted once more with a band twice as wide and another seed,
      then the request fails (422) rather than return it.
    * ``outline_threshold`` — how much continued outline is tolerated, as a share of the product's size.
    * ``template_call`` — how template scenes are painted: ``img2img`` (the template restyled, where
      the weights can: text-to-image SD/SDXL), ``inpaint`` (around the held product), ``auto`` (img2img
      where possible).
    * ``controlnet_scale`` — conditioning scale of the ControlNet when one is configured (Canny
      edges of the init image hold the template's structure and the product's outline); 0: unused.
    * ``max_batch`` — most images generated in one pipeline call; the memory plan may allow fewer.
    * ``prompt_suffix`` / ``negative_prompt`` — appended to every request's prompt / negative.
    * ``light_wrap`` — how much of the scene's light spills onto the product's soft edge.
    """

    steps: int = 30
    guidance_scale: float = 7.5
    strength_prompt: float = 0.9
    strength_transform: float = 0.75
    strength_adjust: float = 0.35
    scheduler: str | None = None
    max_side: int | None = None
    init: InitSource = "studio"
    protect_band: float = 0.04
    mask_margin: int = 4
    outline_check: bool = True
    outline_threshold: float = 0.25
    template_call: TemplateCall = "auto"
    controlnet_scale: float = 0.8
    max_batch: int = 4
    prompt_suffix: str = DEFAULT_PROMPT_SUFFIX
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    light_wrap: float = 0.35


Check = Callable[[str, object], object]


def _integer(low: int, high: int) -> Check:
    def check(name: str, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"option {name!r} must be an integer from {low} to {high}, not {value!r}")
        return value

    return check


def _number(low: float, high: float, low_inclusive: bool = True) -> Check:
    def check(name: str, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"option {name!r} must be a number, not {value!r}")
        above_low = value >= low if low_inclusive else value > low
        if not (above_low and value <= high):
            bound = "from" if low_inclusive else "above"
            raise ValueError(f"option {name!r} must be {bound} {low} to {high}, not {value!r}")
        return float(value)

    return check


def _flag(name: str, value: object) -> object:
    if not isinstance(value, bool):
        raise ValueError(f"option {name!r} must be true or false, not {value!r}")
    return value


def _text(name: str, value: object) -> object:
    if not isinstance(value, str):
        raise ValueError(f"option {name!r} must be a string, not {value!r}")
    return value


def _optional(check: Check) -> Check:
    def optional(name: str, value: object) -> object:
        return None if value is None else check(name, value)

    return optional


def _choice(*allowed: str) -> Check:
    def check(name: str, value: object) -> object:
        if value not in allowed:
            raise ValueError(f"option {name!r} must be one of {', '.join(allowed)}, not {value!r}")
        return value

    return check


_CHECKS: dict[str, Check] = {
    "steps": _integer(1, 200),
    "guidance_scale": _number(0.0, 30.0),
    "strength_prompt": _number(0.0, 1.0, low_inclusive=False),
    "strength_transform": _number(0.0, 1.0, low_inclusive=False),
    "strength_adjust": _number(0.0, 1.0, low_inclusive=False),
    "scheduler": _optional(_text),
    "max_side": _optional(_integer(32, 8192)),
    "init": _choice("studio", "neutral"),
    "protect_band": _number(0.0, 0.5),
    "mask_margin": _integer(0, 64),
    "outline_check": _flag,
    "outline_threshold": _number(0.01, 10.0),
    "template_call": _choice("auto", "img2img", "inpaint"),
    "controlnet_scale": _number(0.0, 2.0),
    "max_batch": _integer(1, 64),
    "prompt_suffix": _text,
    "negative_prompt": _text,
    "light_wrap": _number(0.0, 1.0),
}
assert set(_CHECKS) == {field.name for field in fields(DiffusionOptions)}


def parse_options(raw: Mapping[str, object]) -> DiffusionOptions:
    """Validated options from a model entry's ``options`` mapping; unknown keys are errors."""
    unknown = sorted(set(raw) - set(_CHECKS))
    if unknown:
        raise ValueError(f"unknown diffusion option(s) {', '.join(unknown)}; known: {', '.join(_CHECKS)}")
    checked = {name: _CHECKS[name](name, value) for name, value in raw.items()}
    return DiffusionOptions(**checked)  # type: ignore[arg-type]

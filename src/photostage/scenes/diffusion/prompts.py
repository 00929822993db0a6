"""The text the model is conditioned on, built from the request's scene.

CLIP reads at most 77 tokens and weighs early words most, so the request's own words come first,
then its colour (as words: the model knows "sage green", not ``#9caf88``), then the model's
house style from the options.
"""

from __future__ import annotations

from photostage.scenes.base import SceneSpec
from photostage.scenes.diffusion.options import DiffusionOptions
from photostage.scenes.studio.colours import nearest_name


def colour_words(rgb: tuple[int, int, int] | None) -> str | None:
    if rgb is None:
        return None
    return f"{nearest_name(rgb)} colour palette"


def _joined(parts: list[str | None]) -> str:
    return ", ".join(part.strip() for part in parts if part and part.strip())


def scene_prompt(scene: SceneSpec, options: DiffusionOptions) -> str:
    """The positive prompt: request prompt, colour words, house suffix."""
    return _joined([scene.prompt, colour_words(scene.color), options.prompt_suffix])


def scene_negative_prompt(scene: SceneSpec, options: DiffusionOptions) -> str:
    """The negative prompt: the request's own first, then the house list."""
    return _joined([scene.negative_prompt, options.negative_prompt])

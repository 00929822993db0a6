"""The text the model is conditioned on, built from the request's scene within the token budget.

CLIP reads 77 tokens (75 words' worth, less for long words) and silently drops the rest; it also
weighs early tokens most. So the prompt is assembled by priority, counting with the weights' own
tokenizer: the colour words (short, and what the request's ``color`` means) are always kept; the
request's own words come first in the text and are cut from their end only if they alone would
not fit; the house style phrases follow, each kept only if it still fits. The negative prompt is
built the same way: the request's own first, then the house list phrase by phrase. What was left
out is reported, never silently lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from photostage.scenes.base import SceneSpec
from photostage.scenes.diffusion.options import DiffusionOptions
from photostage.scenes.studio.colours import nearest_name

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class AssembledPrompt:
    text: str
    tokens: int
    dropped: tuple[str, ...] = ()  # house phrases left out to stay within the budget
    truncated: bool = False  # the request's own words were cut to fit


def colour_words(rgb: tuple[int, int, int] | None) -> str | None:
    if rgb is None:
        return None
    return f"{nearest_name(rgb)} colour palette"


def phrases(text: str) -> list[str]:
    """A comma-separated list of phrases, trimmed, empty ones dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _joined(parts: list[str]) -> str:
    return ", ".join(part for part in parts if part)


def assemble(
    own: str | None, required: list[str], optional: list[str], count: TokenCounter, budget: int
) -> AssembledPrompt:
    """``own`` words first, then ``required`` phrases, then as many ``optional`` phrases, in order,
    as fit in ``budget`` tokens. ``own`` is shortened word by word from its end when it and the
    required phrases do not fit together."""
    own_text = " ".join((own or "").split())
    required = [part for part in (item.strip() for item in required) if part]
    truncated = False
    if own_text and count(_joined([own_text, *required])) > budget:
        words = own_text.split()
        low, high = 0, len(words)  # the most words that fit: binary search on the prefix length
        while low < high:
            middle = (low + high + 1) // 2
            if count(_joined([" ".join(words[:middle]), *required])) <= budget:
                low = middle
            else:
                high = middle - 1
        own_text, truncated = " ".join(words[:low]), True
    parts = [own_text, *required]
    dropped: list[str] = []
    for phrase in optional:
        candidate = [*parts, phrase]
        if count(_joined(candidate)) <= budget:
            parts = candidate
        else:
            dropped.append(phrase)
    text = _joined(parts)
    return AssembledPrompt(text=text, tokens=count(text) if text else 0, dropped=tuple(dropped), truncated=truncated)


def scene_prompt(scene: SceneSpec, options: DiffusionOptions, count: TokenCounter, budget: int) -> AssembledPrompt:
    """The positive prompt: the request's prompt, its colour words, then the house style."""
    colour = colour_words(scene.color)
    return assemble(scene.prompt, [colour] if colour else [], phrases(options.prompt_suffix), count, budget)


def scene_negative_prompt(
    scene: SceneSpec, options: DiffusionOptions, count: TokenCounter, budget: int
) -> AssembledPrompt:
    """The negative prompt: the request's own first, then the house list."""
    return assemble(scene.negative_prompt, [], phrases(options.negative_prompt), count, budget)

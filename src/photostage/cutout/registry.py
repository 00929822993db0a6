"""Cut-out engines by name, chosen by configuration, and the rule for when to cut out at all."""

from __future__ import annotations

from typing import Literal

from photostage.config import CutoutSettings
from photostage.cutout.alpha import AlphaEngine
from photostage.cutout.base import CutoutEngine
from photostage.cutout.classical import ClassicalEngine
from photostage.cutout.neural import NeuralEngine

ENGINE_NAMES = ("classical", "neural", "alpha")


def build_cutout_engine(settings: CutoutSettings) -> CutoutEngine:
    """The engine ``settings.engine`` names, ready to run; a clear ValueError at start-up for an
    unknown name or an engine that cannot run here (never a silent substitute)."""
    name = settings.engine
    engine: CutoutEngine
    if name == "classical":
        engine = ClassicalEngine()
    elif name == "alpha":
        engine = AlphaEngine()
    elif name == "neural":
        neural = NeuralEngine(settings.neural_model_path)
        reason = neural.unavailable_reason()
        if reason is not None:
            raise ValueError(f"cutout engine 'neural' is unavailable: {reason}")
        engine = neural
    else:
        raise ValueError(f"unknown cutout engine {name!r}; choose one of {', '.join(ENGINE_NAMES)}")
    if not engine.available():
        raise ValueError(f"cutout engine {name!r} is unavailable")
    return engine


def needs_cutout(
    input_has_alpha: bool, mode: Literal["auto", "always", "never"], requested: bool | None
) -> bool:
    """Whether to remove the background: an explicit request wins; otherwise ``always``/``never``;
    ``auto`` cuts out only inputs without transparency of their own."""
    if requested is not None:
        return requested
    if mode == "always":
        return True
    if mode == "never":
        return False
    return not input_has_alpha

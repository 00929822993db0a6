"""Cut-out engines by name, chosen by configuration, and the rule for when to cut out at all."""

from __future__ import annotations

from typing import Literal

from photostage.config import CutoutSettings
from photostage.cutout.alpha import AlphaEngine
from photostage.cutout.base import CutoutEngine
from photostage.cutout.classical import ClassicalEngine
from photostage.cutout.families import family_named
from photostage.cutout.models import ModelStore
from photostage.cutout.neural import NeuralEngine

ENGINE_NAMES = ("auto", "classical", "neural", "alpha")


def build_cutout_engine(settings: CutoutSettings) -> CutoutEngine:
    """The engine ``settings.engine`` names, ready to run; a clear ValueError at start-up for an
    unknown name or an engine that cannot run here (never a silent substitute).

    ``auto`` is the neural engine when a model is configured or installed (``photostage models``),
    else the classical one. A configured or installed model that cannot run (missing file, changed
    sha256, no onnxruntime) is an error, not a reason to fall back."""
    name = settings.engine
    engine: CutoutEngine
    if name == "classical":
        engine = ClassicalEngine()
    elif name == "alpha":
        engine = AlphaEngine()
    elif name in ("neural", "auto"):
        neural = build_neural_engine(settings)
        if neural is None and name == "auto":
            engine = ClassicalEngine()
        elif neural is None:
            raise ValueError("cutout engine 'neural' is unavailable: no model is installed (add one with "
                             "`photostage models add isnet PATH`, or set cutout.neural_model_path)")
        else:
            reason = neural.unavailable_reason()
            if reason is not None:
                raise ValueError(f"cutout engine 'neural' is unavailable: {reason}")
            engine = neural
    else:
        raise ValueError(f"unknown cutout engine {name!r}; choose one of {', '.join(ENGINE_NAMES)}")
    if not engine.available():
        raise ValueError(f"cutout engine {name!r} is unavailable")
    return engine


def build_neural_engine(settings: CutoutSettings) -> NeuralEngine | None:
    """The neural engine for ``neural_model_path``, else the installed model ``neural_model`` names,
    else the best installed one; None when there is none. Installed files are checked against the
    sha256 recorded when they were added."""
    if settings.neural_model_path is not None:
        return NeuralEngine(settings.neural_model_path, family_named(settings.neural_family),
                            threads=settings.neural_threads)
    store = ModelStore(settings.models_dir) if settings.models_dir is not None else None
    if settings.neural_model is not None:
        if store is None:
            raise ValueError(f"cutout.neural_model {settings.neural_model!r} is set but there is no models_dir")
        installed = store.get(settings.neural_model)
    else:
        best = store.best() if store is not None else None
        if best is None:
            return None
        installed = best
    assert store is not None
    path = store.verify(installed)
    return NeuralEngine(path, family_named(installed.family), threads=settings.neural_threads,
                        label=installed.name)


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

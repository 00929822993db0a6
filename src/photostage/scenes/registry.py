"""Scene engines by name, and the server's model table (model name → engine).

Out of the box every model maps to the built-in `studio` engine; a server with diffusion weights
configured maps `v2` to `diffusion`. Effect scenes and locked templates need no generation and
are rendered by the built-in engine whatever the model, once the model itself is known to be
available. A model whose engine is unavailable is a clear 422, never a silent substitute. This is
the only place that decides which engine renders what.

The registry also writes a scene prompt for a product (``prompt: {generate: true}``), whichever
engine then renders it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from photostage.config import ModelEntry, Settings, model_entry
from photostage.contract.errors import MODEL_UNAVAILABLE, PhotostageError
from photostage.scenes.base import SceneEngine, SceneSpec, needs_no_generation, with_render_many
from photostage.scenes.effect import BuiltinEngine


@dataclass(frozen=True)
class ModelInfo:
    name: str
    engine: str
    available: bool
    status: dict[str, object] = field(default_factory=dict)  # device honesty, for engines with weights


ProductDescriber = Callable[[np.ndarray, "str | None"], str]


@dataclass
class SceneEngines:
    engines: dict[str, SceneEngine]
    models: dict[str, ModelEntry]
    builtin: SceneEngine
    describer: ProductDescriber

    def describe(self) -> list[ModelInfo]:
        """Each model name, its engine, whether it can run here, and (engines with weights) where
        they run, in what number format, whether loaded, and any warning."""
        described = []
        for name, entry in self.models.items():
            engine = self.engines.get(entry.engine)
            status = getattr(engine, "status", None)
            details: dict[str, object] = dict(status()) if callable(status) else {}
            if engine is not None and not callable(status):
                details["device"] = "cpu"  # the built-in engines compute on the CPU, without weights
            described.append(ModelInfo(name, entry.engine, engine is not None and engine.available(), details))
        return described

    def start_loading(self) -> None:
        """Start loading every engine's weights in the background (server and worker start)."""
        for engine in self.engines.values():
            start = getattr(engine, "start_loading", None)
            if callable(start):
                start()

    def check_capacity(self, model: str, scene: SceneSpec) -> None:
        """Refuse now (503 with Retry-After) when the engine that would render this scene could not
        take one more call: the overload gate asks before any work or credit is spent on a request.
        Scenes the built-in engine renders (effects, locked templates) never wait for a GPU."""
        entry = self.models.get(model)
        if entry is None or needs_no_generation(scene):
            return
        check = getattr(self.engines.get(entry.engine), "check_capacity", None)
        if callable(check):
            check()

    def engine_for(self, model: str, scene: SceneSpec) -> SceneEngine:
        """The engine that renders ``scene`` for ``model``: the built-in one for scenes that need no
        generation, the model's own otherwise; 422 when the model's engine cannot run here."""
        entry = self.models.get(model)
        engine = self.engines.get(entry.engine) if entry else None
        if entry is None or engine is None or not engine.available():
            reason = (
                f"model {model!r} is not configured on this server"
                if entry is None
                else f"model {model!r} needs the {entry.engine!r} engine, which is not available here"
            )
            raise PhotostageError(MODEL_UNAVAILABLE, details={"scene.model": [reason]})
        return with_render_many(self.builtin if needs_no_generation(scene) else engine)

    def describe_product(self, product_rgba: np.ndarray, guidelines: str | None) -> str:
        """A scene prompt written for the cut-out product (``prompt: {generate: true}``)."""
        return self.describer(product_rgba, guidelines)

    def options_for(self, model: str) -> dict[str, object]:
        entry = self.models.get(model)
        return dict(entry.options) if entry else {}


def local_engines() -> SceneEngines:
    """The engines that need no weights (studio, builtin) under the default model table, routed as
    a server routes them: for tools that render without one (the galleries)."""
    from photostage.config import default_models
    from photostage.scenes.studio.engine import StudioEngine
    from photostage.scenes.studio.prompt import describe_product

    models = {name: model_entry(model) for name, model in default_models().items()}
    return SceneEngines(engines={"studio": StudioEngine()}, models=models, builtin=BuiltinEngine(),
                        describer=describe_product)


def build_scene_engines(settings: Settings) -> SceneEngines:
    from photostage.scenes.studio.engine import StudioEngine
    from photostage.scenes.studio.prompt import describe_product

    engines: dict[str, SceneEngine] = {"studio": StudioEngine()}
    if settings.engines.diffusion_path is not None:  # the model table's options were checked with the settings
        from photostage.scenes.diffusion.engine import DiffusionEngine, settings_from

        diffusion = settings_from(settings.engines)
        engines["diffusion"] = DiffusionEngine(diffusion.path, settings=diffusion)
    models = {name: model_entry(model) for name, model in settings.engines.models.items()}
    return SceneEngines(engines=engines, models=models, builtin=BuiltinEngine(), describer=describe_product)

"""Scene engines by name, and the server's model table (model name → engine).

Out of the box every model maps to the built-in `studio` engine; a server with diffusion weights
configured maps `v2` to `diffusion`. Effect scenes and locked templates need no generation and
are rendered by the built-in engine whatever the model, once the model itself is known to be
available. A model whose engine is unavailable is a clear 422, never a silent substitute.
"""

from __future__ import annotations

from dataclasses import dataclass

from photostage.config import ModelEntry, Settings
from photostage.contract.errors import MODEL_UNAVAILABLE, PhotostageError
from photostage.scenes.base import SceneEngine
from photostage.scenes.effect import BuiltinEngine


@dataclass(frozen=True)
class ModelInfo:
    name: str
    engine: str
    available: bool


@dataclass
class SceneEngines:
    engines: dict[str, SceneEngine]
    models: dict[str, ModelEntry]
    builtin: SceneEngine

    def describe(self) -> list[ModelInfo]:
        return [
            ModelInfo(name, entry.engine, entry.engine in self.engines and self.engines[entry.engine].available())
            for name, entry in self.models.items()
        ]

    def engine_for(self, model: str, kind: str, template_mode: str | None) -> SceneEngine:
        entry = self.models.get(model)
        engine = self.engines.get(entry.engine) if entry else None
        if entry is None or engine is None or not engine.available():
            reason = (
                f"model {model!r} is not configured on this server"
                if entry is None
                else f"model {model!r} needs the {entry.engine!r} engine, which is not available here"
            )
            raise PhotostageError(MODEL_UNAVAILABLE, details={"scene.model": [reason]})
        if kind == "effect" or (kind == "template" and template_mode == "lock"):
            return self.builtin
        return engine

    def options_for(self, model: str) -> dict[str, object]:
        entry = self.models.get(model)
        return dict(entry.options) if entry else {}


def build_scene_engines(settings: Settings) -> SceneEngines:
    from photostage.scenes.studio.engine import StudioEngine

    engines: dict[str, SceneEngine] = {"studio": StudioEngine()}
    if settings.engines.diffusion_path is not None:
        from photostage.scenes.diffusion.engine import DiffusionEngine

        engines["diffusion"] = DiffusionEngine(
            settings.engines.diffusion_path, device=settings.engines.diffusion_device
        )
    return SceneEngines(engines=engines, models=dict(settings.engines.models), builtin=BuiltinEngine())

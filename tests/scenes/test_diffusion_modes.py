"""The diffusion engine's modes and failure paths on tiny pipelines of real diffusers classes:
scene kinds it hands to the builtin engine, init sources, schedulers, options, concurrency,
text-to-image checkpoints and broken weights. No download: the tokenizer files are written here."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: the engine loads with local_files_only

from photostage.config import ModelEntry  # noqa: E402
from photostage.contract.errors import MODEL_UNAVAILABLE, SCENE_FAILED, PhotostageError  # noqa: E402
from photostage.scenes.base import PlacedObject, RenderJob, SceneSpec, ShadowSpec  # noqa: E402
from photostage.scenes.diffusion.engine import DiffusionEngine  # noqa: E402
from photostage.scenes.diffusion.tiny import write_tiny_pipeline, write_tokenizer_files  # noqa: E402
from photostage.scenes.effect import BuiltinEngine  # noqa: E402
from photostage.scenes.registry import SceneEngines  # noqa: E402

SIDE = 64
FAST: dict[str, object] = {"steps": 2}


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tokenizer_files(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path) -> DiffusionEngine:
    directory = write_tiny_pipeline(tmp_path_factory.mktemp("inpaint") / "pipe", tokenizer_dir)
    return DiffusionEngine(directory, device="cpu")


def product() -> PlacedObject:
    rgba = np.zeros((SIDE, SIDE, 4), np.uint8)
    rgba[18:54, 24:40] = (210, 60, 40, 255)
    rgba[17, 24:40] = (210, 60, 40, 128)
    return PlacedObject(rgba=rgba, box=(24, 17, 40, 54))


def job(scene: SceneSpec, seed: int = 1, index: int = 0) -> RenderJob:
    return RenderJob(scene=scene, width=SIDE, height=SIDE, product=product(), seed=seed, index=index)


def prompt_scene(options: dict[str, object] | None = None, prompt: str = "wooden table") -> SceneSpec:
    return SceneSpec(kind="prompt", prompt=prompt, model="v2", model_options=options or FAST)


def test_effects_and_locked_templates_need_no_weights(tmp_path: Path, tokenizer_dir: Path) -> None:
    fresh = DiffusionEngine(write_tiny_pipeline(tmp_path / "pipe", tokenizer_dir), device="cpu")
    effect = job(SceneSpec(kind="effect", color=(240, 240, 240)))
    template = np.full((40, 40, 3), 90, np.uint8)
    locked = job(SceneSpec(kind="template", template=template, template_mode="lock"))
    registry = SceneEngines({"diffusion": fresh}, {"v2": ModelEntry(engine="diffusion")}, BuiltinEngine(), str)
    for scene_job in (effect, locked):
        expected = BuiltinEngine().render(scene_job).background
        assert np.array_equal(registry.engine_for("v2", scene_job.scene).render(scene_job).background, expected)
    assert not fresh.loaded  # nothing was generated, so the weights were never loaded


def test_neutral_init_and_colour(engine: DiffusionEngine) -> None:
    options = {**FAST, "init": "neutral"}
    scene = SceneSpec(kind="prompt", prompt="paper", color=(30, 90, 200), model_options=options)
    rendered = engine.render(job(scene))
    assert rendered.info["init"] == "neutral"
    assert rendered.background.shape == (SIDE, SIDE, 4)


def test_shadows_off_renders_without_them(engine: DiffusionEngine) -> None:
    scene = SceneSpec(kind="prompt", prompt="paper", model_options={**FAST, "init": "neutral"},
                      shadow=ShadowSpec(enabled=False))
    assert engine.render(job(scene)).background.shape == (SIDE, SIDE, 4)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # diffusers × numpy 2
def test_scheduler_option_switches_and_restores(engine: DiffusionEngine) -> None:
    default_before = engine.render(job(prompt_scene())).background
    switched = engine.render(job(prompt_scene({**FAST, "scheduler": "DPMSolverMultistepScheduler"})))
    assert switched.info["scheduler"] == "DPMSolverMultistepScheduler"
    default_after = engine.render(job(prompt_scene())).background
    assert np.array_equal(default_before, default_after)  # the saved scheduler is back for other models


@pytest.mark.parametrize("options", [
    {**FAST, "scheduler": "NoSuchScheduler"},
    {**FAST, "stepz": 3},
    {**FAST, "strength_prompt": 2.0},
])
def test_bad_model_options_fail_the_scene_clearly(
    engine: DiffusionEngine, options: dict[str, object]
) -> None:
    with pytest.raises(PhotostageError) as caught:
        engine.render(job(prompt_scene(options)))
    assert caught.value.kind == SCENE_FAILED
    assert caught.value.details["scene.model"]


def test_concurrent_renders_equal_sequential_ones(engine: DiffusionEngine) -> None:
    jobs = [job(prompt_scene(), seed=seed) for seed in (11, 12, 13)]
    sequential = [engine.render(item).background for item in jobs]
    with ThreadPoolExecutor(max_workers=3) as pool:
        concurrent = [rendered.background for rendered in pool.map(engine.render, jobs)]
    for alone, together in zip(sequential, concurrent, strict=True):
        assert np.array_equal(alone, together)


def test_mixed_batch_keeps_order_and_kinds(engine: DiffusionEngine) -> None:
    template = np.zeros((30, 50, 3), np.uint8)
    template[15:] = (150, 110, 70)
    jobs = [
        job(prompt_scene(), seed=1),
        job(SceneSpec(kind="template", template=template, template_mode="transform", model_options=FAST)),
        job(prompt_scene(), seed=2, index=1),
    ]
    rendered = engine.render_many(jobs)  # effects never reach this engine: the registry routes them
    assert [item.info.get("engine") for item in rendered] == ["diffusion", "diffusion", "diffusion"]
    assert rendered[1].info["init"] == "template"
    alone = engine.render(jobs[0]).background.astype(int)
    assert np.abs(rendered[0].background.astype(int) - alone).max() <= 2  # batched maths, same picture


def test_text_to_image_checkpoint_is_adapted_to_inpainting(tmp_path: Path, tokenizer_dir: Path) -> None:
    directory = write_tiny_pipeline(tmp_path / "txt2img", tokenizer_dir, inpainting=False)
    index = json.loads((directory / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    adapted = DiffusionEngine(directory, device="cpu")
    assert adapted.available()
    rendered = adapted.render(job(prompt_scene()))
    assert rendered.info["pipeline"] == "StableDiffusionInpaintPipeline"
    assert rendered.background.shape == (SIDE, SIDE, 4)


def test_unloadable_weights_fail_the_scene_then_are_reported_unavailable(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionInpaintPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
    }))
    broken = DiffusionEngine(tmp_path, device="cpu")
    assert broken.available()  # the directory looks right; only loading can tell
    with pytest.raises(PhotostageError) as caught:
        broken.render(job(prompt_scene()))
    assert caught.value.kind == MODEL_UNAVAILABLE and caught.value.status == 422
    assert "could not be loaded" in caught.value.details["scene.model"][0]
    assert str(tmp_path) not in caught.value.details["scene.model"][0]  # no server paths in responses
    assert not broken.available()  # from then on the model is reported unavailable, with the reason
    assert "failed to load" in (broken.unavailable_reason() or "")

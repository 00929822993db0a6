"""The diffusion engine on a tiny, randomly initialised inpainting pipeline of real diffusers classes.

The pipeline is built and saved once per module (no download: the tokenizer files are written
here), then loaded from disk by the engine exactly as real weights would be. Its images are
noise; what is tested is the plumbing: sizes, seeds, masks, templates, product fidelity, the API.
"""

from __future__ import annotations

import base64
import io
import json
import os
import string
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

os.environ["HF_HUB_OFFLINE"] = "1"

from photostage.imaging import compose  # noqa: E402
from photostage.scenes.base import PlacedObject, RenderedScene, RenderJob, SceneSpec  # noqa: E402
from photostage.scenes.diffusion.engine import DiffusionEngine  # noqa: E402
from photostage.scenes.diffusion.options import parse_options  # noqa: E402
from photostage.scenes.diffusion.tiny import write_tiny_pipeline  # noqa: E402

SIDE = 64
OPTIONS: dict[str, object] = {"steps": 2, "max_side": SIDE}


def write_tokenizer(directory: Path) -> Path:
    """A CLIP BPE vocabulary: the special tokens, single letters, and a few merged words."""
    directory.mkdir(parents=True, exist_ok=True)
    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for character in string.ascii_lowercase + string.digits + ",.-":
        vocab[character] = len(vocab)
        vocab[character + "</w>"] = len(vocab)
    merges = ["m a", "ma r", "mar b", "marb l", "marbl e</w>"]
    for merge in merges:
        vocab["".join(merge.split())] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("diffusion")
    tokenizer_dir = write_tokenizer(root / "tokenizer-files")
    return write_tiny_pipeline(root / "tiny-inpaint", tokenizer_dir)


@pytest.fixture(scope="module")
def engine(tiny_dir: Path) -> DiffusionEngine:
    return DiffusionEngine(tiny_dir, device="cpu")


def product_layer(side: int = SIDE) -> PlacedObject:
    """A canvas-sized product layer: an opaque textured block with a soft, half-transparent rim."""
    rng = np.random.default_rng(5)
    rgba = np.zeros((side, side, 4), np.uint8)
    y0, y1, x0, x1 = side * 5 // 16, side * 13 // 16, side * 6 // 16, side * 10 // 16
    rgba[y0 - 1 : y1 + 1, x0 - 1 : x1 + 1] = (180, 40, 40, 120)
    rgba[y0:y1, x0:x1, :3] = rng.integers(0, 256, (y1 - y0, x1 - x0, 3), dtype=np.uint8)
    rgba[y0:y1, x0:x1, 3] = 255
    return PlacedObject(rgba=rgba, box=(x0 - 1, y0 - 1, x1 + 1, y1 + 1))


def prompt_job(seed: int, index: int = 0, prompt: str = "marble table") -> RenderJob:
    scene = SceneSpec(kind="prompt", prompt=prompt, color=(90, 140, 200), model="v2", model_options=OPTIONS)
    return RenderJob(scene=scene, width=SIDE, height=SIDE, product=product_layer(), seed=seed, index=index)


@pytest.fixture(scope="module")
def first_render(engine: DiffusionEngine) -> tuple[RenderJob, RenderedScene]:
    """One prompt render shared by the tests that only inspect it (renders cost ~1 s each on CPU)."""
    job = prompt_job(seed=1)
    return job, engine.render(job)


def test_prompt_render_has_canvas_shape_and_is_opaque(
    engine: DiffusionEngine, first_render: tuple[RenderJob, RenderedScene]
) -> None:
    assert engine.available() and engine.loaded
    rendered = first_render[1]
    assert rendered.background.shape == (SIDE, SIDE, 4)
    assert rendered.background.dtype == np.uint8
    assert (rendered.background[..., 3] == 255).all()
    assert rendered.light_wrap == pytest.approx(0.35)
    assert rendered.info["engine"] == "diffusion"
    assert rendered.info["steps"] == 2


def test_same_seed_same_image_different_seed_different_image(
    engine: DiffusionEngine, first_render: tuple[RenderJob, RenderedScene]
) -> None:
    first = first_render[1].background
    again = engine.render(prompt_job(seed=1)).background
    other = engine.render(prompt_job(seed=8)).background
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_batch_renders_each_image_as_alone(engine: DiffusionEngine) -> None:
    """One pipeline call for N images; each image depends on its own (seed, index) only."""
    jobs = [prompt_job(seed=3, index=0), prompt_job(seed=3, index=1)]
    batch = engine.render_many(jobs)
    assert len(batch) == 2
    assert not np.array_equal(batch[0].background, batch[1].background)
    alone = engine.render(jobs[1]).background
    assert np.abs(batch[1].background.astype(int) - alone.astype(int)).max() <= 2


def test_composite_keeps_opaque_product_pixels_exact(first_render: tuple[RenderJob, RenderedScene]) -> None:
    job, rendered = first_render
    out = compose.composite_over(rendered.background, job.product.rgba, job.product.box)
    opaque = job.product.alpha == 255
    assert opaque.sum() > 100
    assert np.array_equal(out[..., :3][opaque], job.product.rgba[..., :3][opaque])


def test_background_does_not_contain_the_product(first_render: tuple[RenderJob, RenderedScene]) -> None:
    """The hole under the product is filled from the scene, not left as the product's texture."""
    job, rendered = first_render
    background = rendered.background[..., :3].astype(np.int16)
    opaque = job.product.alpha == 255
    product = job.product.rgba[..., :3].astype(np.int16)
    assert np.abs(background[opaque] - product[opaque]).mean() > 20


@pytest.mark.parametrize("mode", ["adjust", "transform"])
def test_template_scene_renders(engine: DiffusionEngine, mode: str) -> None:
    template = np.zeros((48, 80, 3), np.uint8)
    template[:24] = (200, 190, 170)
    template[24:] = (120, 90, 60)
    scene = SceneSpec(kind="template", template=template, template_mode=mode, model="v2", model_options=OPTIONS)  # type: ignore[arg-type]
    job = RenderJob(scene=scene, width=SIDE, height=SIDE, product=product_layer(), seed=1)
    rendered = engine.render(job)
    assert rendered.background.shape == (SIDE, SIDE, 4)
    assert rendered.info["init"] == "template"
    assert rendered.info["strength"] == pytest.approx(0.35 if mode == "adjust" else 0.75)


def test_render_at_capped_size_is_upscaled_to_the_canvas(engine: DiffusionEngine) -> None:
    scene = SceneSpec(kind="prompt", prompt="marble", model="v2", model_options={"steps": 2, "max_side": 32})
    rgba = compose.resize(product_layer().rgba, 96, 80)
    job = RenderJob(scene=scene, width=96, height=80, product=PlacedObject(rgba, (30, 20, 60, 70)), seed=1)
    rendered = engine.render(job)
    assert rendered.background.shape == (80, 96, 4)
    width, height = rendered.info["render_size"]  # type: ignore[misc]
    assert max(width, height) <= 32 and width % 8 == 0 and height % 8 == 0


def test_available_is_false_without_a_diffusers_directory(tmp_path: Path) -> None:
    assert not DiffusionEngine(tmp_path / "missing").available()
    assert not DiffusionEngine(tmp_path).available()
    (tmp_path / "model_index.json").write_text("not json", encoding="utf-8")
    assert not DiffusionEngine(tmp_path).available()


def test_safety_checker_is_switched_off_only_where_the_weights_have_one(tmp_path: Path, tiny_dir: Path) -> None:
    from photostage.scenes.diffusion.pipeline import safety_checker_off

    assert safety_checker_off(tiny_dir) == {
        "safety_checker": None, "feature_extractor": None, "requires_safety_checker": False,
    }
    (tmp_path / "model_index.json").write_text(
        json.dumps({"_class_name": "StableDiffusionXLInpaintPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}),
        encoding="utf-8",
    )
    assert safety_checker_off(tmp_path) == {}
    assert safety_checker_off(tmp_path / "missing") == {}


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # diffusers vs numpy 2.4
def test_scheduler_option_swaps_a_compatible_scheduler_and_rejects_others(engine: DiffusionEngine) -> None:
    from photostage.contract.errors import PhotostageError

    def job(scheduler: str) -> RenderJob:
        scene = SceneSpec(kind="prompt", prompt="marble", model="v2", model_options={**OPTIONS, "scheduler": scheduler})
        return RenderJob(scene=scene, width=SIDE, height=SIDE, product=product_layer(), seed=1)

    rendered = engine.render(job("DPMSolverMultistepScheduler"))
    assert rendered.info["scheduler"] == "DPMSolverMultistepScheduler"
    with pytest.raises(PhotostageError):
        engine.render(job("NoSuchScheduler"))
    assert engine.render(prompt_job(seed=1)).info["scheduler"] is None


def test_unknown_option_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown diffusion option"):
        parse_options({"stepz": 3})
    assert parse_options({"strength_adjust": 0.5, "guidance_scale": 5}).guidance_scale == 5.0


def png_data_uri(rgba: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def product_photo() -> np.ndarray:
    """A small RGBA cut-out with transparency around an opaque, textured body."""
    rgba = np.zeros((60, 40, 4), np.uint8)
    rng = np.random.default_rng(9)
    rgba[6:54, 8:32, :3] = rng.integers(0, 256, (48, 24, 3), dtype=np.uint8)
    rgba[6:54, 8:32, 3] = 255
    rgba[5, 8:32, 3] = 128
    return rgba


def test_api_v2_scene_runs_the_diffusion_engine(tiny_dir: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from photostage.api.app import create_app
    from photostage.config import Settings
    from photostage.cutout.base import Cutout, alpha_box
    from photostage.pipeline.plan import Placement
    from photostage.pipeline.steps import place_object

    models = {
        "v1": {"engine": "studio"},
        "v2-beta": {"engine": "studio"},
        "v2": {"engine": "diffusion", "options": {"max_side": SIDE, "steps": 2}},
    }
    settings = Settings(
        data_dir=tmp_path,
        engines={"diffusion_path": str(tiny_dir), "diffusion_device": "cpu", "models": models,  # type: ignore[arg-type]
                 "diffusion_preload": False},  # loaded by the first request here (lazily)
        rate_limit={"enabled": False},  # type: ignore[arg-type]
    )
    app = create_app(settings)
    secret = app.state.services.keys.create("t")[0]
    auth = {"Authorization": f"Bearer {secret}"}
    photo = product_photo()
    body = {
        "object": {"image_url": png_data_uri(photo), "scale": 0.5},
        "scene": {"prompt": "marble table", "model": "v2", "seed": 1, "preference": "fast"},
        "output": {"number_of_images": 1, "format": "png"},
    }
    with TestClient(app, raise_server_exceptions=False) as client:
        listed = client.get("/v1/models", headers=auth)
        assert listed.status_code == 200, listed.text
        models_by_name = {entry["name"]: entry for entry in listed.json()["data"]}
        v2 = models_by_name["v2"]
        assert (v2["name"], v2["engine"], v2["available"], v2["device"], v2["weights"]) == (
            "v2", "diffusion", True, "cpu", "idle")
        assert v2["warning"] is None  # cpu was asked for: no fallback to warn about
        assert models_by_name["v1"]["engine"] == "studio"
        diffusion = app.state.services.engines.engines["diffusion"]
        diffusion = getattr(diffusion, "inner", diffusion)  # behind the pipeline's safety net
        assert isinstance(diffusion, DiffusionEngine) and not diffusion.loaded
        response = client.post("/v1/scene/create", json=body, headers=auth)
        assert response.status_code == 200, response.text
        assert diffusion.loaded
        profiling = response.json()["data"]["profiling"]
        assert profiling["diffusion_steps_run"] == 2  # the steps that ran, said in the response
        assert profiling["diffusion_pipeline"] == "StableDiffusionInpaintPipeline"
        assert profiling["diffusion_device"] == "cpu (float32)"
        parts = urlsplit(response.json()["data"]["output"][0]["tmp_url"])
        image = client.get(f"{parts.path}?{parts.query}")
        assert image.status_code == 200, image.text
    out = np.asarray(Image.open(io.BytesIO(image.content)).convert("RGBA"))
    cutout = Cutout(rgba=photo, box=alpha_box(photo[..., 3]), engine="alpha")
    placed = place_object(cutout, Placement("absolute", 0, 0.5, (0.5, 0.5)), (out.shape[1], out.shape[0])).rgba
    opaque = placed[..., 3] == 255
    assert opaque.sum() > 1000
    assert np.array_equal(out[..., :3][opaque], placed[..., :3][opaque])


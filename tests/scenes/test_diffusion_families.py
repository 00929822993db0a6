"""Every kind of weights the diffusion engine takes, each as a tiny pipeline of the real diffusers
class, loaded from disk the way an operator's weights are: SD 1.5-shaped inpainting and
text-to-image, SDXL inpainting, FLUX.1 Fill, a single-file checkpoint in the original layout, a
directory whose VAE exists only as an fp16 variant, and a ControlNet beside SD weights. Templates go
through img2img where the weights allow it. Images are noise; what is checked is that each path
runs, reports what it ran, and keeps the product's pixels out of the model's hands."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from photostage.imaging import compose  # noqa: E402
from photostage.scenes.base import PlacedObject, RenderedScene, RenderJob, SceneSpec  # noqa: E402
from photostage.scenes.diffusion.engine import DiffusionEngine, DiffusionSettings  # noqa: E402
from photostage.scenes.diffusion.pipeline import Runtime  # noqa: E402
from photostage.scenes.diffusion.tiny import (  # noqa: E402
    write_tiny_controlnet,
    write_tiny_flux_fill_pipeline,
    write_tiny_pipeline,
    write_tiny_sdxl_pipeline,
    write_tiny_single_file,
    write_tokenizer_files,
)

SIDE = 64
FAST: dict[str, object] = {"steps": 2, "max_side": SIDE}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("families")


@pytest.fixture(scope="module")
def tokenizer(root: Path) -> Path:
    return write_tokenizer_files(root / "tokenizer")


def engine_for(
    path: Path, config: Path | None = None, controlnet: Path | None = None, dtype: str = "auto"
) -> DiffusionEngine:
    runtime = Runtime(device="cpu", dtype=dtype, controlnet=controlnet)
    settings = DiffusionSettings(path=path, config=config, runtime=runtime)
    return DiffusionEngine(path, settings=settings)


def product() -> PlacedObject:
    rgba = np.zeros((SIDE, SIDE, 4), np.uint8)
    rng = np.random.default_rng(4)
    rgba[18:54, 24:40, :3] = rng.integers(0, 256, (36, 16, 3), dtype=np.uint8)
    rgba[18:54, 24:40, 3] = 255
    rgba[17, 24:40] = (200, 60, 40, 120)
    return PlacedObject(rgba=rgba, box=(24, 17, 40, 54))


def job(kind: str = "prompt", mode: str = "transform", **options: object) -> RenderJob:
    if kind == "prompt":
        scene = SceneSpec(kind="prompt", prompt="linen tablecloth", color=(40, 90, 160),
                          model_options={**FAST, **options})
    else:
        template = np.zeros((40, 60, 3), np.uint8)
        template[:20], template[20:] = (205, 200, 190), (120, 90, 60)
        scene = SceneSpec(kind="template", template=template, template_mode=mode,  # type: ignore[arg-type]
                          model_options={**FAST, **options})
    return RenderJob(scene=scene, width=SIDE, height=SIDE, product=product(), seed=5)


def assert_product_survives(rendered: RenderedScene, placed: PlacedObject) -> None:
    assert rendered.background.shape == (SIDE, SIDE, 4) and (rendered.background[..., 3] == 255).all()
    out = compose.composite_over(rendered.background, placed.rgba, placed.box)
    opaque = placed.alpha == 255
    assert np.array_equal(out[..., :3][opaque], placed.rgba[..., :3][opaque])


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # diffusers × numpy 2
def test_sdxl_inpainting_weights(root: Path, tokenizer: Path) -> None:
    engine = engine_for(write_tiny_sdxl_pipeline(root / "sdxl", tokenizer))
    rendered = engine.render(job())
    assert rendered.info["pipeline"] == "StableDiffusionXLInpaintPipeline" and rendered.info["steps"] == 2
    assert_product_survives(rendered, product())
    template = engine.render(job("template", "adjust"))
    assert template.info["mode"] == "inpaint"  # 9-channel weights only inpaint (around the held product)
    assert engine.status()["family"] == "sdxl"


def test_flux_fill_weights(root: Path, tokenizer: Path) -> None:
    engine = engine_for(write_tiny_flux_fill_pipeline(root / "flux", tokenizer))
    rendered = engine.render(job())
    assert rendered.info["pipeline"] == "FluxFillPipeline" and rendered.info["steps"] == 2
    assert_product_survives(rendered, product())
    loaded = engine.warm()
    assert loaded.family == "flux" and loaded.text_encoders == 2 and loaded.prompt_tokens(1) == 511
    assert loaded.multiple % 16 == 0 or loaded.multiple % (2 * loaded.vae_scale) == 0


def test_text_to_image_weights_restyle_templates_by_img2img(root: Path, tokenizer: Path) -> None:
    engine = engine_for(write_tiny_pipeline(root / "txt2img", tokenizer, inpainting=False))
    transform = engine.render(job("template", "transform"))
    assert transform.info["mode"] == "img2img" and transform.info["pipeline"] == "StableDiffusionImg2ImgPipeline"
    assert transform.info["init"] == "template" and transform.info["steps"] == 2
    assert_product_survives(transform, product())
    held = engine.render(job("template", "adjust", template_call="inpaint"))
    assert held.info["mode"] == "inpaint" and held.info["pipeline"] == "StableDiffusionInpaintPipeline"
    assert engine.render(job()).info["mode"] == "inpaint"  # prompt scenes always paint around the product


def test_controlnet_conditions_on_the_init_image_edges(root: Path, tokenizer: Path) -> None:
    weights = write_tiny_pipeline(root / "cn-inpaint", tokenizer)
    controlnet = write_tiny_controlnet(root / "controlnet")
    engine = engine_for(weights, controlnet=controlnet)
    rendered = engine.render(job())
    assert rendered.info["controlnet"] is True
    assert rendered.info["pipeline"] == "StableDiffusionControlNetInpaintPipeline"
    assert_product_survives(rendered, product())
    off = engine.render(job(controlnet_scale=0.0))
    assert off.info["controlnet"] is False and off.info["pipeline"] == "StableDiffusionInpaintPipeline"
    img2img = engine_for(write_tiny_pipeline(root / "cn-txt2img", tokenizer, inpainting=False),
                         controlnet=controlnet, dtype="bfloat16")
    restyled = img2img.render(job("template"))
    assert restyled.info["pipeline"] == "StableDiffusionControlNetImg2ImgPipeline"
    loaded = img2img.warm()  # the ControlNet view shares the weights in their own dtype
    assert {str(loaded.pipe.unet.dtype), str(loaded.controlnet.dtype)} == {"torch.bfloat16"}


def test_single_file_checkpoint_with_a_config_directory(root: Path, tokenizer: Path) -> None:
    checkpoint, config = write_tiny_single_file(root / "single", tokenizer)
    assert not engine_for(checkpoint).available()  # a lone checkpoint cannot say its architecture
    assert "diffusion_config" in (engine_for(checkpoint).unavailable_reason() or "")
    engine = engine_for(checkpoint, config=config)
    assert engine.available()
    rendered = engine.render(job())
    assert rendered.info["pipeline"] == "StableDiffusionInpaintPipeline"
    reference = engine_for(write_tiny_pipeline(root / "single-reference", tokenizer)).render(job())
    assert np.array_equal(rendered.background, reference.background)  # the same weights, the same picture


def test_a_vae_stored_only_as_fp16_variant_is_found(root: Path, tokenizer: Path) -> None:
    """The old check looked in unet/ only: this directory failed to load."""
    from diffusers import AutoencoderKL

    weights = write_tiny_pipeline(root / "fp16-vae", tokenizer)
    vae = AutoencoderKL.from_pretrained(str(weights / "vae"))
    shutil.rmtree(weights / "vae")
    vae.save_pretrained(str(weights / "vae"), variant="fp16")
    assert any(".fp16." in name.name for name in (weights / "vae").iterdir())
    engine = engine_for(weights)
    assert engine.render(job()).info["engine"] == "diffusion"
    assert engine.warm().variant == "fp16"


def test_prompt_budget_counts_with_the_weights_tokenizer(root: Path, tokenizer: Path) -> None:
    """The tiny CLIP vocabulary is one token per letter: 75 letters fill the budget. The colour
    words survive a long prompt; style phrases that do not fit are reported, not silently cut."""
    engine = engine_for(write_tiny_pipeline(root / "budget", tokenizer))
    loaded = engine.warm()
    assert loaded.prompt_tokens() == 75
    rendered = engine.render(job(prompt_suffix="studio light, high detail"))
    assert rendered.info["prompt_tokens"] <= 75
    long_scene = SceneSpec(kind="prompt", prompt="a " * 60 + "linen tablecloth on oak", color=(40, 90, 160),
                           model_options=FAST)
    long_job = RenderJob(scene=long_scene, width=SIDE, height=SIDE, product=product(), seed=5)
    info = engine.render(long_job).info
    assert info["prompt_truncated"] is True and info["prompt_tokens"] <= 75
    assert "high detail" in info["prompt_dropped"]  # type: ignore[operator]


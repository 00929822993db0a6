"""The diffusion engine's torch-free parts: options, render size, masks, hole fill, shadow top-up,
prompts and availability. These run whether or not the ``diffusion`` extra is installed."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from photostage.scenes.base import SceneSpec
from photostage.scenes.diffusion import canvas
from photostage.scenes.diffusion.engine import DiffusionEngine, strength_for, torch_seed
from photostage.scenes.diffusion.options import DiffusionOptions, parse_options
from photostage.scenes.diffusion.pipeline import effective_steps, is_diffusers_directory, weights_variant
from photostage.scenes.diffusion.prompts import colour_words, scene_negative_prompt, scene_prompt


def test_options_default_and_parse() -> None:
    assert parse_options({}) == DiffusionOptions()
    parsed = parse_options({"steps": 12, "guidance_scale": 5, "scheduler": "EulerDiscreteScheduler",
                            "max_side": 768, "init": "neutral"})
    assert (parsed.steps, parsed.guidance_scale, parsed.scheduler, parsed.max_side, parsed.init) == (
        12, 5.0, "EulerDiscreteScheduler", 768, "neutral")


@pytest.mark.parametrize("raw", [
    {"stepz": 3}, {"steps": 0}, {"steps": True}, {"steps": "30"}, {"strength_prompt": 0},
    {"strength_adjust": 1.5}, {"init": "photo"}, {"max_side": 8}, {"scheduler": 3},
])
def test_options_reject_typos_and_out_of_range(raw: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="option"):
        parse_options(raw)


def test_strength_by_scene_kind() -> None:
    options = DiffusionOptions()
    assert strength_for(SceneSpec(kind="prompt"), options) == options.strength_prompt
    assert strength_for(SceneSpec(kind="template", template_mode="transform"), options) == 0.75
    assert strength_for(SceneSpec(kind="template", template_mode="adjust"), options) == 0.35


def test_effective_steps_never_below_one_denoising_step() -> None:
    assert effective_steps(30, 0.9) == 30
    assert effective_steps(2, 0.35) == 3  # int(3 × 0.35) = 1


def test_torch_seed_depends_on_seed_and_index() -> None:
    assert torch_seed(1, 0) == torch_seed(1, 0)
    assert len({torch_seed(1, 0), torch_seed(2, 0), torch_seed(1, 1)}) == 3
    assert 0 <= torch_seed(2**40, 3) < 2**63


@pytest.mark.parametrize(("size", "native", "max_side", "expected"), [
    ((1024, 1024), 512, None, (512, 512)),
    ((1360, 768), 512, None, (680, 384)),
    ((720, 720), 1024, None, (720, 720)),  # never upscaled past the canvas
    ((720, 720), 64, None, (64, 64)),
    ((1024, 576), 512, 256, (256, 144)),
    ((100, 60), 512, None, (96, 64)),
])
def test_render_size(
    size: tuple[int, int], native: int, max_side: int | None, expected: tuple[int, int]
) -> None:
    width, height = canvas.render_size(size[0], size[1], native, max_side, 8)
    assert (width, height) == expected
    assert width % 8 == 0 and height % 8 == 0


def test_product_hole_grows_and_paint_mask_inverts() -> None:
    alpha = np.zeros((40, 40), np.uint8)
    alpha[10:30, 15:25] = 255
    alpha[9, 15:25] = 4  # a faint fringe is not protected
    hole = canvas.product_hole(alpha, margin=2)
    assert hole[10:30, 15:25].all() and hole[8, 20] == 255 and hole[20, 13] == 255
    assert hole[5, 20] == 0 and hole[20, 10] == 0
    mask = canvas.paint_mask(hole)
    assert mask[20, 20] == 0 and mask[0, 0] == 255
    assert np.array_equal(canvas.product_hole(alpha, margin=0) > 0, alpha > 8)


def test_fill_hole_continues_the_surroundings_under_the_product() -> None:
    rgb = np.zeros((120, 160, 3), np.uint8)
    rgb[:, :] = (40, 160, 60)
    rgb[:60] = (200, 200, 210)  # wall above, green floor below
    rgb[40:100, 60:100] = (255, 0, 0)  # the model's rendition of the product
    hole = np.zeros((120, 160), np.uint8)
    hole[38:102, 58:102] = 255
    filled = canvas.fill_hole(rgb, hole)
    assert np.array_equal(filled[hole == 0], rgb[hole == 0])
    assert filled[90, 80, 0] < 120 and filled[90, 80, 1] > 120  # floor continues: green, not red
    assert filled[45, 80].min() > 150  # wall continues
    assert canvas.fill_hole(rgb, np.zeros_like(hole)) is rgb


def test_top_up_density_keeps_model_shadows_and_adds_missing_ones() -> None:
    rgb = np.full((200, 200, 3), 200, np.uint8)
    cv2.rectangle(rgb, (20, 140), (80, 160), (100, 100, 100), -1)  # the model's own shadow, ~50 % dark
    density = np.zeros((200, 200), np.float32)
    density[140:161, 20:181] = 0.4
    added = canvas.top_up_density(density, rgb)
    assert added[150, 50] < 0.05  # already darker than asked: nothing added
    assert added[150, 150] == pytest.approx(0.4, abs=0.08)  # bare floor: the full shadow
    assert added[50, 50] == 0.0
    zero = np.zeros((200, 200), np.float32)
    assert canvas.top_up_density(zero, rgb) is zero


def test_neutral_backdrop_is_a_gentle_ramp() -> None:
    backdrop = canvas.neutral_backdrop(32, 48, (200, 190, 180))
    assert backdrop.shape == (48, 32, 3) and backdrop.dtype == np.uint8
    assert backdrop[0, 0, 0] > backdrop[-1, 0, 0]


def test_prompts_put_request_words_first_and_name_the_colour() -> None:
    options = DiffusionOptions(prompt_suffix="studio photo", negative_prompt="text")
    scene = SceneSpec(kind="prompt", prompt="marble table ", negative_prompt="people", color=(0, 128, 0))
    prompt = scene_prompt(scene, options)
    assert prompt.startswith("marble table, ") and prompt.endswith(", studio photo")
    assert colour_words((0, 128, 0)) in prompt  # a colour name, not a hex code
    assert scene_negative_prompt(scene, options) == "people, text"
    assert scene_prompt(SceneSpec(kind="template"), options) == "studio photo"


def test_available_false_for_missing_or_invalid_directories(tmp_path: Path) -> None:
    assert not DiffusionEngine(tmp_path / "missing").available()
    assert not DiffusionEngine(tmp_path).available()  # no model_index.json
    (tmp_path / "model_index.json").write_text("{not json")
    assert not DiffusionEngine(tmp_path, device="cpu").available()
    (tmp_path / "model_index.json").write_text(json.dumps(["a", "list"]))
    assert not is_diffusers_directory(tmp_path)
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionInpaintPipeline"}))
    assert is_diffusers_directory(tmp_path)
    file_path = tmp_path / "weights.safetensors"
    file_path.write_bytes(b"")
    assert not DiffusionEngine(file_path).available()


def test_weights_variant_detects_fp16_only_directories(tmp_path: Path) -> None:
    unet = tmp_path / "unet"
    unet.mkdir()
    assert weights_variant(tmp_path) is None
    (unet / "diffusion_pytorch_model.fp16.safetensors").write_bytes(b"")
    assert weights_variant(tmp_path) == "fp16"
    (unet / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    assert weights_variant(tmp_path) is None

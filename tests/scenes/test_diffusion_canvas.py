"""The diffusion engine's torch-free parts: options, render size, masks, hole fill, shadow top-up,
prompts and availability. These run whether or not the ``diffusion`` extra is installed."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from photostage.imaging import shadows
from photostage.scenes.base import SceneSpec
from photostage.scenes.diffusion import canvas
from photostage.scenes.diffusion.engine import DiffusionEngine, strength_for, torch_seed
from photostage.scenes.diffusion.options import DiffusionOptions, parse_options
from photostage.scenes.diffusion.pipeline import is_diffusers_directory, schedule_steps, steps_run, weights_variant
from photostage.scenes.diffusion.prompts import assemble, colour_words, scene_negative_prompt, scene_prompt


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


@pytest.mark.parametrize(("steps", "strength"), [(30, 0.9), (2, 0.35), (30, 1.0), (25, 0.75), (1, 0.01), (50, 0.99)])
@pytest.mark.parametrize("flow_matching", [False, True])
def test_schedule_runs_exactly_the_steps_asked(steps: int, strength: float, flow_matching: bool) -> None:
    """diffusers runs int(n × strength) of a schedule of n (FLUX: n − int(n − n × strength)): the
    schedule is lengthened to match."""
    n = schedule_steps(steps, strength, flow_matching)
    assert steps_run(n, strength, flow_matching) == steps
    assert steps_run(n - 1, strength, flow_matching) < steps  # the shortest such schedule


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
    added = shadows.top_up_density(density, rgb)
    assert added[150, 50] < 0.05  # already darker than asked: nothing added
    assert added[150, 150] == pytest.approx(0.4, abs=0.08)  # bare floor: the full shadow
    assert added[50, 50] == 0.0
    zero = np.zeros((200, 200), np.float32)
    assert shadows.top_up_density(zero, rgb) is zero


def test_neutral_backdrop_is_a_gentle_ramp() -> None:
    backdrop = canvas.neutral_backdrop(32, 48, (200, 190, 180))
    assert backdrop.shape == (48, 32, 3) and backdrop.dtype == np.uint8
    assert backdrop[0, 0, 0] > backdrop[-1, 0, 0]


def words(text: str) -> int:
    """A stand-in tokenizer: one token per word or comma."""
    return len(text.replace(",", " , ").split())


def test_prompts_put_request_words_first_and_name_the_colour() -> None:
    options = DiffusionOptions(prompt_suffix="studio photo", negative_prompt="text")
    scene = SceneSpec(kind="prompt", prompt="marble table ", negative_prompt="people", color=(0, 128, 0))
    prompt = scene_prompt(scene, options, words, 75)
    assert prompt.text.startswith("marble table, ") and prompt.text.endswith(", studio photo")
    assert colour_words((0, 128, 0)) in prompt.text  # a colour name, not a hex code
    assert not prompt.dropped and not prompt.truncated and prompt.tokens == words(prompt.text)
    assert scene_negative_prompt(scene, options, words, 75).text == "people, text"
    assert scene_prompt(SceneSpec(kind="template"), options, words, 75).text == "studio photo"


def test_long_prompt_keeps_colour_words_and_drops_style_phrases_that_do_not_fit() -> None:
    """The old order lost the colour: 70 words of prompt left no room in CLIP's 75 tokens."""
    options = DiffusionOptions(prompt_suffix="professional product photography, photorealistic, soft light")
    long_prompt = " ".join(f"word{i}" for i in range(70))
    scene = SceneSpec(kind="prompt", prompt=long_prompt, color=(0, 128, 0))
    prompt = scene_prompt(scene, options, words, 75)
    colour = colour_words((0, 128, 0))
    assert colour is not None and colour in prompt.text
    assert prompt.tokens <= 75 and not prompt.truncated
    assert prompt.text.startswith("word0 word1")  # the request's words stay first
    assert "photorealistic" in prompt.dropped or "professional product photography" in prompt.dropped
    # Too long even alone: the request's words are cut from their end, the colour still kept.
    very_long = SceneSpec(kind="prompt", prompt=" ".join(f"w{i}" for i in range(200)), color=(0, 128, 0))
    cut = scene_prompt(very_long, options, words, 75)
    assert cut.truncated and cut.tokens <= 75 and cut.text.endswith(colour)
    assert cut.dropped == ("professional product photography", "photorealistic", "soft light")


def test_assemble_keeps_optional_phrases_in_order_while_they_fit() -> None:
    assembled = assemble("a b", [], ["c d", "e f g h", "i"], words, 7)
    assert assembled.text == "a b, c d, i" and assembled.dropped == ("e f g h",)
    assert assemble(None, [], [], words, 6).text == ""


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


def test_weights_variant_looks_at_every_component(tmp_path: Path) -> None:
    index = {"_class_name": "StableDiffusionInpaintPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"],
             "scheduler": ["diffusers", "DDIMScheduler"]}
    (tmp_path / "model_index.json").write_text(json.dumps(index))
    for name in ("unet", "vae", "text_encoder", "scheduler"):
        (tmp_path / name).mkdir()
    (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    (tmp_path / "text_encoder" / "model.safetensors").write_bytes(b"")
    (tmp_path / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    assert weights_variant(tmp_path, "float16") is None
    # The VAE exists only in fp16 (the old check looked at unet/ only and missed it).
    (tmp_path / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    (tmp_path / "vae" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(b"")
    assert weights_variant(tmp_path, "float32") == "fp16"
    # Every component has both: the variant is read only when the weights run in half precision.
    (tmp_path / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    (tmp_path / "unet" / "diffusion_pytorch_model.fp16-00001-of-00002.safetensors").write_bytes(b"")
    (tmp_path / "text_encoder" / "model.fp16.safetensors").write_bytes(b"")
    assert weights_variant(tmp_path, "float16") == "fp16"
    assert weights_variant(tmp_path, "float32") is None

"""Diffusion engine: seconds per image and peak memory per family, render side and batch.

    python benchmarks/diffusion.py [--families sd15 sdxl flux-fill] [--scale auto|full|toy]
                                   [--sides 512 1024] [--batches 1 2 4] [--steps 4]
                                   [--device auto] [--dtype auto]

The pipelines are built from the published configurations of SD 1.5 inpainting, SDXL 1.0
inpainting and FLUX.1 Fill [dev] with random weights (nothing is downloaded: speed and memory do
not depend on the weight values) and run through the real engine (DiffusionEngine.render_many:
studio staging, prompt assembly, the diffusers call, NaN checks, the outline check, hole fill,
shadows). Each row gives seconds per image and the peak memory of the device during the call
(CUDA: the allocator's peak; CPU: the process's peak resident set, reset before each call).

Floor, measured in the same run the same way: the least work that produces the same pixels: the
denoiser's forward passes (steps × samples per image × batch, at that side) plus one VAE decode per
image, called directly. The ratio engine / floor is what the engine adds around the model.

The memory plan's estimate for the row is printed beside the measured peak (full scale only: the
plan's figures are per published architecture).

``--scale auto`` is full size on a GPU and toy size on a CPU: the same architectures with narrow
layers and small renders, which exercise every path in seconds but say nothing about real speed.
Full-size SDXL and FLUX need a GPU (tens of GB in float32 on a CPU); full-size SD 1.5 runs on a CPU
at small sides for calibration. The parameter counts of the full architectures are always printed
(counted on torch's meta device: no memory is used).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

FAMILIES = ("sd15", "sdxl", "flux-fill")
MIB = 2**20


# ----------------------------------------------------------------------- published configurations
def clip_l(vocab: int = 49408) -> dict[str, Any]:
    """openai/clip-vit-large-patch14, text tower (SD 1.5, SDXL's first encoder, FLUX's CLIP)."""
    return {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12, "num_hidden_layers": 12,
            "max_position_embeddings": 77, "vocab_size": vocab, "projection_dim": 768, "hidden_act": "quick_gelu"}


FULL: dict[str, dict[str, Any]] = {
    "sd15": {
        "unet": {"sample_size": 64, "in_channels": 9, "out_channels": 4, "layers_per_block": 2,
                 "block_out_channels": (320, 640, 1280, 1280), "attention_head_dim": 8, "cross_attention_dim": 768,
                 "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3},
        "vae": {"block_out_channels": (128, 256, 512, 512), "latent_channels": 4, "sample_size": 512,
                "scaling_factor": 0.18215},
        "text": clip_l(),
    },
    "sdxl": {
        "unet": {"sample_size": 128, "in_channels": 9, "out_channels": 4, "layers_per_block": 2,
                 "block_out_channels": (320, 640, 1280), "attention_head_dim": (5, 10, 20),
                 "transformer_layers_per_block": (1, 2, 10), "cross_attention_dim": 2048,
                 "use_linear_projection": True, "addition_embed_type": "text_time", "addition_time_embed_dim": 256,
                 "projection_class_embeddings_input_dim": 2816,
                 "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                 "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")},
        "vae": {"block_out_channels": (128, 256, 512, 512), "latent_channels": 4, "sample_size": 1024,
                "scaling_factor": 0.13025, "force_upcast": True},
        "text": clip_l(),
        "text_2": {"hidden_size": 1280, "intermediate_size": 5120, "num_attention_heads": 20, "num_hidden_layers": 32,
                   "max_position_embeddings": 77, "vocab_size": 49408, "projection_dim": 1280, "hidden_act": "gelu"},
    },
    "flux-fill": {
        "transformer": {"patch_size": 1, "in_channels": 384, "out_channels": 64, "num_layers": 19,
                        "num_single_layers": 38, "attention_head_dim": 128, "num_attention_heads": 24,
                        "joint_attention_dim": 4096, "pooled_projection_dim": 768, "guidance_embeds": True,
                        "axes_dims_rope": (16, 56, 56)},
        "vae": {"block_out_channels": (128, 256, 512, 512), "latent_channels": 16, "sample_size": 1024,
                "scaling_factor": 0.3611, "shift_factor": 0.1159, "use_quant_conv": False,
                "use_post_quant_conv": False},
        "text": clip_l(),
        "t5": {"d_model": 4096, "d_ff": 10240, "d_kv": 64, "num_heads": 64, "num_layers": 24, "vocab_size": 32128,
               "feed_forward_proj": "gated-gelu"},
    },
}

# Toy scale: the same block structure (and the VAE's 8× scale) with narrow layers.
TOY: dict[str, dict[str, Any]] = {
    "sd15": {
        "unet": {**FULL["sd15"]["unet"], "block_out_channels": (32, 64, 64, 64), "cross_attention_dim": 64,
                 "norm_num_groups": 8},
        "vae": {**FULL["sd15"]["vae"], "block_out_channels": (16, 32, 32, 32), "norm_num_groups": 8},
        "text": {**clip_l(), "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 2,
                 "num_hidden_layers": 2, "projection_dim": 64},
    },
    "sdxl": {
        "unet": {**FULL["sdxl"]["unet"], "block_out_channels": (32, 64, 128), "attention_head_dim": (2, 4, 8),
                 "transformer_layers_per_block": (1, 1, 2), "cross_attention_dim": 128,
                 "addition_time_embed_dim": 16, "projection_class_embeddings_input_dim": 6 * 16 + 64,
                 "norm_num_groups": 8},
        "vae": {**FULL["sdxl"]["vae"], "block_out_channels": (16, 32, 32, 32), "norm_num_groups": 8},
        "text": {**clip_l(), "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 2,
                 "num_hidden_layers": 2, "projection_dim": 64},
        "text_2": {**FULL["sdxl"]["text_2"], "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 2,
                   "num_hidden_layers": 2, "projection_dim": 64},
    },
    "flux-fill": {
        "transformer": {**FULL["flux-fill"]["transformer"], "num_layers": 1, "num_single_layers": 2,
                        "attention_head_dim": 32, "num_attention_heads": 2, "joint_attention_dim": 64,
                        "pooled_projection_dim": 64, "axes_dims_rope": (8, 12, 12)},
        "vae": {**FULL["flux-fill"]["vae"], "block_out_channels": (16, 32, 32, 32), "norm_num_groups": 8},
        "text": {**clip_l(), "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 2,
                 "num_hidden_layers": 2, "projection_dim": 64},
        "t5": {**FULL["flux-fill"]["t5"], "d_model": 64, "d_ff": 128, "d_kv": 32, "num_heads": 2, "num_layers": 2},
    },
}


# ------------------------------------------------------------------------------------- building
def build(family: str, config: dict[str, Any], tokenizer_dir: Path, device: str = "cpu") -> Any:
    """The family's pipeline with random weights, on ``device`` ("meta": shapes only)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        EulerDiscreteScheduler,
        FlowMatchEulerDiscreteScheduler,
        FluxFillPipeline,
        FluxTransformer2DModel,
        StableDiffusionInpaintPipeline,
        StableDiffusionXLInpaintPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    from photostage.scenes.diffusion.tiny import load_tokenizer, t5_tokenizer

    blocks = len(config["vae"]["block_out_channels"])
    vae_kwargs = {"down_block_types": ("DownEncoderBlock2D",) * blocks, "layers_per_block": 2,
                  "up_block_types": ("UpDecoderBlock2D",) * blocks, "in_channels": 3, "out_channels": 3,
                  **config["vae"]}

    def clip(settings: dict[str, Any], projection: bool = False) -> Any:
        text_config = CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, **settings)
        return CLIPTextModelWithProjection(text_config) if projection else CLIPTextModel(text_config)

    tokenizer = load_tokenizer(tokenizer_dir)
    if family == "sd15":
        with torch.device(device):  # the weights only: schedulers keep their tables on the CPU
            vae, text, unet = AutoencoderKL(**vae_kwargs), clip(config["text"]), UNet2DConditionModel(**config["unet"])
        return StableDiffusionInpaintPipeline(
            vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet,
            scheduler=DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                    clip_sample=False, set_alpha_to_one=False, steps_offset=1),
            safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )
    if family == "sdxl":
        with torch.device(device):
            vae, text, unet = AutoencoderKL(**vae_kwargs), clip(config["text"]), UNet2DConditionModel(**config["unet"])
            text_2 = clip(config["text_2"], projection=True)
        return StableDiffusionXLInpaintPipeline(
            vae=vae, text_encoder=text, text_encoder_2=text_2, tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet,
            scheduler=EulerDiscreteScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                             steps_offset=1, timestep_spacing="leading"),
            requires_aesthetics_score=False, add_watermarker=False,
        )
    with torch.device(device):
        vae, text = AutoencoderKL(**vae_kwargs), clip(config["text"])
        t5 = T5EncoderModel(T5Config(decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, **config["t5"]))
        transformer = FluxTransformer2DModel(**config["transformer"])
    return FluxFillPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text, tokenizer=tokenizer,
        text_encoder_2=t5, tokenizer_2=t5_tokenizer(), transformer=transformer,
    )


def parameter_table(tokenizer_dir: Path) -> list[str]:
    """Parameters of each published architecture, counted on the meta device (no memory used)."""
    lines = ["weights of the published architectures (random init on torch's meta device, counted):",
             f"  {'family':<10}{'component':<16}{'parameters':>14}{'GiB fp16':>10}"]
    for family in FAMILIES:
        pipe = build(family, FULL[family], tokenizer_dir, device="meta")
        total = 0
        for name, module in pipe.components.items():
            if not hasattr(module, "parameters"):
                continue
            count = sum(parameter.numel() for parameter in module.parameters())
            total += count
            lines.append(f"  {family:<10}{name:<16}{count:>14,}{count * 2 / 2**30:>10.2f}")
        lines.append(f"  {family:<10}{'total':<16}{total:>14,}{total * 2 / 2**30:>10.2f}")
    return lines


# ------------------------------------------------------------------------------------ measuring
@dataclass
class Peak:
    """The device's peak memory over a block: CUDA allocator peak, or the process's peak RSS."""

    device: str

    def reset(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            try:
                with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
                    refs.write("5")  # resets VmHWM (Linux)
            except OSError:
                pass

    def read(self) -> int:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
            return int(torch.cuda.max_memory_allocated())
        status = Path("/proc/self/status").read_text(encoding="ascii")
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(match.group(1)) * 1024 if match else 0


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def floor_seconds(loaded: Any, side: int, batch: int, steps: int) -> float:
    """The denoiser's forward passes and one decode per image, called directly with random inputs."""
    import torch

    pipe = loaded.pipe
    device, dtype = loaded.device.torch_name, getattr(torch, loaded.dtype)
    samples = batch * (1 if loaded.family == "flux" else 2)
    latent = side // loaded.vae_scale
    generator = torch.Generator("cpu").manual_seed(0)

    def noise(*shape: int) -> Any:
        return torch.randn(*shape, generator=generator).to(device, dtype)

    with torch.inference_mode():
        if loaded.family == "flux":
            config = pipe.transformer.config
            tokens = (latent // 2) ** 2
            arguments = {
                "hidden_states": noise(samples, tokens, config.in_channels),
                "encoder_hidden_states": noise(samples, 64, config.joint_attention_dim),
                "pooled_projections": noise(samples, config.pooled_projection_dim),
                "timestep": torch.full((samples,), 0.5, device=device, dtype=dtype),
                "guidance": torch.full((samples,), 30.0, device=device, dtype=torch.float32),
                "txt_ids": torch.zeros(64, 3, device=device, dtype=dtype),
                "img_ids": pipe._prepare_latent_image_ids(samples, latent // 2, latent // 2, device, dtype),
                "return_dict": False,
            }
            denoiser = pipe.transformer
            decode_latents = torch.randn(1, pipe.vae.config.latent_channels, latent, latent, generator=generator)
        else:
            config = pipe.unet.config
            arguments = {
                "sample": noise(samples, config.in_channels, latent, latent),
                "timestep": torch.tensor(500, device=device),
                "encoder_hidden_states": noise(samples, 77, config.cross_attention_dim),
                "return_dict": False,
            }
            if config.addition_embed_type == "text_time":
                pooled = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim
                arguments["added_cond_kwargs"] = {
                    "text_embeds": noise(samples, pooled),
                    "time_ids": torch.tensor([[side, side, 0, 0, side, side]] * samples, device=device, dtype=dtype),
                }
            denoiser = pipe.unet
            decode_latents = torch.randn(1, 4, latent, latent, generator=generator)
        decode_latents = decode_latents.to(device, pipe.vae.dtype)
        synchronize(device)
        started = time.perf_counter()
        for _ in range(steps):
            denoiser(**arguments)
        for _ in range(batch):
            pipe.vae.decode(decode_latents, return_dict=False)
        synchronize(device)
        return time.perf_counter() - started


def run_engine(engine: Any, side: int, batch: int, steps: int, peak: Peak) -> tuple[float, int, dict[str, Any]]:
    from photostage.scenes.base import PlacedObject, RenderJob, SceneSpec

    rgba = np.zeros((side, side, 4), np.uint8)
    y0, y1, x0, x1 = side * 5 // 16, side * 13 // 16, side * 6 // 16, side * 10 // 16
    rgba[y0:y1, x0:x1] = (180, 60, 50, 255)
    product = PlacedObject(rgba=rgba, box=(x0, y0, x1, y1))
    options: dict[str, object] = {"steps": steps, "strength_prompt": 1.0, "max_side": side, "max_batch": batch,
                                  "outline_check": True}
    scene = SceneSpec(kind="prompt", prompt="linen tablecloth, morning light", model_options=options)
    jobs = [RenderJob(scene=scene, width=side, height=side, product=product, seed=7, index=index)
            for index in range(batch)]
    peak.reset()
    started = time.perf_counter()
    rendered = engine.render_many(jobs)
    synchronize(peak.device)
    return time.perf_counter() - started, peak.read(), rendered[0].info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--scale", choices=("auto", "full", "toy"), default="auto")
    parser.add_argument("--sides", nargs="+", type=int)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()

    import torch

    from photostage.scenes.diffusion.device import choose_dtype, device_memory, parse_device, resolve_device
    from photostage.scenes.diffusion.engine import DiffusionEngine, DiffusionSettings
    from photostage.scenes.diffusion.memory import COSTS, MemoryPolicy, plan_memory
    from photostage.scenes.diffusion.pipeline import (
        LoadedPipeline,
        PipelineLoader,
        Runtime,
        WeightsSource,
        apply_memory_plan,
        component_bytes,
        native_side_of,
    )
    from photostage.scenes.diffusion.tiny import write_tokenizer_files

    device = resolve_device(parse_device(args.device))
    scale = args.scale if args.scale != "auto" else ("full" if device.kind == "cuda" else "toy")
    sides = args.sides or ([512, 1024] if scale == "full" else [128, 256])
    cpu_count = os.cpu_count()
    print(f"diffusion benchmark on {device.torch_name} (torch {torch.__version__}, {cpu_count} CPUs"
          + (f", {torch.cuda.get_device_name(device.index or 0)}" if device.kind == "cuda" else "") + ")")
    if scale == "toy":
        print("TOY SIZE: the published block structures with narrow layers and small renders. These rows show "
              "the engine's paths and its overhead ratio, not the speed or memory of real weights.")
    else:
        print("FULL SIZE: the published architectures with random weights.")
    if device.warning:
        print(f"note: {device.warning}")
    scratch = Path(tempfile.mkdtemp(prefix="photostage-bench-"))
    tokenizer_dir = write_tokenizer_files(scratch / "tokenizer")
    for line in parameter_table(tokenizer_dir):
        print(line)
    configs = FULL if scale == "full" else TOY
    print()
    print(f"{'family':<10}{'dtype':<9}{'side':>6}{'batch':>6}{'steps':>6}{'s/image':>10}{'floor s/img':>12}"
          f"{'ratio':>7}{'peak MiB':>10}{'plan MiB':>10}  plan")
    for family in args.families:
        engine_family = "flux" if family == "flux-fill" else ("sd" if family == "sd15" else "sdxl")
        dtype_name = choose_dtype(args.dtype, device, engine_family, True)
        pipe = build(family, configs[family], tokenizer_dir).to(dtype=getattr(torch, dtype_name))
        pipe.set_progress_bar_config(disable=True)
        sizes = component_bytes(pipe)
        for batch in args.batches:
            for side in sides:
                plan = plan_memory(
                    free_bytes=device_memory(device).free, weights_bytes=sum(sizes.values()),
                    largest_component_bytes=max(sizes.values()), side=native_side_of(pipe),
                    cost=COSTS[engine_family], dtype_bytes=2 if dtype_name != "float32" else 4,
                    wanted_batch=batch, accelerator=device.accelerator,
                    policy=MemoryPolicy(max_batch=batch, offload="none"),
                )
                apply_memory_plan(pipe, plan, device)
                loaded = LoadedPipeline(pipe, device, dtype_name, plan)
                loader = PipelineLoader(WeightsSource(scratch), Runtime(device=device.torch_name),
                                        load=lambda source, runtime, loaded=loaded: loaded)
                engine = DiffusionEngine(scratch, settings=DiffusionSettings(path=scratch), loader=loader)
                run_engine(engine, side, batch, 1, Peak(device.torch_name))  # warm-up: kernels, allocator
                seconds, peak_bytes, info = run_engine(engine, side, batch, args.steps, Peak(device.torch_name))
                floor = floor_seconds(loaded, side, batch, info["steps"])
                estimate = f"{plan.peak(batch, side, side) / MIB:.0f}" if scale == "full" else "-"
                print(f"{family:<10}{dtype_name:<9}{side:>6}{batch:>6}{info['steps']:>6}{seconds / batch:>10.2f}"
                      f"{floor / batch:>12.2f}{seconds / floor:>7.2f}{peak_bytes / MIB:>10.0f}{estimate:>10}"
                      f"  {plan.describe()}")
        del pipe
        if device.kind == "cuda":
            torch.cuda.empty_cache()
    print()
    print("s/image: DiffusionEngine.render_many wall time per image (staging, prompts, diffusers call, NaN and "
          "outline checks, hole fill, shadows); floor: the denoiser's forward passes and one VAE decode per image, "
          "called directly; ratio = engine / floor. peak: "
          + ("the CUDA allocator's peak during the call" if device.kind == "cuda"
             else "the process's peak resident memory during the call (weights included)")
          + "; plan: the memory plan's estimate for the same call (full size only).")


if __name__ == "__main__":
    main()

"""The weights families the engine runs, and what differs between them.

* ``sd``: Stable Diffusion 1.5 / 2 (UNet, one CLIP text encoder, 512² or 768² native);
* ``sdxl``: Stable Diffusion XL (UNet, two CLIP text encoders, 1024² native);
* ``flux``: FLUX.1 Fill (transformer, CLIP + T5 text encoders, packed latents, no negative prompt,
  guidance distilled into the weights: one sample per image).

Each family names its inpainting, img2img and ControlNet pipeline classes, how its prompts are
counted (CLIP reads 77 tokens, FLUX's T5 512), and how its latents become pixels (the engine decodes
them itself, to check for NaN and to retry a decode in float32). torch and diffusers are imported
inside functions only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Family = Literal["sd", "sdxl", "flux"]


@dataclass(frozen=True)
class FamilyTraits:
    inpaint: str
    img2img: str | None  # None: the family has no img2img pipeline the engine can use
    controlnet_inpaint: str | None
    controlnet_img2img: str | None
    negative_prompt: bool  # whether the pipeline takes a negative prompt
    default_guidance: float


TRAITS: dict[Family, FamilyTraits] = {
    "sd": FamilyTraits(
        inpaint="StableDiffusionInpaintPipeline", img2img="StableDiffusionImg2ImgPipeline",
        controlnet_inpaint="StableDiffusionControlNetInpaintPipeline",
        controlnet_img2img="StableDiffusionControlNetImg2ImgPipeline",
        negative_prompt=True, default_guidance=7.5,
    ),
    "sdxl": FamilyTraits(
        inpaint="StableDiffusionXLInpaintPipeline", img2img="StableDiffusionXLImg2ImgPipeline",
        controlnet_inpaint="StableDiffusionXLControlNetInpaintPipeline",
        controlnet_img2img="StableDiffusionXLControlNetImg2ImgPipeline",
        negative_prompt=True, default_guidance=7.5,
    ),
    "flux": FamilyTraits(
        inpaint="FluxFillPipeline", img2img=None, controlnet_inpaint=None, controlnet_img2img=None,
        negative_prompt=False, default_guidance=30.0,
    ),
}


def family_of_class(class_name: str) -> Family:
    """The family of a diffusers pipeline class name (``StableDiffusionXLInpaintPipeline`` → sdxl)."""
    if class_name.startswith("Flux"):
        return "flux"
    if "XL" in class_name:
        return "sdxl"
    return "sd"


def family_of_directory(directory: Path) -> Family:
    """The family a diffusers-format directory declares in its ``model_index.json``."""
    try:
        index = json.loads((directory / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "sd"
    name = index.get("_class_name") if isinstance(index, dict) else None
    return family_of_class(name) if isinstance(name, str) else "sd"


def family_of_pipeline(pipe: Any) -> Family:
    components = getattr(pipe, "components", {})
    if "transformer" in components:
        return "flux"
    if "text_encoder_2" in components:
        return "sdxl"
    return "sd"


def denoiser(pipe: Any) -> Any:
    """The network that runs every step: the UNet, or FLUX's transformer."""
    return getattr(pipe, "unet", None) or pipe.transformer


def is_inpainting_denoiser(pipe: Any) -> bool:
    """Whether the weights were trained for inpainting (they read the mask and the masked image):
    9 input channels for SD/SDXL; FLUX Fill only exists as such."""
    if family_of_pipeline(pipe) == "flux":
        return True
    return int(pipe.unet.config.in_channels) == 9


@dataclass(frozen=True)
class PromptBudget:
    """How a family's prompt is counted: the tokenizer that truncates first and its usable length."""

    tokenizer: Any
    tokens: int


def prompt_budgets(pipe: Any) -> list[PromptBudget]:
    """The text encoders a prompt is written for, first the one every family has: CLIP (77
    positions less the start and end tokens). FLUX also reads a second prompt through T5 (512
    positions, the pipeline's ``max_sequence_length``, less the end token); SDXL's second CLIP
    reads the same prompt as the first."""
    budgets = [PromptBudget(pipe.tokenizer, int(min(pipe.tokenizer.model_max_length, 77)) - 2)]
    if family_of_pipeline(pipe) == "flux" and getattr(pipe, "tokenizer_2", None) is not None:
        budgets.append(PromptBudget(pipe.tokenizer_2, 511))
    return budgets


def decode_latents(pipe: Any, latents: Any, height: int, width: int, float32: bool) -> Any:
    """Latents from a ``output_type="latent"`` call → image tensors (B, 3, H, W) in [-1, 1].

    Mirrors what each pipeline does after its denoising loop; ``float32`` runs the VAE in float32
    (the retry when a half-precision decode overflowed into NaN).
    """
    import torch

    vae = pipe.vae
    config = vae.config
    family = family_of_pipeline(pipe)
    if family == "flux":
        latents = pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)
        latents = latents / config.scaling_factor + config.shift_factor
    elif getattr(config, "latents_mean", None) is not None and getattr(config, "latents_std", None) is not None:
        channels = int(config.latent_channels)
        mean = torch.tensor(config.latents_mean).view(1, channels, 1, 1).to(latents.device, latents.dtype)
        std = torch.tensor(config.latents_std).view(1, channels, 1, 1).to(latents.device, latents.dtype)
        latents = latents * std / config.scaling_factor + mean
    else:
        latents = latents / config.scaling_factor
    working = vae.dtype
    upcast = float32 or (working == torch.float16 and bool(getattr(config, "force_upcast", False)))
    if upcast and working != torch.float32:
        vae.to(dtype=torch.float32)
    try:
        target = torch.float32 if upcast else working
        return vae.decode(latents.to(target), return_dict=False)[0]
    finally:
        if upcast and working != torch.float32:
            vae.to(dtype=working)

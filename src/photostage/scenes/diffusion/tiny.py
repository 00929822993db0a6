"""Toy pipelines of real diffusers classes, written to disk in the formats operators use.

Random weights at toy sizes (well under 1 MB, 64×64 native resolution for SD): their images are
noise, but every code path of the diffusion engine (loading from disk, tokenizers, text encoders,
UNet or transformer, VAE, scheduler, batching, seeds) runs for real on a CPU in about a second.
One builder per family the engine serves: SD 1.5-shaped (inpainting or text-to-image), SDXL-shaped
(two text encoders, text-time embedding), FLUX.1 Fill-shaped (CLIP + T5, packed latents); plus a
ControlNet, and the SD pipeline exported as one original-layout single-file checkpoint. Tests and
smoke checks use them; nothing is downloaded.
"""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path
from typing import Any

TINY_SIDE = 64  # native resolution: UNet sample size 32 × VAE scale factor 2


def write_tokenizer_files(directory: Path) -> Path:
    """A CLIP BPE vocabulary of single letters (every lowercase prompt tokenises, letter by letter)."""
    directory.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for character in string.ascii_lowercase + string.digits + ",.-":
        vocab[character] = len(vocab)
        vocab[character + "</w>"] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return directory


def load_tokenizer(tokenizer_dir: Path | None) -> Any:  # transformers.CLIPTokenizer
    """The CLIP tokenizer read from ``vocab.json`` + ``merges.txt`` (written afresh when no directory)."""
    from transformers import CLIPTokenizer

    if tokenizer_dir is not None:
        return CLIPTokenizer.from_pretrained(str(tokenizer_dir), model_max_length=77)
    with tempfile.TemporaryDirectory(prefix="photostage-tokenizer-") as scratch:
        return CLIPTokenizer.from_pretrained(str(write_tokenizer_files(Path(scratch))), model_max_length=77)


def write_tiny_pipeline(
    directory: Path, tokenizer_dir: Path | None = None, seed: int = 0, inpainting: bool = True
) -> Path:
    """Build and ``save_pretrained`` a tiny StableDiffusionInpaintPipeline into ``directory``.

    ``tokenizer_dir`` holds ``vocab.json`` and ``merges.txt`` (see :func:`write_tokenizer_files`).
    ``inpainting=False`` writes a text-to-image StableDiffusionPipeline (a 4-channel UNet)
    instead, the kind of checkpoint diffusers adapts to inpainting.
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = load_tokenizer(tokenizer_dir)
    with torch.random.fork_rng(devices=[]):  # weights are seeded without touching global RNG state
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            sample_size=TINY_SIDE // 2,
            in_channels=9 if inpainting else 4,  # noisy latents 4 (+ mask 1 + masked-image latents 4)
            out_channels=4,
            block_out_channels=(8, 16),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=16,
            attention_head_dim=4,
            norm_num_groups=4,
        )
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            block_out_channels=(8, 16),
            latent_channels=4,
            norm_num_groups=4,
            sample_size=TINY_SIDE,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                bos_token_id=0,
                eos_token_id=1,
                pad_token_id=1,
                hidden_size=16,
                intermediate_size=32,
                num_attention_heads=2,
                num_hidden_layers=2,
                vocab_size=len(tokenizer),
                max_position_embeddings=77,
                projection_dim=16,
            )
        )
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        clip_sample=False, set_alpha_to_one=False, steps_offset=1,
    )
    pipeline_class = StableDiffusionInpaintPipeline if inpainting else StableDiffusionPipeline
    pipe = pipeline_class(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(str(directory))
    return directory


def _tiny_vae(seed_offset: int = 0, flux: bool = False) -> Any:  # diffusers.AutoencoderKL
    from diffusers import AutoencoderKL

    extra = {"use_quant_conv": False, "use_post_quant_conv": False, "shift_factor": 0.06,
             "scaling_factor": 1.5} if flux else {}
    return AutoencoderKL(
        in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 16), latent_channels=4, norm_num_groups=4, sample_size=TINY_SIDE, **extra,
    )


def _tiny_clip(tokenizer: Any, with_projection: bool = False) -> Any:  # CLIPTextModel(WithProjection)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=16, intermediate_size=32,
        num_attention_heads=2, num_hidden_layers=2, vocab_size=len(tokenizer), max_position_embeddings=77,
        projection_dim=16,
    )
    return CLIPTextModelWithProjection(config) if with_projection else CLIPTextModel(config)


def write_tiny_sdxl_pipeline(
    directory: Path, tokenizer_dir: Path | None = None, seed: int = 0, inpainting: bool = True
) -> Path:
    """A tiny StableDiffusionXLInpaintPipeline (or text-to-image StableDiffusionXLPipeline): two CLIP
    text encoders whose hidden states are concatenated, the pooled one projected, and a UNet with
    SDXL's text-time embedding (6 time ids, no aesthetic score)."""
    import torch
    from diffusers import (
        EulerDiscreteScheduler,
        StableDiffusionXLInpaintPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )

    tokenizer = load_tokenizer(tokenizer_dir)
    time_embed = 4
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            sample_size=TINY_SIDE // 2, in_channels=9 if inpainting else 4, out_channels=4,
            block_out_channels=(8, 16), layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32, attention_head_dim=(2, 4), use_linear_projection=True,
            addition_embed_type="text_time", addition_time_embed_dim=time_embed,
            projection_class_embeddings_input_dim=6 * time_embed + 16, norm_num_groups=4,
        )
        vae = _tiny_vae()
        text_encoder = _tiny_clip(tokenizer)
        text_encoder_2 = _tiny_clip(tokenizer, with_projection=True)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
        timestep_spacing="leading",
    )
    pipeline_class = StableDiffusionXLInpaintPipeline if inpainting else StableDiffusionXLPipeline
    extra = {"requires_aesthetics_score": False} if inpainting else {}
    pipe = pipeline_class(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
        tokenizer_2=tokenizer, unet=unet, scheduler=scheduler, add_watermarker=False, **extra,
    )
    pipe.save_pretrained(str(directory))
    return directory


def t5_tokenizer() -> Any:  # transformers.T5TokenizerFast
    """A T5 unigram vocabulary of single letters and word starts, built in code."""
    from transformers import T5TokenizerFast

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -1.0)]
    pieces += [(character, -2.0) for character in string.ascii_lowercase + string.digits + ",.-"]
    pieces += [("\u2581" + character, -1.5) for character in string.ascii_lowercase]
    return T5TokenizerFast(vocab=pieces, extra_ids=0, model_max_length=512)


def write_tiny_flux_fill_pipeline(directory: Path, tokenizer_dir: Path | None = None, seed: int = 0) -> Path:
    """A tiny FluxFillPipeline: CLIP (pooled) + T5 (sequence) text encoders, a flow-matching
    transformer reading packed latents, masked-image latents and the packed mask (16 + 16 + 16
    channels with this VAE), guidance embedded."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxFillPipeline, FluxTransformer2DModel
    from transformers import T5Config, T5EncoderModel

    tokenizer = load_tokenizer(tokenizer_dir)
    tokenizer_2 = t5_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = FluxTransformer2DModel(
            patch_size=1, in_channels=48, out_channels=16, num_layers=1, num_single_layers=1,
            attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=16,
            guidance_embeds=True, axes_dims_rope=(4, 6, 6),
        )
        vae = _tiny_vae(flux=True)
        text_encoder = _tiny_clip(tokenizer)
        text_encoder_2 = T5EncoderModel(T5Config(
            d_model=32, d_ff=64, d_kv=16, num_layers=1, num_heads=2, vocab_size=len(tokenizer_2),
            decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
        ))
    pipe = FluxFillPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
        text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2, transformer=transformer,
    )
    pipe.save_pretrained(str(directory))
    return directory


def write_tiny_controlnet(directory: Path, seed: int = 0) -> Path:
    """A tiny ControlNetModel matching :func:`write_tiny_pipeline`'s UNet (4 latent channels in; its
    conditioning embedding halves the control image once, as the tiny VAE does)."""
    import torch
    from diffusers import ControlNetModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        controlnet = ControlNetModel(
            in_channels=4, block_out_channels=(8, 16), layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), cross_attention_dim=16,
            attention_head_dim=4, norm_num_groups=4, conditioning_embedding_out_channels=(4, 8),
        )
    controlnet.save_pretrained(str(directory))
    return directory


# ------------------------------------------------------------------ single-file (original layout)
_RESNET_TO_LDM = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("time_emb_proj", "emb_layers.1"),
                  ("norm2", "out_layers.0"), ("conv2", "out_layers.3"), ("conv_shortcut", "skip_connection"))
_UNET_FIXED = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
               "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}
_VAE_ATTENTION_TO_LDM = (("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "proj_out"))


def _resnet_part(rest: str) -> str:
    for diffusers_name, ldm_name in _RESNET_TO_LDM:
        if rest.startswith(diffusers_name + "."):
            return ldm_name + rest[len(diffusers_name):]
    return rest


def _ldm_unet_key(key: str, layers: int) -> str:
    """A diffusers UNet parameter name in the original Stable Diffusion layout (SD 1.5/2 UNets)."""
    parts = key.split(".")
    stem, leaf = ".".join(parts[:-1]), parts[-1]
    if stem in _UNET_FIXED:
        return f"{_UNET_FIXED[stem]}.{leaf}"
    if parts[0] == "down_blocks":
        block, kind, index = int(parts[1]), parts[2], int(parts[3])
        rest = ".".join(parts[4:])
        if kind == "downsamplers":
            return f"input_blocks.{(block + 1) * (layers + 1)}.0.op.{rest.removeprefix('conv.')}"
        slot = 0 if kind == "resnets" else 1
        rest = _resnet_part(rest) if kind == "resnets" else rest
        return f"input_blocks.{1 + block * (layers + 1) + index}.{slot}.{rest}"
    if parts[0] == "mid_block":
        kind, index, rest = parts[1], int(parts[2]), ".".join(parts[3:])
        if kind == "attentions":
            return f"middle_block.1.{rest}"
        return f"middle_block.{0 if index == 0 else 2}.{_resnet_part(rest)}"
    if parts[0] == "up_blocks":
        block, kind, index, rest = int(parts[1]), parts[2], int(parts[3]), ".".join(parts[4:])
        first = block * (layers + 1)
        if kind == "upsamplers":
            return f"output_blocks.{first + layers}.{{upsample}}.{rest}"
        slot = 0 if kind == "resnets" else 1
        rest = _resnet_part(rest) if kind == "resnets" else rest
        return f"output_blocks.{first + index}.{slot}.{rest}"
    raise ValueError(f"no original-layout name for UNet parameter {key}")


def _ldm_vae_key(key: str, blocks: int) -> str:
    """A diffusers AutoencoderKL parameter name in the original layout (``first_stage_model.``)."""
    parts = key.split(".")
    side = parts[0]
    if side in ("quant_conv", "post_quant_conv"):
        return key
    rest = ".".join(parts[1:])
    if rest.startswith("conv_norm_out."):
        return f"{side}.norm_out.{rest.split('.', 1)[1]}"
    if rest.startswith(("conv_in.", "conv_out.")):
        return key
    if parts[1] == "mid_block":
        kind, index, tail = parts[2], int(parts[3]), ".".join(parts[4:])
        if kind == "attentions":
            for diffusers_name, ldm_name in _VAE_ATTENTION_TO_LDM:
                if tail.startswith(diffusers_name + "."):
                    return f"{side}.mid.attn_1.{ldm_name}{tail[len(diffusers_name):]}"
        return f"{side}.mid.block_{index + 1}.{tail.replace('conv_shortcut', 'nin_shortcut')}"
    block, kind, index, tail = int(parts[2]), parts[3], int(parts[4]), ".".join(parts[5:])
    level = block if side == "encoder" else blocks - 1 - block
    group = "down" if side == "encoder" else "up"
    if kind in ("downsamplers", "upsamplers"):
        return f"{side}.{group}.{level}.{'downsample' if side == 'encoder' else 'upsample'}.{tail}"
    return f"{side}.{group}.{level}.block.{index}.{tail.replace('conv_shortcut', 'nin_shortcut')}"


def write_tiny_single_file(directory: Path, tokenizer_dir: Path | None = None, seed: int = 0) -> tuple[Path, Path]:
    """The tiny SD inpainting pipeline as operators often get weights: one ``.safetensors`` file in
    the original Stable Diffusion layout (``model.diffusion_model.*``, ``first_stage_model.*``,
    ``cond_stage_model.transformer.*``), and a diffusers directory with the configs and tokenizer
    but no weights. Returns (checkpoint file, config directory)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextModel

    full = write_tiny_pipeline(directory / "full", tokenizer_dir, seed)
    unet = UNet2DConditionModel.from_pretrained(str(full / "unet"))
    vae = AutoencoderKL.from_pretrained(str(full / "vae"))
    text_encoder = CLIPTextModel.from_pretrained(str(full / "text_encoder"))
    layers = int(unet.config.layers_per_block)
    checkpoint = {}
    for key, tensor in unet.state_dict().items():
        name = _ldm_unet_key(key, layers)
        if "{upsample}" in name:  # the upsampler follows the attention in cross-attention up blocks
            block = int(key.split(".")[1])
            has_attention = any(other.startswith(f"up_blocks.{block}.attentions.") for other in unet.state_dict())
            name = name.replace("{upsample}", "2" if has_attention else "1")
        checkpoint[f"model.diffusion_model.{name}"] = tensor.contiguous()
    blocks = len(vae.config.block_out_channels)
    for key, tensor in vae.state_dict().items():
        name = _ldm_vae_key(key, blocks)
        if ".mid.attn_1." in name and name.endswith(".weight") and tensor.ndim == 2:
            tensor = tensor[:, :, None, None]  # the original attention uses 1×1 convolutions
        checkpoint[f"first_stage_model.{name}"] = tensor.contiguous()
    for key, tensor in text_encoder.state_dict().items():
        name = key if key.startswith("text_model.") else f"text_model.{key}"  # transformers ≥ 5.6 flattened it
        checkpoint[f"cond_stage_model.transformer.{name}"] = tensor.contiguous()
    weights = directory / "tiny-inpaint.safetensors"
    save_file(checkpoint, str(weights))
    config = directory / "config"
    full.rename(config)
    for weight_file in [*config.rglob("*.safetensors"), *config.rglob("*.bin")]:
        weight_file.unlink()
    return weights, config

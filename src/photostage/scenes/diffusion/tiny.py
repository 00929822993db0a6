"""A toy inpainting pipeline of real diffusers classes, written to a directory in diffusers format.

Random weights at toy sizes (a ~0.5 MB directory, 64×64 native resolution): its images are noise,
but every code path of the diffusion engine (loading from disk, tokenizer, text encoder, UNet with
9 input channels, VAE, scheduler, batching, seeds) runs for real on a CPU in about a second. Tests
and ``photostage doctor``-style smoke checks use it; nothing is downloaded.
"""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path

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


def load_tokenizer(tokenizer_dir: Path | None):  # -> transformers.CLIPTokenizer
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

"""The memory plan: how many images one pipeline call may paint, and which savings to switch on.

Decided once, when the weights are loaded, from the free memory of the device at that moment
(other processes may share the GPU), the size of the weights as loaded, and the family's
activation cost per latent pixel; every choice can be forced in settings. Pure arithmetic:
nothing here touches torch, so the rules are tested with made-up devices.

Savings, cheapest first:
* VAE slicing: decode a batch one image at a time (no slower; needed from batch 2 on).
* VAE tiling: decode in overlapping tiles (slightly slower; only for renders too large to decode whole).
* model offload: keep the weights in host RAM and move each component to the GPU while it runs
  (UNet/transformer, VAE, text encoders one after the other; ~10–30 % slower per image).
* sequential offload: move layer by layer (several times slower; for cards smaller than one component).
* attention slicing: compute attention in slices (slower; only when nothing else made room).

The activation figures are estimates per *sample* (classifier-free guidance runs two samples per
image) per latent pixel, for 2-byte weights; docs/DIFFUSION.md says how they were obtained.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Offload = Literal["none", "model", "sequential"]
OffloadSetting = Literal["auto", "none", "model", "sequential"]

MIB = 2**20
GIB = 2**30


@dataclass(frozen=True)
class FamilyCost:
    """Working memory of one family, at 2 bytes per number."""

    denoise_per_sample: float  # UNet/transformer activations, bytes per latent pixel per sample
    decode_per_image: float  # VAE decoder activations, bytes per *output* pixel per image
    samples_per_image: int  # 2 with classifier-free guidance, 1 for guidance-distilled FLUX
    vae_scale: int  # output pixels per latent pixel along a side


# Estimates for SDPA attention (torch ≥ 2), linear in batch and area; docs/DIFFUSION.md gives their
# sources. Denoising and decoding do not overlap: a call's peak is the larger of the two.
# Decode: ~3.7 GB per 1024² image in fp16 without tiling (SDXL at batch 4 peaks at ~21.7 GB on
# diffusers' published A100 run, weights 6.9 GB). Denoise per sample: SD 1.5 ~0.3 GB at 512²,
# SDXL ~0.75 GB at 1024², FLUX ~2.5 GB at 1024².
COSTS: dict[str, FamilyCost] = {
    "sd": FamilyCost(denoise_per_sample=75_000, decode_per_image=3_700, samples_per_image=2, vae_scale=8),
    "sdxl": FamilyCost(denoise_per_sample=45_000, decode_per_image=3_700, samples_per_image=2, vae_scale=8),
    "flux": FamilyCost(denoise_per_sample=150_000, decode_per_image=3_700, samples_per_image=1, vae_scale=8),
}

TILED_DECODE_SIDE = 512  # diffusers decodes tiles of about this many output pixels a side
RESERVE_FRACTION = 0.08  # fragmentation and the allocator's own blocks
RESERVE_MIN = 512 * MIB  # CUDA context, cuDNN workspaces, the images in flight
SEQUENTIAL_RESIDENT = 256 * MIB  # sequential offload keeps about one block's weights on the device


@dataclass(frozen=True)
class MemoryPolicy:
    """Settings that force parts of the plan (None or "auto": let the plan decide)."""

    max_batch: int | None = None
    attention_slicing: bool | None = None
    vae_slicing: bool | None = None
    vae_tiling: bool | None = None
    offload: OffloadSetting = "auto"


def denoise_bytes(cost: FamilyCost, width: int, height: int, dtype_bytes: int) -> float:
    """Denoising activations of one image (all its samples)."""
    latent_pixels = (width / cost.vae_scale) * (height / cost.vae_scale)
    return latent_pixels * cost.denoise_per_sample * cost.samples_per_image * dtype_bytes / 2


def decode_bytes(cost: FamilyCost, width: int, height: int, dtype_bytes: int, tiled: bool) -> float:
    """Decoder activations of one image (one tile's worth when tiled)."""
    if tiled:
        width, height = min(width, TILED_DECODE_SIDE), min(height, TILED_DECODE_SIDE)
    return width * height * cost.decode_per_image * dtype_bytes / 2


def working_bytes(
    cost: FamilyCost, width: int, height: int, dtype_bytes: int, batch: int, vae_slicing: bool, vae_tiling: bool
) -> int:
    """Peak working memory of a call of ``batch`` images: the denoising loop or the decode,
    whichever is larger (slicing decodes one image at a time)."""
    denoise = batch * denoise_bytes(cost, width, height, dtype_bytes)
    decode = (1 if vae_slicing else batch) * decode_bytes(cost, width, height, dtype_bytes, vae_tiling)
    return int(max(denoise, decode))


@dataclass(frozen=True)
class MemoryPlan:
    """What the loaded pipeline was set up with, and the figures it was decided from."""

    max_batch: int
    offload: Offload
    vae_slicing: bool
    vae_tiling: bool
    attention_slicing: bool
    free_bytes: int
    usable_bytes: int  # free less the reserve
    weights_bytes: int
    resident_bytes: int  # weights kept on the device (all, the largest component, or a few layers)
    side: int  # the square render side the plan was computed for
    cost: FamilyCost
    dtype_bytes: int
    reasons: tuple[str, ...] = ()

    def peak(self, batch: int, width: int | None = None, height: int | None = None) -> int:
        """Expected peak device memory of one call of ``batch`` images (at the planned side by default)."""
        width, height = width or self.side, height or self.side
        return self.resident_bytes + working_bytes(
            self.cost, width, height, self.dtype_bytes, batch, self.vae_slicing, self.vae_tiling
        )

    def batch_for(self, width: int, height: int) -> int:
        """Most images per call at this render size: the planned batch, fewer where a larger render
        would not fit, never under 1."""
        batch = self.max_batch
        while batch > 1 and self.peak(batch, width, height) > self.usable_bytes:
            batch -= 1
        return batch

    def lowered(self, batch: int) -> MemoryPlan:
        """The plan after an out-of-memory at ``batch`` images: at most half of that from now on."""
        cap = max(1, batch // 2)
        return replace(self, max_batch=min(self.max_batch, cap),
                       reasons=(*self.reasons, f"out of memory at batch {batch}: batch capped at {cap}"))

    def describe(self) -> str:
        savings = [name for name, on in (("vae slicing", self.vae_slicing), ("vae tiling", self.vae_tiling),
                                         ("attention slicing", self.attention_slicing)) if on]
        offload = "no offload" if self.offload == "none" else f"{self.offload} offload"
        return f"batch ≤ {self.max_batch} at {self.side}², {offload}" + (f", {', '.join(savings)}" if savings else "")


def plan_memory(
    *,
    free_bytes: int,
    weights_bytes: int,
    largest_component_bytes: int,
    side: int,
    cost: FamilyCost,
    dtype_bytes: int,
    wanted_batch: int,
    accelerator: bool,
    policy: MemoryPolicy = MemoryPolicy(),
) -> MemoryPlan:
    """The plan for a device with ``free_bytes`` free, before the weights are moved onto it.

    ``side`` is the square render side to plan for (the weights' native side); ``wanted_batch``
    the most images a request may ask in one call.
    """
    reasons: list[str] = []
    usable = free_bytes - max(RESERVE_MIN, int(RESERVE_FRACTION * free_bytes))
    wanted_batch = max(1, policy.max_batch or wanted_batch)

    def fits(resident: int, batch: int, slicing: bool, tiling: bool) -> bool:
        return resident + working_bytes(cost, side, side, dtype_bytes, batch, slicing, tiling) <= usable

    # 1. Offload: keep every weight on the device when one image fits beside them.
    offload: Offload
    if policy.offload != "auto" and not accelerator and policy.offload != "none":
        offload = "none"
        reasons.append(f"offload {policy.offload} asked for, but the weights run on the CPU already: no offload")
    elif policy.offload != "auto":
        offload = policy.offload
        reasons.append(f"offload {offload} (forced)")
    elif not accelerator or fits(weights_bytes, 1, True, True):
        offload = "none"  # (offload needs an accelerator to offload to)
    elif fits(largest_component_bytes, 1, True, True):
        offload = "model"
        reasons.append("the weights and one image do not fit: components move to the GPU one at a time")
    else:
        offload = "sequential"
        reasons.append("even the largest component and one image do not fit: layers move to the GPU one at a time")
    resident = {"none": weights_bytes, "model": largest_component_bytes, "sequential": SEQUENTIAL_RESIDENT}[offload]

    # 2. VAE tiling: only when a whole decode of one image does not fit beside the weights.
    if policy.vae_tiling is not None:
        tiling = policy.vae_tiling
    else:
        tiling = not fits(resident, 1, True, False)
        if tiling:
            reasons.append(f"a whole {side}² decode does not fit: the VAE decodes in tiles")

    # 3. Batch: as many images as fit, up to the wanted batch; VAE slicing whenever batch > 1.
    #    Offloading means memory is what limits: one image per call.
    if policy.max_batch is not None:
        batch = policy.max_batch
        reasons.append(f"batch {batch} (forced)")
    elif offload != "none":
        batch = 1
    else:
        batch = 1
        while batch < wanted_batch and fits(resident, batch + 1, True, tiling):
            batch += 1
        if batch < wanted_batch:
            reasons.append(f"{batch} image(s) per call fit of the {wanted_batch} wanted")
    slicing = policy.vae_slicing if policy.vae_slicing is not None else batch > 1

    # 4. Attention slicing: the last resort, when even one image did not fit with everything else.
    if policy.attention_slicing is not None:
        attention = policy.attention_slicing
    else:
        attention = accelerator and not fits(resident, 1, True, True)
        if attention:
            reasons.append("one image does not fit even with offload and tiling: attention is sliced")

    return MemoryPlan(
        max_batch=max(1, batch), offload=offload, vae_slicing=slicing, vae_tiling=tiling,
        attention_slicing=attention, free_bytes=free_bytes, usable_bytes=usable, weights_bytes=weights_bytes,
        resident_bytes=resident, side=side, cost=cost, dtype_bytes=dtype_bytes, reasons=tuple(reasons),
    )

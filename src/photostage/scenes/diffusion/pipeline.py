"""The diffusers side: finding, loading and calling a local inpainting pipeline.

torch and diffusers are imported inside functions only, so photostage imports (and reports the
engine unavailable) on machines without the ``diffusion`` extra. The pipeline is loaded once per
engine, on first use, by whichever thread asks first; calls into it are serialised (one device,
and schedulers keep per-call state), while the pixel work around them runs in parallel.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_DTYPE_KEYWORD_SINCE = (0, 42)  # diffusers renamed from_pretrained's `torch_dtype` to `dtype`


def dependencies_importable() -> bool:
    """Whether torch and diffusers import here (both are in the optional ``diffusion`` extra)."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("diffusers") is None:
        return False
    try:
        importlib.import_module("torch")
        importlib.import_module("diffusers")
    except Exception:  # a broken install (missing CUDA libraries, ABI mismatch) is "not available"
        return False
    return True


def is_diffusers_directory(path: Path) -> bool:
    """A diffusers-format pipeline directory: a readable ``model_index.json`` naming its class."""
    index = path / "model_index.json"
    try:
        if not index.is_file():
            return False
        content = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(content, dict) and isinstance(content.get("_class_name"), str)


def resolve_device(requested: str) -> str:
    """``auto`` → ``cuda`` when a CUDA device is visible, else ``cpu``; anything else as given."""
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def weights_variant(path: Path) -> str | None:
    """``fp16`` when the UNet's weights exist only as an fp16 variant (``*.fp16.safetensors``)."""
    unet = path / "unet"
    if not unet.is_dir():
        return None
    weights = [item.name for item in unet.iterdir() if item.name.endswith(_WEIGHT_SUFFIXES)]
    plain = [name for name in weights if ".fp16." not in name]
    return "fp16" if weights and not plain else None


def safety_checker_off(path: Path) -> dict[str, object]:
    """``from_pretrained`` arguments that skip the weights' NSFW checker, for pipelines that have one.

    The checker blanks whole images on false positives (product shots of skin care, swimwear) and
    costs ~1 GB of memory; SDXL pipelines have none, and are given no such argument.
    """
    try:
        index = json.loads((path / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(index, dict) or "safety_checker" not in index:
        return {}
    return {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}


def _dtype_keyword() -> str:
    release = importlib.metadata.version("diffusers").split(".")[:2]
    numbers = tuple(int(part) if part.isdigit() else 0 for part in release)
    return "dtype" if numbers >= _DTYPE_KEYWORD_SINCE else "torch_dtype"


@dataclass(frozen=True)
class CallSettings:
    """What every image of one pipeline call shares."""

    width: int
    height: int
    steps: int
    guidance_scale: float
    strength: float
    scheduler: str | None


@dataclass(frozen=True)
class Generation:
    """One image to paint: ``mask`` is white (255) where the model may paint."""

    prompt: str
    negative_prompt: str
    init: np.ndarray  # (height, width, 3) uint8 RGB
    mask: np.ndarray  # (height, width) uint8
    seed: int


@dataclass(frozen=True)
class Generated:
    images: list[np.ndarray]  # (height, width, 3) uint8 RGB each
    flagged: list[bool]  # the weights' own safety checker blanked the image


def effective_steps(steps: int, strength: float) -> int:
    """diffusers runs ``int(steps × strength)`` steps; keep that at least one."""
    return max(steps, math.ceil(1.0 / strength))


class LoadedPipeline:
    """A loaded inpainting pipeline on its device, with the schedulers asked of it so far."""

    def __init__(self, pipe: Any, device: str) -> None:
        self.pipe = pipe
        self.device = device
        self.lock = threading.Lock()
        self._default_scheduler = pipe.scheduler
        self._schedulers: dict[str, Any] = {}  # at most one per compatible scheduler class

    @property
    def class_name(self) -> str:
        return type(self.pipe).__name__

    @property
    def vae_scale(self) -> int:
        return int(getattr(self.pipe, "vae_scale_factor", 8))

    @property
    def multiple(self) -> int:
        """Sides must be divisible by this (8 for the VAE of every Stable Diffusion family)."""
        return math.lcm(8, self.vae_scale)

    @property
    def native_side(self) -> int:
        """The side of the square the weights were trained at (512 SD 1.5, 1024 SDXL)."""
        sample = self.pipe.unet.config.sample_size
        sample = max(sample) if isinstance(sample, list | tuple) else int(sample)
        return sample * self.vae_scale

    def _scheduler(self, name: str | None) -> Any:
        if name is None:
            return self._default_scheduler
        if name not in self._schedulers:
            compatible = {cls.__name__: cls for cls in self._default_scheduler.compatibles}
            if name not in compatible:
                names = ", ".join(sorted(compatible))
                raise ValueError(f"scheduler {name!r} does not fit these weights; compatible: {names}")
            self._schedulers[name] = compatible[name].from_config(self._default_scheduler.config)
        return self._schedulers[name]

    def _generator(self, seed: int) -> Any:
        import torch

        # On CUDA the generator must live on the pipeline's own device (cuda:1 is not cuda:0);
        # elsewhere (cpu, mps) diffusers draws the noise on the CPU.
        device = self.device if self.device.startswith("cuda") else "cpu"
        return torch.Generator(device=device).manual_seed(seed)

    def generate(self, settings: CallSettings, generations: list[Generation]) -> Generated:
        """Paint every generation in one call (a batch), one seeded generator per image."""
        import torch
        from PIL import Image

        with self.lock, torch.inference_mode():
            self.pipe.scheduler = self._scheduler(settings.scheduler)
            try:
                output = self.pipe(
                    prompt=[item.prompt for item in generations],
                    negative_prompt=[item.negative_prompt for item in generations],
                    image=[Image.fromarray(item.init) for item in generations],
                    mask_image=[Image.fromarray(item.mask) for item in generations],
                    height=settings.height,
                    width=settings.width,
                    num_inference_steps=effective_steps(settings.steps, settings.strength),
                    guidance_scale=settings.guidance_scale,
                    strength=settings.strength,
                    num_images_per_prompt=1,
                    generator=[self._generator(item.seed) for item in generations],
                    output_type="np",
                )
                pixels = np.nan_to_num(np.asarray(output.images, np.float32))
                images = [np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8) for image in pixels]
                flagged = getattr(output, "nsfw_content_detected", None) or [False] * len(images)
                del output, pixels
            finally:
                self.release_memory()
        return Generated(images=images, flagged=[bool(flag) for flag in flagged])

    def release_memory(self) -> None:
        """Give cached device memory back between requests (other processes share the GPU)."""
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()


def load_pipeline(path: Path, device: str) -> LoadedPipeline:
    """An inpainting pipeline of any diffusers-format directory (SD 1.5/2 inpainting, SDXL
    inpainting, or a text-to-image checkpoint that diffusers adapts), from local files only:
    fp16 on an accelerator, fp32 on the CPU, without a safety checker."""
    import torch
    from diffusers import AutoPipelineForInpainting

    dtype = torch.float32 if device == "cpu" else torch.float16
    variant = weights_variant(path)
    pipe = AutoPipelineForInpainting.from_pretrained(
        str(path),
        local_files_only=True,
        variant=variant,
        **safety_checker_off(path),
        **{_dtype_keyword(): dtype},
    )
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return LoadedPipeline(pipe, device)


class PipelineLoader:
    """Loads the pipeline on first use, once, whichever thread asks first."""

    def __init__(self, path: Path, device: str) -> None:
        self.path = path
        self.device = device
        self._lock = threading.Lock()
        self._loaded: LoadedPipeline | None = None

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory (the first render loads them)."""
        return self._loaded is not None

    def get(self) -> LoadedPipeline:
        loaded = self._loaded
        if loaded is not None:
            return loaded
        with self._lock:
            if self._loaded is None:
                self._loaded = load_pipeline(self.path, resolve_device(self.device))
            return self._loaded

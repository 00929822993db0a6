"""The diffusers side: finding, loading and calling a local inpainting pipeline.

torch and diffusers are imported inside functions only, so photostage imports (and reports the
engine unavailable) on machines without the ``diffusion`` extra.

Loading (once per engine): the weights are read from a diffusers-format directory or a single
``.safetensors``/``.ckpt`` checkpoint (with a directory of configs beside it), in the dtype the
device calls for, on the CPU first; then the memory plan is made from the device's free memory
and the weights' measured size, and the pipeline is moved (or offloaded) accordingly.

Calling: one batch of images per call, denoised to latents with a step callback that counts the
steps really run and stops the call when asked; the latents are checked for NaN, decoded here
(so a NaN decode can be redone in float32), and an out-of-memory error splits the batch in two
and lowers the plan's batch for later calls, down to one image, after which it is reported.
"""

from __future__ import annotations

import copy
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from photostage.scenes.base import StopCheck
from photostage.scenes.diffusion import families
from photostage.scenes.diffusion.device import (
    DTYPE_BYTES,
    ResolvedDevice,
    bf16_supported,
    choose_dtype,
    device_memory,
    parse_device,
    resolve_device,
)
from photostage.scenes.diffusion.memory import COSTS, MemoryPlan, MemoryPolicy, plan_memory

logger = logging.getLogger(__name__)

_WEIGHT_SUFFIXES = (".safetensors", ".bin")
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".sft")
_FP16_MARK = re.compile(r"\.fp16(\.|-\d+-of-\d+\.)")
_DTYPE_KEYWORD_SINCE = (0, 42)  # diffusers renamed from_pretrained's `torch_dtype` to `dtype`
CONTROLNET_ACTIVATION_FACTOR = 1.35  # a ControlNet runs beside the UNet at every step (estimate)

Mode = Literal["inpaint", "img2img"]


# ------------------------------------------------------------------------------ finding weights
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


@dataclass(frozen=True)
class WeightsSource:
    """Where the weights are: a diffusers directory, or a single checkpoint file plus ``config``, a
    diffusers-format directory of the same architecture holding its configs and tokenizer files
    (the weights' own repository without the weight files)."""

    path: Path
    config: Path | None = None

    @property
    def single_file(self) -> bool:
        return self.path.suffix.lower() in SINGLE_FILE_SUFFIXES

    @property
    def layout_directory(self) -> Path:
        """The directory whose ``model_index.json`` names the pipeline."""
        return (self.config or self.path) if self.single_file else self.path

    def problem(self) -> str | None:
        """Why these weights cannot be loaded, judged from the files alone; None when they look right."""
        if self.single_file:
            if not self.path.is_file():
                return "the single-file checkpoint does not exist"
            if self.config is None:
                return ("a single-file checkpoint needs engines.diffusion_config: a diffusers-format directory "
                        "with the configs and tokenizer files of the same architecture")
            if not is_diffusers_directory(self.config):
                return "engines.diffusion_config is not a diffusers-format directory (no model_index.json)"
            return None
        if not is_diffusers_directory(self.path):
            return "the weights path is not a diffusers-format directory (no readable model_index.json)"
        return None


def _component_directories(path: Path) -> list[Path]:
    try:
        index = json.loads((path / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [path / name for name, value in index.items()
            if not name.startswith("_") and isinstance(value, list) and (path / name).is_dir()]


def weights_variant(path: Path, dtype: str = "float16") -> str | None:
    """``"fp16"`` when some component's weights exist only as the fp16 variant, or when every
    component has one and the weights will run in half precision anyway (half the bytes to read);
    None otherwise. Components without the variant are then read from their plain files."""
    plain_only, variant_too, variant_only = 0, 0, 0
    for directory in _component_directories(path):
        names = [item.name for item in directory.iterdir()
                 if item.name.endswith(_WEIGHT_SUFFIXES) or item.name.endswith(".json")]
        weights = [name for name in names if name.endswith(_WEIGHT_SUFFIXES)]
        if not weights:
            continue
        has_variant = any(_FP16_MARK.search(name) for name in weights)
        has_plain = any(not _FP16_MARK.search(name) for name in weights)
        if has_variant and not has_plain:
            variant_only += 1
        elif has_variant:
            variant_too += 1
        else:
            plain_only += 1
    if variant_only:
        return "fp16"
    if variant_too and not plain_only and dtype in ("float16", "bfloat16"):
        return "fp16"
    return None


def safety_checker_off(path: Path) -> dict[str, object]:
    """``from_pretrained`` arguments that skip the weights' NSFW checker, for pipelines that have one.

    The checker blanks whole images on false positives (product shots of skin care, swimwear) and
    costs ~1 GB of memory; SDXL and FLUX pipelines have none, and are given no such argument.
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


# ----------------------------------------------------------------------------------- the call
@dataclass(frozen=True)
class CallSettings:
    """What every image of one pipeline call shares."""

    width: int
    height: int
    steps: int  # denoising steps to run (not the schedule length diffusers is given)
    guidance_scale: float
    strength: float
    scheduler: str | None
    mode: Mode = "inpaint"
    control_scale: float | None = None  # ControlNet conditioning scale; None: no ControlNet


@dataclass(frozen=True)
class Generation:
    """One image to paint: ``mask`` is white (255) where the model may paint."""

    prompt: str
    negative_prompt: str
    init: np.ndarray  # (height, width, 3) uint8 RGB
    mask: np.ndarray  # (height, width) uint8
    seed: int
    control: np.ndarray | None = None  # (height, width, 3) uint8 ControlNet conditioning image
    prompt_2: str | None = None  # FLUX: the longer prompt its T5 encoder reads


@dataclass(frozen=True)
class Generated:
    images: list[np.ndarray]  # (height, width, 3) uint8 RGB each
    steps_run: int  # denoising steps each image went through (counted by the step callback)
    float32_decodes: int = 0  # images whose half-precision decode gave NaN and were decoded again
    pipeline: str = ""  # the class that painted them (inpainting, img2img, with ControlNet)


class OutOfDeviceMemory(Exception):
    """Even one image did not fit on the device."""

    def __init__(self, device: str, plan: MemoryPlan) -> None:
        super().__init__(f"{device} ran out of memory for one image ({plan.describe()})")
        self.device = device
        self.plan = plan


class NonFiniteOutput(Exception):
    """The model produced NaN/inf: in the denoiser (no decode can help) or in the decoder (even in float32)."""

    def __init__(self, stage: Literal["denoiser", "decoder"], dtype: str) -> None:
        hint = ("set engines.diffusion_dtype to float32 (or bfloat16)" if stage == "denoiser"
                else "the VAE gives NaN even in float32: the weights are damaged or incompatible")
        super().__init__(f"the {stage} produced non-finite values in {dtype}; {hint}")
        self.stage = stage
        self.dtype = dtype


def steps_run(schedule: int, strength: float, flow_matching: bool = False) -> int:
    """Denoising steps a call with ``num_inference_steps=schedule`` and ``strength`` really runs:
    ``int(n × s)`` for the SD/SDXL pipelines; FLUX's rounds the skipped part down instead,
    ``n − int(n − n × s)``."""
    if flow_matching:
        return schedule - int(max(schedule - schedule * strength, 0))
    return min(int(schedule * strength), schedule)


def schedule_steps(steps: int, strength: float, flow_matching: bool = False) -> int:
    """The shortest schedule to give diffusers so that ``steps`` denoising steps really run."""
    n = max(1, min(steps, math.floor(steps / strength)))
    while steps_run(n, strength, flow_matching) < steps:
        n += 1
    return n


class _StepWatch:
    """``callback_on_step_end``: counts the steps run and asks ``stop`` after each of them."""

    def __init__(self, stop: StopCheck | None) -> None:
        self.stop = stop
        self.steps = 0

    def __call__(self, pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        self.steps += 1
        if self.stop is not None:
            self.stop()
        return {}


@dataclass(frozen=True)
class Runtime:
    """Engine-wide settings of the loaded weights (the same for every model name using them)."""

    device: str = "auto"
    dtype: str = "auto"
    memory: MemoryPolicy = field(default_factory=MemoryPolicy)
    wanted_batch: int = 4  # Claid's most images per request: plan for them in one call if they fit
    controlnet: Path | None = None


class LoadedPipeline:
    """A loaded pipeline on its device, with its memory plan and the variants asked of it so far."""

    def __init__(
        self, pipe: Any, device: ResolvedDevice, dtype: str, plan: MemoryPlan, *,
        variant: str | None = None, load_seconds: float = 0.0, controlnet: Any = None,
    ) -> None:
        self.pipe = pipe
        self.device = device
        self.dtype = dtype
        self.plan = plan
        self.variant = variant
        self.load_seconds = load_seconds
        self.family = families.family_of_pipeline(pipe)
        self.traits = families.TRAITS[self.family]
        self.controlnet = controlnet
        self._default_scheduler = pipe.scheduler
        self._schedulers: dict[str, Any] = {}  # at most one per compatible scheduler class
        self._variants: dict[tuple[Mode, bool], Any] = {("inpaint", False): pipe}
        # Counting runs while another thread's call encodes its prompt; a fast tokenizer changes
        # its truncation state per call, so counting uses its own copies, one count at a time.
        self._budgets = families.prompt_budgets(pipe)
        self._counters = [copy.deepcopy(budget.tokenizer) for budget in self._budgets]
        self._counter_lock = threading.Lock()

    @property
    def class_name(self) -> str:
        return type(self.pipe).__name__

    @property
    def device_name(self) -> str:
        return self.device.torch_name

    @property
    def vae_scale(self) -> int:
        return int(getattr(self.pipe, "vae_scale_factor", 8))

    @property
    def multiple(self) -> int:
        """Sides must be divisible by this: 8 for the SD VAEs, 16 for FLUX (2×2 packed latents)."""
        packing = 2 if self.family == "flux" else 1
        return math.lcm(8, self.vae_scale * packing)

    @property
    def native_side(self) -> int:
        """The side of the square the weights were trained at (512 SD 1.5, 1024 SDXL and FLUX)."""
        return native_side_of(self.pipe)

    @property
    def inpainting_weights(self) -> bool:
        return families.is_inpainting_denoiser(self.pipe)

    @property
    def text_encoders(self) -> int:
        """Prompts a call takes: 1, or 2 for FLUX (``prompt`` for CLIP, ``prompt_2`` for T5)."""
        return len(self._budgets)

    def count_tokens(self, text: str, encoder: int = 0) -> int:
        with self._counter_lock:
            counted = self._counters[encoder](text, add_special_tokens=False, truncation=False, verbose=False)
        return len(counted.input_ids)

    def prompt_tokens(self, encoder: int = 0) -> int:
        """The tokens a prompt may have for this text encoder."""
        return self._budgets[encoder].tokens

    def token_counter(self, encoder: int = 0) -> Callable[[str], int]:
        return lambda text: self.count_tokens(text, encoder)

    def mode_for_template(self, preferred: Literal["auto", "img2img", "inpaint"]) -> Mode:
        """Templates are restyled by img2img with the template as init where the weights can do it
        (text-to-image SD/SDXL weights); inpainting weights only run the inpainting pipeline, which
        with the product mask is img2img everywhere but on the product."""
        if preferred == "inpaint" or self.traits.img2img is None or self.inpainting_weights:
            return "inpaint"
        return "img2img"

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

    def _pipeline_for(self, mode: Mode, control: bool) -> Any:
        """The pipeline object of a call: the loaded one, or an img2img/ControlNet view of the same
        components (``from_pipe`` shares the weights; nothing is loaded twice)."""
        key = (mode, control)
        if key not in self._variants:
            import diffusers

            if control and self.controlnet is None:
                raise ValueError("a ControlNet call was asked for but no ControlNet is loaded")
            name = {("inpaint", True): self.traits.controlnet_inpaint, ("img2img", False): self.traits.img2img,
                    ("img2img", True): self.traits.controlnet_img2img}[key]
            if name is None:
                raise ValueError(f"{self.family} weights have no {mode} pipeline" + (" with ControlNet" * control))
            import torch

            extra: dict[str, Any] = {"controlnet": self.controlnet} if control else {}
            # from_pipe casts every (shared) component to float32 unless told the dtype
            extra[_dtype_keyword()] = getattr(torch, self.dtype)
            variant = getattr(diffusers, name).from_pipe(self.pipe, **extra)
            variant.set_progress_bar_config(disable=True)
            if self.plan.offload != "none":
                apply_memory_plan(variant, self.plan, self.device)
            self._variants[key] = variant
        return self._variants[key]

    def _generator(self, seed: int) -> Any:
        import torch

        # On CUDA the generator must live on the pipeline's own device (cuda:1 is not cuda:0);
        # elsewhere (cpu, mps) diffusers draws the noise on the CPU.
        device = self.device.torch_name if self.device.kind == "cuda" else "cpu"
        return torch.Generator(device=device).manual_seed(seed)

    def generate(
        self, settings: CallSettings, generations: list[Generation], stop: StopCheck | None = None
    ) -> Generated:
        """Paint every generation, in as few calls as the memory plan allows.

        Out of memory: the batch is split in two and the plan's batch lowered for later calls;
        with one image left the error is raised as :class:`OutOfDeviceMemory`.
        """
        import torch

        cap = self.plan.batch_for(settings.width, settings.height)
        if len(generations) > cap:
            parts = [generations[start : start + cap] for start in range(0, len(generations), cap)]
            return _merged([self.generate(settings, part, stop) for part in parts])
        try:
            return self._call(settings, generations, stop)
        except torch.OutOfMemoryError:
            self.release_memory()
            if len(generations) == 1:
                raise OutOfDeviceMemory(self.device_name, self.plan) from None
            logger.warning("out of memory at batch %d on %s: retrying in halves", len(generations), self.device_name)
            self.plan = self.plan.lowered(len(generations))
            half = len(generations) // 2
            return _merged([self.generate(settings, generations[:half], stop),
                            self.generate(settings, generations[half:], stop)])

    def _call(self, settings: CallSettings, generations: list[Generation], stop: StopCheck | None) -> Generated:
        import torch
        from PIL import Image

        control = settings.control_scale is not None
        pipe = self._pipeline_for(settings.mode, control)
        pipe.scheduler = self._scheduler(settings.scheduler)
        watch = _StepWatch(stop)
        arguments: dict[str, Any] = {
            "prompt": [item.prompt for item in generations],
            "image": [Image.fromarray(item.init) for item in generations],
            "num_inference_steps": schedule_steps(settings.steps, settings.strength, self.family == "flux"),
            "guidance_scale": settings.guidance_scale,
            "strength": settings.strength,
            "num_images_per_prompt": 1,
            "generator": [self._generator(item.seed) for item in generations],
            "output_type": "latent",
            "callback_on_step_end": watch,
        }
        if settings.mode == "inpaint":  # img2img pipelines take their size from the init image
            arguments["mask_image"] = [Image.fromarray(item.mask) for item in generations]
            arguments["height"], arguments["width"] = settings.height, settings.width
        if self.traits.negative_prompt:
            arguments["negative_prompt"] = [item.negative_prompt for item in generations]
        if self.text_encoders > 1:
            arguments["prompt_2"] = [item.prompt_2 or item.prompt for item in generations]
            arguments["max_sequence_length"] = self.prompt_tokens(1) + 1
        if control:
            arguments["control_image"] = [Image.fromarray(_control_of(item)) for item in generations]
            arguments["controlnet_conditioning_scale"] = settings.control_scale
        with torch.inference_mode():
            latents = pipe(**arguments).images
            finite = torch.isfinite(latents.reshape(latents.shape[0], -1)).all(dim=1)
            if not bool(finite.all()):
                raise NonFiniteOutput("denoiser", self.dtype)
            decoded = families.decode_latents(pipe, latents, settings.height, settings.width, float32=False)
            bad = ~torch.isfinite(decoded.reshape(decoded.shape[0], -1)).all(dim=1)
            redone = int(bad.sum())
            if redone:
                logger.warning("%d image(s) decoded to NaN in %s: decoding them again in float32", redone, self.dtype)
                again = families.decode_latents(pipe, latents[bad], settings.height, settings.width, float32=True)
                if not bool(torch.isfinite(again).all()):
                    raise NonFiniteOutput("decoder", self.dtype)
                decoded = decoded.float()
                decoded[bad] = again.float()
            pixels = pipe.image_processor.postprocess(decoded.float(), output_type="np")
        images = [np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8) for image in np.asarray(pixels, np.float32)]
        return Generated(images=images, steps_run=watch.steps, float32_decodes=redone, pipeline=type(pipe).__name__)

    def release_memory(self) -> None:
        """Give cached device memory back after an out-of-memory error (not after every call: the
        allocator's cache is what keeps calls fast)."""
        if self.device.kind == "cuda":
            import torch

            torch.cuda.empty_cache()

    def status(self) -> dict[str, object]:
        """What ``/v1/models`` and ``doctor`` show about the loaded weights."""
        return {
            "device": self.device_name,
            "dtype": self.dtype,
            "pipeline": self.class_name,
            "family": self.family,
            "weights_gib": round(self.plan.weights_bytes / 2**30, 2),
            "free_gib_at_load": round(self.plan.free_bytes / 2**30, 2),
            "memory_plan": self.plan.describe(),
            "load_s": round(self.load_seconds, 1),
        }


def _merged(parts: list[Generated]) -> Generated:
    return Generated(
        images=[image for part in parts for image in part.images],
        steps_run=min(part.steps_run for part in parts),
        float32_decodes=sum(part.float32_decodes for part in parts),
        pipeline=parts[0].pipeline,
    )


def _control_of(item: Generation) -> np.ndarray:
    if item.control is None:
        raise ValueError("a ControlNet call needs a conditioning image for every generation")
    return item.control


# -------------------------------------------------------------------------------------- loading
def native_side_of(pipe: Any) -> int:
    """The square side a pipeline's weights were trained at: the UNet's sample size (FLUX: the
    pipeline's default sample size) times the VAE's scale."""
    scale = int(getattr(pipe, "vae_scale_factor", 8))
    if families.family_of_pipeline(pipe) == "flux":
        return int(getattr(pipe, "default_sample_size", 128)) * scale
    sample = pipe.unet.config.sample_size
    sample = max(sample) if isinstance(sample, list | tuple) else int(sample)
    return sample * scale


def _module_bytes(module: Any) -> int:
    tensors = list(module.parameters()) + list(module.buffers())
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


def component_bytes(pipe: Any) -> dict[str, int]:
    """Bytes of every torch module of a pipeline, as loaded (dtype included)."""
    import torch

    return {name: _module_bytes(value) for name, value in pipe.components.items()
            if isinstance(value, torch.nn.Module)}


def _paints_masks(class_name: str) -> bool:
    return "Inpaint" in class_name or "Fill" in class_name


def _read_pipeline(source: WeightsSource, dtype: Any, dtype_name: str) -> tuple[Any, str | None]:
    """The pipeline on the CPU in ``dtype``, adapted to inpainting when the weights are text-to-image.

    Inpainting classes (SD/SDXL inpainting, FLUX Fill) load as themselves; text-to-image SD/SDXL
    weights load through ``AutoPipelineForInpainting``, which puts the same components in the
    family's inpainting pipeline.
    """
    import diffusers
    from diffusers import AutoPipelineForInpainting

    keyword = _dtype_keyword()
    layout = source.layout_directory
    index = json.loads((layout / "model_index.json").read_text(encoding="utf-8"))
    class_name = str(index["_class_name"])
    variant = None
    if source.single_file:
        pipe = getattr(diffusers, class_name).from_single_file(
            str(source.path), config=str(layout), local_files_only=True,
            **safety_checker_off(layout), **{keyword: dtype},
        )
        if not _paints_masks(class_name):
            pipe = AutoPipelineForInpainting.from_pipe(pipe, **{keyword: dtype})  # (it casts to float32 if not told)
    else:
        variant = weights_variant(source.path, dtype_name)
        loader = getattr(diffusers, class_name) if _paints_masks(class_name) else AutoPipelineForInpainting
        pipe = loader.from_pretrained(
            str(source.path), local_files_only=True, variant=variant,
            **safety_checker_off(source.path), **{keyword: dtype},
        )
    pipe.set_progress_bar_config(disable=True)
    return pipe, variant


def apply_memory_plan(pipe: Any, plan: MemoryPlan, device: ResolvedDevice) -> None:
    """Apply the memory plan: move or offload, then switch on the savings it chose."""
    if plan.offload == "model":
        pipe.enable_model_cpu_offload(device=device.torch_name)
    elif plan.offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device.torch_name)
    else:
        pipe.to(device.torch_name)
    vae = pipe.vae
    (vae.enable_slicing if plan.vae_slicing else vae.disable_slicing)()
    (vae.enable_tiling if plan.vae_tiling else vae.disable_tiling)()
    if plan.attention_slicing and hasattr(pipe, "enable_attention_slicing"):
        pipe.enable_attention_slicing()


def load_pipeline(source: WeightsSource, runtime: Runtime) -> LoadedPipeline:
    """Read the weights, plan memory from the device's free memory, and place them."""
    import torch

    started = time.perf_counter()
    device = resolve_device(parse_device(runtime.device))
    family = families.family_of_directory(source.layout_directory)
    dtype_name = choose_dtype(runtime.dtype, device, family, bf16_supported(device))
    dtype = getattr(torch, dtype_name)
    pipe, variant = _read_pipeline(source, dtype, dtype_name)
    controlnet = None
    if runtime.controlnet is not None:
        controlnet = _read_controlnet(runtime.controlnet, families.family_of_pipeline(pipe), dtype)
    sizes = component_bytes(pipe)
    if controlnet is not None:
        sizes["controlnet"] = _module_bytes(controlnet)
    family = families.family_of_pipeline(pipe)
    cost = COSTS[family]
    if controlnet is not None:
        cost = type(cost)(cost.denoise_per_sample * CONTROLNET_ACTIVATION_FACTOR, cost.decode_per_image,
                          cost.samples_per_image, cost.vae_scale)
    memory = device_memory(device)
    plan = plan_memory(
        free_bytes=memory.free, weights_bytes=sum(sizes.values()), largest_component_bytes=max(sizes.values()),
        side=native_side_of(pipe), cost=cost, dtype_bytes=DTYPE_BYTES[dtype_name], wanted_batch=runtime.wanted_batch,
        accelerator=device.accelerator, policy=runtime.memory,
    )
    apply_memory_plan(pipe, plan, device)
    if controlnet is not None and plan.offload == "none":
        controlnet.to(device.torch_name)
    seconds = time.perf_counter() - started
    logger.info("diffusion weights loaded on %s in %s in %.1f s: %s", device.torch_name, dtype_name, seconds,
                plan.describe())
    if device.warning:
        logger.warning("%s", device.warning)
    return LoadedPipeline(pipe, device, dtype_name, plan, variant=variant, load_seconds=seconds,
                          controlnet=controlnet)


def _read_controlnet(path: Path, family: families.Family, dtype: Any) -> Any:
    if families.TRAITS[family].controlnet_inpaint is None:
        raise ValueError(f"a ControlNet is configured but {family} weights take none here (SD 1.5/2 and SDXL do)")
    from diffusers import ControlNetModel

    return ControlNetModel.from_pretrained(str(path), local_files_only=True, **{_dtype_keyword(): dtype})


# --------------------------------------------------------------------------------- the loader
LoadState = Literal["idle", "loading", "ready", "failed"]


class WeightsLoading(Exception):
    """The weights are being loaded in the background; ``seconds`` since the load began."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the diffusion weights are loading ({seconds:.0f} s so far)")
        self.seconds = seconds


class PipelineLoader:
    """Loads the pipeline once: in the background at start (:meth:`start`), or on first use.

    While a background load runs, :meth:`get` raises :class:`WeightsLoading` instead of making the
    request wait inside its own deadline; a failed load is remembered and re-raised.
    """

    def __init__(
        self, source: WeightsSource, runtime: Runtime,
        load: Callable[[WeightsSource, Runtime], LoadedPipeline] = load_pipeline,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.runtime = runtime
        self._load = load
        self._clock = clock
        self._lock = threading.Lock()
        self._loaded: LoadedPipeline | None = None
        self._error: BaseException | None = None
        self._started_at: float | None = None
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> LoadState:
        if self._loaded is not None:
            return "ready"
        if self._error is not None:
            return "failed"
        return "loading" if self._started_at is not None else "idle"

    @property
    def loaded(self) -> LoadedPipeline | None:
        return self._loaded

    @property
    def error(self) -> BaseException | None:
        return self._error

    def start(self) -> None:
        """Begin loading in a background thread (no-op when loading or loaded)."""
        with self._lock:
            if self._started_at is not None or self._loaded is not None or self._error is not None:
                return
            self._started_at = self._clock()
            self._thread = threading.Thread(target=self._run, name="photostage-diffusion-load", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a background load ends; True when it ended (loaded or failed)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return self.state in ("ready", "failed")

    def _run(self) -> None:
        try:
            loaded = self._load(self.source, self.runtime)
        except BaseException as error:  # remembered and reported by get() and status()
            logger.exception("loading the diffusion weights failed")
            self._error = error
        else:
            self._loaded = loaded

    def get(self) -> LoadedPipeline:
        loaded = self._loaded
        if loaded is not None:
            return loaded
        if self._error is not None:
            raise self._error
        with self._lock:
            if self._loaded is not None:
                return self._loaded
            if self._error is not None:
                raise self._error
            if self._started_at is not None:
                raise WeightsLoading(self._clock() - self._started_at)
            self._started_at = self._clock()
        self._run()  # first use without a background load: load here, once
        if self._error is not None:
            raise self._error
        assert self._loaded is not None
        return self._loaded

    def loading_seconds(self) -> float:
        return 0.0 if self._started_at is None else self._clock() - self._started_at

"""Optional neural cut-out: a salient-object ONNX model run with onnxruntime, from a local file.

Use it for photos the classical engine finds hard (busy or low-contrast backdrops). photostage
never downloads weights; the operator places an ONNX export on disk and sets
``cutout.neural_model_path`` (env ``PHOTOSTAGE_CUTOUT__NEURAL_MODEL_PATH``) and
``cutout.engine = "neural"``. Models of this family that work (input NCHW float RGB, first output
a saliency map, any of (1, 1, H, W), (1, H, W), (H, W)):

* U²-Net / U²-NetP (Qin et al. 2020), Apache-2.0: the authors' repository
  ``xuebinqin/U-2-Net`` ships PyTorch weights; export with ``torch.onnx.export`` at 320x320.
  rembg publishes ready ONNX exports of the same weights (``u2net.onnx``).
* IS-Net / DIS (Qin et al. 2022), Apache-2.0: ``xuebinqin/DIS``; 1024x1024 input (rembg's
  ``isnet-general-use.onnx``).
* BiRefNet (Zheng et al. 2024), MIT: ``ZhengPeng7/BiRefNet`` publishes ONNX exports; 1024x1024.

Check the licence of the weights you use (some fine-tunes differ from their code's licence).

Input size comes from the model's static input shape; a dynamic shape uses ``default_size``.
Normalisation is ``(rgb / 255 - mean) / std``: from the constructor if given, else from the model's
metadata (``mean`` and ``std`` as three comma-separated numbers, which an exporter can add with
``onnx.helper.set_model_props``), else ImageNet statistics. A map outside [0, 1] is taken to be
logits (sigmoid); the map is then stretched to [0, 1] as rembg does for U²-Net.

The low-resolution saliency is upsampled and refined at full size with a colour guided filter
(guided upsampling, only in tiles along the silhouette), and edge colours are decontaminated
exactly as in the classical engine.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from photostage.cutout.base import Cutout, alpha_box
from photostage.cutout.foreground import decontaminate
from photostage.cutout.matting import guided_filter
from photostage.cutout.tiles import cells_with, grow, inner

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SOFT = (0.01, 0.99)  # saliency strictly between these is edge to refine


@dataclass(frozen=True)
class ModelInput:
    """What the model expects, read from the ONNX file."""

    name: str
    height: int
    width: int
    float16: bool
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


class NeuralEngine:
    name = "neural"

    def __init__(
        self,
        model_path: Path | None,
        default_size: int = 1024,
        mean: tuple[float, float, float] | None = None,
        std: tuple[float, float, float] | None = None,
        threads: int = 0,
        tile_size: int = 128,
    ) -> None:
        self.model_path = model_path
        self.default_size = default_size
        self.mean = mean
        self.std = std
        self.threads = threads
        self.tile_size = tile_size
        self._session: Any = None
        self._input: ModelInput | None = None

    def unavailable_reason(self) -> str | None:
        """Why the engine cannot run, or None when it can."""
        if self.model_path is None:
            return "cutout.neural_model_path is not set (a local ONNX salient-object model)"
        if not Path(self.model_path).is_file():
            return f"the ONNX model {self.model_path} does not exist"
        if not onnxruntime_available():
            return "onnxruntime is not installed (pip install 'photostage[neural]')"
        return None

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def extract(self, rgba: np.ndarray) -> Cutout:
        reason = self.unavailable_reason()
        if reason is not None:
            raise ValueError(f"the neural cut-out engine is unavailable: {reason}")
        rgb = np.ascontiguousarray(rgba[..., :3])
        saliency = self.saliency(rgb)
        radius = max(2, int(np.ceil(max(rgb.shape[0] / saliency.shape[0], rgb.shape[1] / saliency.shape[1]))))
        alpha = refine_upsampled(rgb, saliency, radius, self.tile_size)
        if rgba[..., 3].min() < 255:
            alpha *= rgba[..., 3].astype(np.float32) / 255.0
        result = decontaminate(rgb, alpha, radius)
        return Cutout(rgba=result, box=alpha_box(result[..., 3]), engine=self.name)

    def saliency(self, rgb: np.ndarray) -> np.ndarray:
        """The model's saliency map for ``rgb`` (H, W, 3) uint8, float32 in [0, 1] at model size."""
        session, spec = self._load()
        resized = cv2.resize(rgb, (spec.width, spec.height), interpolation=cv2.INTER_AREA)
        mean, std = np.array(spec.mean, np.float32), np.array(spec.std, np.float32)
        tensor = (resized.astype(np.float32) / 255.0 - mean) / std
        tensor = tensor.transpose(2, 0, 1)[None]
        if spec.float16:
            tensor = tensor.astype(np.float16)
        output = session.run(None, {spec.name: np.ascontiguousarray(tensor)})[0]
        return to_probability(np.asarray(output, np.float32))

    def _load(self) -> tuple[Any, ModelInput]:
        """Open the ONNX session once per engine instance (lazily: building the engine stays cheap)."""
        if self._session is None or self._input is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            if self.threads > 0:
                options.intra_op_num_threads = self.threads
            session = onnxruntime.InferenceSession(str(self.model_path), sess_options=options,
                                                   providers=["CPUExecutionProvider"])
            self._input = describe_input(session, self.default_size, self.mean, self.std)
            self._session = session
        return self._session, self._input


def describe_input(
    session: Any,
    default_size: int,
    mean: tuple[float, float, float] | None,
    std: tuple[float, float, float] | None,
) -> ModelInput:
    """Input name, size (static dims, else ``default_size``), dtype and normalisation of a session."""
    first = session.get_inputs()[0]
    shape = list(first.shape)
    height = shape[2] if len(shape) == 4 and isinstance(shape[2], int) and shape[2] > 0 else default_size
    width = shape[3] if len(shape) == 4 and isinstance(shape[3], int) and shape[3] > 0 else default_size
    metadata = session.get_modelmeta().custom_metadata_map
    return ModelInput(
        name=first.name,
        height=int(height),
        width=int(width),
        float16=first.type == "tensor(float16)",
        mean=mean or _triple(metadata.get("mean"), IMAGENET_MEAN),
        std=std or _triple(metadata.get("std"), IMAGENET_STD),
    )


def _triple(text: str | None, default: tuple[float, float, float]) -> tuple[float, float, float]:
    if not text:
        return default
    parts = [float(part) for part in text.replace(" ", "").split(",") if part]
    if len(parts) != 3:
        raise ValueError(f"model metadata {text!r} is not three comma-separated numbers")
    return (parts[0], parts[1], parts[2])


def to_probability(output: np.ndarray) -> np.ndarray:
    """The first map of a model output as float32 in [0, 1]: sigmoid for logits, then stretched."""
    saliency = output
    while saliency.ndim > 2:
        saliency = saliency[0]
    saliency = saliency.astype(np.float32)
    if saliency.min() < 0.0 or saliency.max() > 1.0:
        saliency = 1.0 / (1.0 + np.exp(-saliency))
    low, high = float(saliency.min()), float(saliency.max())
    if high - low > 1e-6:
        saliency = (saliency - low) / (high - low)
    return saliency


def refine_upsampled(rgb: np.ndarray, saliency: np.ndarray, radius: int, tile: int) -> np.ndarray:
    """Guided upsampling: bilinear to full size, then a colour guided filter with the photo as guide,
    only in tiles that hold the soft boundary (elsewhere the map is snapped to 0 or 1)."""
    height, width = rgb.shape[:2]
    upscaled = cv2.resize(saliency, (width, height), interpolation=cv2.INTER_LINEAR)
    alpha = (upscaled >= 0.5).astype(np.float32)
    soft = (upscaled > SOFT[0]) & (upscaled < SOFT[1])
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    band = cv2.dilate(soft.astype(np.uint8), kernel) > 0
    for cell in cells_with(band, tile):
        window = grow(cell, 2 * radius + 2, alpha.shape)
        guide = rgb[window].astype(np.float32) / 255.0
        refined = guided_filter(guide, upscaled[window], radius=radius, eps=1e-3)[inner(cell, window)]
        region = band[cell]
        alpha[cell][region] = np.clip(refined[region], 0.0, 1.0)
    return np.where(alpha < 0.02, 0.0, np.where(alpha > 0.98, 1.0, alpha)).astype(np.float32)

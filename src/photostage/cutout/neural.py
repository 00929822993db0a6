"""Neural cut-out: a public salient-object or matting ONNX model, run with onnxruntime from a local file.

The operator installs a model (``photostage models add isnet PATH``, see ``cutout.models``);
``cutout.engine: auto`` (the default) then uses the best one installed, ``neural`` insists on it.
Each family (``cutout.families``: IS-Net, U²-Net, U²-NetP, BiRefNet, MODNet) has its own input
size, normalisation and output handling. photostage never downloads weights.

Steps: the photo is resized (bilinear, as the models were trained) to the model's input, the map
is read (sigmoid and min-max stretch where the family needs them), upsampled bilinearly to the
photo's size and refined at full resolution in the edge band only: a colour guided filter with
the photo as guide, in tiles along the silhouette, so edges follow the photo's own contours rather
than a 1024 px map's. Edge colours are then decontaminated as in the classical engine.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from photostage.cutout.base import Cutout, alpha_box
from photostage.cutout.families import ModelFamily, family_named, input_size
from photostage.cutout.foreground import decontaminate
from photostage.cutout.matting import guided_filter
from photostage.cutout.tiles import cells_with, grow, inner

SOFT = (0.01, 0.99)  # map values strictly between these are edge to refine


@dataclass(frozen=True)
class ModelShapes:
    """The input and output a model file declares (dims as ints, or names when dynamic)."""

    input_name: str
    output_name: str
    input: list[int | str]
    output: list[int | str]
    static_size: tuple[int, int] | None  # (height, width) when the file fixes them
    float16: bool


def onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def open_session(path: Path, threads: int = 0) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads > 0:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3  # no warnings about unused side outputs on stderr
    try:
        return onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for bad files
        raise ValueError(f"{path} is not an ONNX model onnxruntime can open: {error}") from None


def _dims(shape: Any) -> list[int | str]:
    return [d if isinstance(d, int) and d > 0 else str(d or "?") for d in list(shape)]


def model_shapes(family: ModelFamily, session: Any) -> ModelShapes:
    """Check a session's input and output against ``family``; a ValueError naming what is wrong."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ValueError(f"a {family.name} model takes one image input; this one takes {len(inputs)} "
                         f"({', '.join(i.name for i in inputs)})")
    first = inputs[0]
    dims = _dims(first.shape)
    if len(dims) != 4 or (isinstance(dims[1], int) and dims[1] != 3):
        raise ValueError(f"a {family.name} model's input is an (N, 3, H, W) image; this one is {dims}")
    if first.type not in ("tensor(float)", "tensor(float16)"):
        raise ValueError(f"a {family.name} model's input is float; this one is {first.type}")
    height, width = dims[2], dims[3]
    static = (height, width) if isinstance(height, int) and isinstance(width, int) else None
    if static is not None and not family.dynamic and static != family.size:
        raise ValueError(f"a {family.name} model takes {family.size[1]}x{family.size[0]} images; this one takes "
                         f"{width}x{height}: is it another family?")
    outputs = session.get_outputs()
    if family.output >= len(outputs):
        raise ValueError(f"a {family.name} model has its map at output {family.output}; this one has "
                         f"{len(outputs)} output(s)")
    output = outputs[family.output]
    out_dims = _dims(output.shape)
    channels = out_dims[1] if len(out_dims) == 4 else 1
    if len(out_dims) not in (3, 4) or (isinstance(channels, int) and channels != 1):
        raise ValueError(f"a {family.name} model's output {output.name!r} is one (N, 1, H, W) map; "
                         f"this one is {out_dims}")
    if static is not None and isinstance(out_dims[-1], int) and isinstance(out_dims[-2], int) \
            and (out_dims[-2], out_dims[-1]) != static:
        raise ValueError(f"a {family.name} model's map has the input's size {static}; this one's is "
                         f"{tuple(out_dims[-2:])}")
    return ModelShapes(input_name=first.name, output_name=output.name, input=dims, output=out_dims,
                       static_size=static, float16=first.type == "tensor(float16)")


def validate_model(family: ModelFamily, path: Path) -> ModelShapes:
    """Everything ``photostage models add`` checks: the file opens, its shapes are the family's, and
    one inference on a test picture gives a finite map of the input's size (within [0, 1] for
    families whose exports end in a sigmoid)."""
    if not onnxruntime_available():
        raise ValueError("onnxruntime is not installed (pip install 'photostage[neural]')")
    session = open_session(path)
    shapes = model_shapes(family, session)
    picture = test_picture(128)
    size = input_size(family, picture.shape[:2], shapes.static_size)
    raw = session.run([shapes.output_name], {shapes.input_name: preprocess(picture, family, size, shapes.float16)})
    output = np.asarray(raw[0], np.float32)
    plane = _plane(output)
    if plane.shape != size:
        raise ValueError(f"the model's map is {plane.shape[1]}x{plane.shape[0]} for a "
                         f"{size[1]}x{size[0]} input; a {family.name} model returns a map of the input's size")
    if not np.isfinite(plane).all():
        raise ValueError("the model's map holds NaN or infinite values on a test picture")
    if family.activation == "none" and (plane.min() < -1e-3 or plane.max() > 1 + 1e-3):
        raise ValueError(f"the model's map spans {plane.min():.2f}..{plane.max():.2f}, but a {family.name} export "
                         "ends in a sigmoid (0..1): is it another family?")
    return shapes


def test_picture(size: int) -> np.ndarray:
    """A dark disc on a light backdrop: what a salient-object model should find."""
    picture = np.full((size, size, 3), 228, np.uint8)
    cv2.circle(picture, (size // 2, size // 2), size // 3, (40, 60, 150), -1, lineType=cv2.LINE_AA)
    return picture


def preprocess(rgb: np.ndarray, family: ModelFamily, size: tuple[int, int], float16: bool = False) -> np.ndarray:
    """(1, 3, H, W) float tensor of ``rgb`` (h, w, 3) uint8 resized to ``size`` (height, width)."""
    resized = cv2.resize(rgb, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    mean = np.array(family.mean, np.float32)
    scale = 1.0 / np.array(family.std, np.float32)
    tensor = (resized.astype(np.float32) - mean) * scale
    tensor = np.ascontiguousarray(tensor.transpose(2, 0, 1)[None])
    return tensor.astype(np.float16) if float16 else tensor


def _plane(output: np.ndarray) -> np.ndarray:
    plane = output
    while plane.ndim > 2:
        plane = plane[0]
    return plane


def postprocess(output: np.ndarray, family: ModelFamily) -> np.ndarray:
    """The family's map from a raw output, float32 in [0, 1] at the model's size."""
    plane = _plane(np.asarray(output, np.float32))
    if family.activation == "sigmoid":
        plane = 1.0 / (1.0 + np.exp(-plane))
    if family.stretch:
        low, high = float(plane.min()), float(plane.max())
        if high - low > 1e-6:
            plane = (plane - low) / (high - low)
    return np.clip(plane, 0.0, 1.0).astype(np.float32)


class NeuralEngine:
    name = "neural"

    def __init__(
        self,
        model_path: Path | None,
        family: ModelFamily | str = "isnet",
        threads: int = 0,
        tile_size: int = 128,
        label: str | None = None,
    ) -> None:
        self.model_path = model_path
        self.family = family_named(family) if isinstance(family, str) else family
        self.threads = threads
        self.tile_size = tile_size
        self.label = label or self.family.name  # the installed model's name, for reports
        self._session: Any = None
        self._shapes: ModelShapes | None = None
        self._lock = threading.Lock()

    def unavailable_reason(self) -> str | None:
        """Why the engine cannot run, or None when it can."""
        if self.model_path is None:
            return ("no model is installed (add one with `photostage models add isnet PATH`, "
                    "or set cutout.neural_model_path)")
        if not Path(self.model_path).is_file():
            return f"the ONNX model {self.model_path} does not exist"
        if not onnxruntime_available():
            return "onnxruntime is not installed (pip install 'photostage[neural]')"
        return None

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def warm_up(self) -> None:
        """Open the session (seconds for a large model) before the first photo needs it."""
        if self.available():
            self._load()

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
        """The model's map for ``rgb`` (H, W, 3) uint8: float32 in [0, 1] at the model's input size."""
        session, shapes = self._load()
        size = input_size(self.family, rgb.shape[:2], shapes.static_size)
        tensor = preprocess(rgb, self.family, size, shapes.float16)
        output = session.run([shapes.output_name], {shapes.input_name: tensor})[0]
        return postprocess(output, self.family)

    def _load(self) -> tuple[Any, ModelShapes]:
        """Open the ONNX session once per engine (lazily, so building the engine stays cheap)."""
        with self._lock:
            if self._session is None or self._shapes is None:
                session = open_session(Path(str(self.model_path)), self.threads)
                self._shapes = model_shapes(self.family, session)
                self._session = session
            return self._session, self._shapes


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

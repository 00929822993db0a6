"""Tiny ONNX models of each family's shape, built with the onnx helper API for the neural tests.

Each graph turns an image into a saliency map with a handful of ops:
``map = gain * (threshold - ReduceMean(image, channels))``, optionally through a Sigmoid, so a dark
product on a light backdrop comes out as foreground. ``threshold`` is given in the family's
normalised units, so a wrong normalisation moves the cut and the tests see it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper


def build_model(
    path: Path,
    size: tuple[int, int] | None = (64, 64),
    threshold: float = 0.0,
    gain: float = 12.0,
    sigmoid: bool = True,
    extra_outputs: int = 0,
    channels: int = 3,
    out_scale: float = 1.0,
) -> Path:
    """Write the model; ``size=None`` gives dynamic H and W. ``extra_outputs`` adds inverted maps
    after the real one (as IS-Net's side outputs follow its final map); ``out_scale`` multiplies the
    final map (a U²-Net map that never reaches 1, to be stretched)."""
    height, width = size if size is not None else ("H", "W")
    nodes = [
        helper.make_node("ReduceMean", ["image", "axes"], ["brightness"], keepdims=1),
        helper.make_node("Sub", ["threshold", "brightness"], ["darkness"]),
        helper.make_node("Mul", ["darkness", "gain"], ["logit"]),
    ]
    last = "logit"
    if sigmoid:
        nodes.append(helper.make_node("Sigmoid", ["logit"], ["probability"]))
        last = "probability"
    nodes.append(helper.make_node("Mul", [last, "out_scale"], ["map"]))
    outputs = [helper.make_tensor_value_info("map", TensorProto.FLOAT, [1, 1, height, width])]
    for index in range(extra_outputs):
        nodes.append(helper.make_node("Neg", ["map"], [f"side{index}"]))
        outputs.append(helper.make_tensor_value_info(f"side{index}", TensorProto.FLOAT, [1, 1, height, width]))
    initializers = [
        helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
        helper.make_tensor("threshold", TensorProto.FLOAT, [], [threshold]),
        helper.make_tensor("gain", TensorProto.FLOAT, [], [gain]),
        helper.make_tensor("out_scale", TensorProto.FLOAT, [], [out_scale]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_saliency",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, channels, height, width])],
        outputs, initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="photostage-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def dark_ellipse_scene(size: int = 256, product: tuple[int, int, int] = (150, 30, 40),
                       backdrop: tuple[int, int, int] = (235, 235, 232)) -> tuple[np.ndarray, np.ndarray]:
    """A dark ellipse on a light backdrop, antialiased from 4x; RGBA and the truth alpha."""
    big = np.zeros((size * 4, size * 4), np.float32)
    cv2.ellipse(big, (size * 2, size * 2), (int(size * 1.2), int(size * 1.6)), 20, 0, 360, 1.0, -1)
    alpha = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)
    rgb = alpha[..., None] * np.array(product, np.float32) + (1 - alpha[..., None]) * np.array(backdrop, np.float32)
    rgba = np.dstack([np.clip(rgb + 0.5, 0, 255).astype(np.uint8), np.full((size, size), 255, np.uint8)])
    return rgba, alpha


def iou(alpha8: np.ndarray, truth: np.ndarray) -> float:
    predicted, expected = alpha8 > 127, truth > 0.5
    return float((predicted & expected).sum() / max((predicted | expected).sum(), 1))

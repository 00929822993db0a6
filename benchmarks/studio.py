"""Studio engine render time per output image, single thread, against a floor measured in the same run.

    python benchmarks/studio.py [--runs 5]

Prints, for each gallery prompt, the median milliseconds of one background render at 1024²
(`optimal`) and at 1448² (`best`, ~2 MP), and its ratio to a floor: the cost of one 1024²
float32 RGB GaussianBlur plus a uint8 conversion on this machine (so numbers from different
machines can be compared). The goal is ≤ 150 ms per 1024² output at `optimal`.
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before numpy loads: single-thread numbers

import argparse  # noqa: E402
import statistics  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from timing import median_ms  # noqa: E402

from photostage.scenes.base import RenderJob, SceneSpec  # noqa: E402
from photostage.scenes.studio.engine import StudioEngine  # noqa: E402
from photostage.scenes.studio.gallery import GALLERY_PROMPTS, _place, make_bottle  # noqa: E402


def floor_ms(runs: int) -> float:
    image = np.random.default_rng(0).random((1024, 1024, 3), dtype=np.float32)

    def blur_and_convert() -> np.ndarray:
        return cv2.convertScaleAbs(cv2.GaussianBlur(image, (0, 0), 6.0), alpha=255.0)

    return median_ms(blur_and_convert, runs)


def render_ms(prompt: str, size: int, preference: str, runs: int) -> float:
    engine = StudioEngine()
    product = _place(make_bottle(), size, flat_lay=False)
    spec = SceneSpec(kind="prompt", prompt=prompt, preference=preference)  # type: ignore[arg-type]
    job = RenderJob(scene=spec, width=size, height=size, product=product, seed=7)
    return median_ms(lambda: engine.render(job), runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    floor = floor_ms(args.runs)
    print(f"floor (1024² float32 RGB GaussianBlur σ=6 + uint8): {floor:.1f} ms\n")
    print(f"{'prompt':<58} {'1024² optimal':>16} {'1448² best':>16}")
    optimal_all, best_all = [], []
    for prompt in GALLERY_PROMPTS:
        optimal = render_ms(prompt, 1024, "optimal", args.runs)
        best = render_ms(prompt, 1448, "best", args.runs)
        optimal_all.append(optimal)
        best_all.append(best)
        label = prompt if len(prompt) <= 56 else prompt[:53] + "..."
        print(f"{label:<58} {optimal:7.1f} ms ×{optimal / floor:4.1f} {best:7.1f} ms ×{best / floor:4.1f}")
    optimal_median, best_median = statistics.median(optimal_all), statistics.median(best_all)
    print(
        f"\n{'median':<58} {optimal_median:7.1f} ms ×{optimal_median / floor:4.1f}"
        f" {best_median:7.1f} ms ×{best_median / floor:4.1f}"
    )
    print(f"{'worst':<58} {max(optimal_all):7.1f} ms {'':6} {max(best_all):7.1f} ms")


if __name__ == "__main__":
    main()

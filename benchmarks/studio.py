"""Studio engine render time per output image, single thread, against a floor measured in the same run.

    python benchmarks/studio.py [--runs 5]

Prints, for prompts covering every kind of studio scene (materials, skies, the sea, neon, flat
lays, props and settings), the median milliseconds of one scene with the product's shadow at 1024² (`optimal`)
and at 1448² (`best`, ~2 MP), each with its ratio to a floor: the engine's own unavoidable last
step, `to_canvas` — upsampling the work-resolution scene to the canvas with its grain and
rounding to 8 bits — timed on the same work image size (512² for `optimal`, 1014² for `best`).
Every scene pays that step whatever it draws. Template scenes (`adjust`, `transform` on a
1024×768 photo) are timed too. The goal is ≤ 150 ms per 1024² output at `optimal`.
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
from photostage.scenes.shadow import with_shadow  # noqa: E402
from photostage.scenes.studio.engine import StudioEngine, generators  # noqa: E402
from photostage.scenes.studio.gallery import _place, make_bottle  # noqa: E402
from photostage.scenes.studio.quality import quality_for  # noqa: E402
from photostage.scenes.studio.render import to_canvas  # noqa: E402

PROMPTS: tuple[str, ...] = (
    "marble countertop, marble wall background, monochromatic, bokeh, closeup",
    "on the wooden table in the dark room",
    "concrete floor, concrete wall, window light",
    "on sand, sunset sky",
    "beach, sand, summer",
    "neon lights, dark, glossy floor",
    "linen, flat lay, top view",
    "minimalist podium, pastel colours",
    "kitchen counter, morning light, plants in background",
    "wrapped up for the holidays",
    "fresh snow, crisp winter air",
)


def floor_ms(size: int, preference: str, runs: int) -> float:
    """`to_canvas` alone: the last step of every studio render, on a random work image."""
    quality = quality_for(preference, None)  # type: ignore[arg-type]
    work = max(16, round(size * quality.work_scale))
    image = np.random.default_rng(0).random((work, work, 3), dtype=np.float32)
    job = RenderJob(
        scene=SceneSpec(kind="prompt"), width=size, height=size, product=_place(make_bottle(), size, False), seed=1
    )
    _, rendering = generators(1, 0)
    return median_ms(lambda: to_canvas(image, job, quality, rendering), runs)


def render_ms(engine: StudioEngine, spec: SceneSpec, width: int, height: int, runs: int) -> float:
    product = _place(make_bottle(), min(width, height), flat_lay=False)
    if product.rgba.shape[:2] != (height, width):
        from photostage.imaging import compose
        from photostage.scenes.base import PlacedObject

        layer = compose.place(compose.crop(product.rgba, product.box), width, height, product.box[0], product.box[1])
        ys, xs = np.nonzero(layer[..., 3])
        product = PlacedObject(layer, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    job = RenderJob(scene=spec, width=width, height=height, product=product, seed=7)
    return median_ms(lambda: with_shadow(engine.render(job), job), runs)  # the scene and the product's shadow


def _room(width: int = 1024, height: int = 768) -> np.ndarray:
    rng = np.random.default_rng(2)
    room = np.zeros((height, width, 3), np.float32)
    room[: height // 2] = (190, 184, 172)
    room[height // 2 :] = (120, 96, 76)
    room += cv2.GaussianBlur(rng.normal(0, 12, (height, width)).astype(np.float32), (0, 0), 2)[..., None]
    return np.clip(room, 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    engine = StudioEngine()
    engine.concept_index()  # the prompt model loads once per process, not per image
    floor_optimal, floor_best = floor_ms(1024, "optimal", args.runs), floor_ms(1448, "best", args.runs)
    print(f"floor = to_canvas (upsample + grain + 8-bit): 1024² {floor_optimal:.1f} ms, 1448² {floor_best:.1f} ms\n")
    print(f"{'scene':<58} {'1024² optimal':>16} {'1448² best':>16}")
    optimal_all, best_all = [], []
    for prompt in PROMPTS:
        optimal = render_ms(
            engine, SceneSpec(kind="prompt", prompt=prompt, preference="optimal"), 1024, 1024, args.runs
        )
        best = render_ms(engine, SceneSpec(kind="prompt", prompt=prompt, preference="best"), 1448, 1448, args.runs)
        optimal_all.append(optimal)
        best_all.append(best)
        label = prompt if len(prompt) <= 56 else prompt[:53] + "..."
        print(f"{label:<58} {optimal:7.1f} ms ×{optimal / floor_optimal:4.1f} {best:7.1f} ms ×{best / floor_best:4.1f}")
    optimal_median, best_median = statistics.median(optimal_all), statistics.median(best_all)
    print(
        f"\n{'median':<58} {optimal_median:7.1f} ms ×{optimal_median / floor_optimal:4.1f}"
        f" {best_median:7.1f} ms ×{best_median / floor_best:4.1f}"
    )
    print(f"{'worst':<58} {max(optimal_all):7.1f} ms {'':6} {max(best_all):7.1f} ms")
    room = _room()
    for mode in ("adjust", "transform"):
        spec = SceneSpec(kind="template", template=room, template_mode=mode, prompt="warm light", view="front")  # type: ignore[arg-type]
        took = render_ms(engine, spec, 1024, 768, args.runs)
        print(f"{'template ' + mode + ' (1024×768)':<58} {took:7.1f} ms ×{took / floor_optimal:4.1f}")


if __name__ == "__main__":
    main()

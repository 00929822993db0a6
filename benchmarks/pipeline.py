"""Per-output milliseconds of the scene pipeline for effect and locked-template scenes at 1024²,
printed next to a floor measured in the same run: decode + resize + blend + encode with the same
codec, which is the least any compositing service must do per output. Goal: ≤ 2× the floor for jpeg.

    python benchmarks/pipeline.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from timing import median_ms  # noqa: E402

from conftest import make_product  # noqa: E402
from photostage.config import Settings  # noqa: E402
from photostage.contract.request import SceneCreateAPIIn  # noqa: E402
from photostage.imaging import codecs, compose  # noqa: E402
from photostage.imaging.codecs import EncodeOptions  # noqa: E402
from photostage.services import build_services  # noqa: E402


def png(rgba: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    return buffer.getvalue()



def floor_ms(product_png: bytes, template_png: bytes | None, options: EncodeOptions, repeats: int) -> float:
    """decode the inputs, resize, one alpha blend over the product's box, encode: the irreducible
    work of one output."""

    def run() -> None:
        product = codecs.decode(product_png, 10**8).rgba
        if template_png is None:
            background = compose.solid(1024, 1024, (244, 241, 236))
        else:
            background = codecs.decode(template_png, 10**8).rgba
            background = cv2.resize(background, (1024, 1024), interpolation=cv2.INTER_AREA)
        small = cv2.resize(product, (512, 768), interpolation=cv2.INTER_AREA)
        layer = compose.place(small, 1024, 1024, 256, 128)
        codecs.encode(compose.composite_over(background, layer, box=(256, 128, 768, 896)), options)

    return median_ms(run, repeats)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    product_png = png(make_product(800, 1200))
    rng = np.random.default_rng(0)
    template = cv2.GaussianBlur(rng.integers(0, 255, (1200, 1600, 3), dtype=np.uint8), (0, 0), 8)
    template_png = png(np.dstack([template, np.full(template.shape[:2], 255, np.uint8)]))
    product_uri = "data:image/png;base64," + base64.b64encode(product_png).decode()
    template_uri = "data:image/png;base64," + base64.b64encode(template_png).decode()

    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), limits={"workers": 1})
        services = build_services(settings)
        scenes = {
            "effect": {"effect": "shadows", "color": "#f4f1ec", "seed": 1},
            "lock": {"template_url": template_uri, "view": "front", "template_mode": "lock", "seed": 1},
        }
        print(f"{'scene':8} {'format':6} {'per output ms':>14} {'floor ms':>9} {'ratio':>6}")
        for scene_name, scene in scenes.items():
            for fmt in ("jpeg", "png", "webp", "avif"):
                request = SceneCreateAPIIn.model_validate({
                    "object": {"image_url": product_uri, "scale": 0.6},
                    "scene": scene,
                    "output": {"number_of_images": 1, "format": fmt},
                })
                ms = median_ms(lambda request=request: services.runner.run(
                    request, account_id=0, request_id="bench"), args.repeats)
                floor = floor_ms(product_png, template_png if scene_name == "lock" else None,
                                 EncodeOptions(format=fmt), args.repeats)
                print(f"{scene_name:8} {fmt:6} {ms:14.1f} {floor:9.1f} {ms / floor:6.2f}x")
        services.close()


if __name__ == "__main__":
    main()

"""Encode/decode speed of photostage.imaging.codecs, in ms per 1024x1024 image.

Run: `python benchmarks/codecs.py [--side 1024] [--repeat 5]`.
The input is a synthetic staged product shot (gradient backdrop, soft contact shadow, textured
product, mild sensor-like noise), once opaque and once as a cut-out with a soft alpha edge,
because both compress very differently from pure noise or flat colour.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import cv2
import numpy as np
from timing import median_ms

from photostage.imaging.codecs import EncodeOptions, decode, encode


@dataclass(frozen=True)
class Measurement:
    label: str
    encode_ms: float
    decode_ms: float
    size_kib: float


def staged_product(side: int, with_alpha: bool, seed: int = 0) -> np.ndarray:
    """An (side, side, 4) uint8 scene: backdrop + shadow + textured product (+ cut-out alpha)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side].astype(np.float32)
    backdrop = np.stack([200 + 40 * y / side, 190 + 30 * y / side, 180 + 20 * x / side], axis=-1)
    shadow = np.exp(-(((x - side * 0.5) / (side * 0.3)) ** 2 + ((y - side * 0.78) / (side * 0.06)) ** 2))
    backdrop *= (1 - 0.45 * shadow)[..., None]
    product = ((x - side * 0.5) / (side * 0.22)) ** 2 + ((y - side * 0.5) / (side * 0.3)) ** 2 < 1
    texture = np.stack(
        [
            120 + 60 * np.sin(x / 9.0) * np.cos(y / 13.0),
            60 + 40 * np.sin((x + y) / 21.0),
            40 + 30 * np.cos(y / 5.0),
        ],
        axis=-1,
    )
    rgb = np.where(product[..., None], texture, backdrop) + rng.normal(0, 0.7, (side, side, 3))
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    alpha = np.full((side, side), 255, np.uint8)
    if with_alpha:
        alpha = cv2.GaussianBlur(np.where(product, 255, 0).astype(np.uint8), (9, 9), 2)
    return np.dstack([rgb, alpha])



def measure(label: str, rgba: np.ndarray, options: EncodeOptions, repeat: int) -> Measurement:
    per_mp = 1024 * 1024 / (rgba.shape[0] * rgba.shape[1])
    encoded = encode(rgba, options)
    encode_ms = median_ms(lambda: encode(rgba, options), repeat) * per_mp
    decode_ms = median_ms(lambda: decode(encoded.data, 100_000_000), repeat) * per_mp
    return Measurement(label, encode_ms, decode_ms, len(encoded.data) / 1024)


CASES: list[tuple[str, EncodeOptions]] = [
    ("png fast", EncodeOptions(format="png", png_compression="fast")),
    ("png optimal", EncodeOptions(format="png", png_compression="optimal")),
    ("png best", EncodeOptions(format="png", png_compression="best")),
    ("jpeg q85 progressive", EncodeOptions(format="jpeg")),
    ("jpeg q85 baseline", EncodeOptions(format="jpeg", progressive=False)),
    ("jpeg q95 progressive", EncodeOptions(format="jpeg", quality=95)),
    ("webp lossy q75", EncodeOptions(format="webp")),
    ("webp lossless", EncodeOptions(format="webp", lossless=True)),
    ("avif lossy q50", EncodeOptions(format="avif")),
    ("avif lossless", EncodeOptions(format="avif", lossless=True)),
    ("tiff deflate", EncodeOptions(format="tiff")),
]
SLOW_CASES = {"png best", "avif lossless", "webp lossless", "tiff deflate"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=1024, help="square image side in pixels")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case (median is shown)")
    arguments = parser.parse_args()

    print(f"ms per 1024x1024 (median of {arguments.repeat}, slow cases 1); image {arguments.side}²")
    print(f"{'case':<24}{'alpha':<7}{'encode ms':>10}{'decode ms':>11}{'KiB':>9}")
    for with_alpha in (False, True):
        rgba = staged_product(arguments.side, with_alpha)
        for label, options in CASES:
            repeat = 1 if label in SLOW_CASES else arguments.repeat
            result = measure(label, rgba, options, repeat)
            alpha = "yes" if with_alpha else "no"
            print(
                f"{result.label:<24}{alpha:<7}{result.encode_ms:>10.1f}{result.decode_ms:>11.1f}"
                f"{result.size_kib:>9.0f}"
            )


if __name__ == "__main__":
    main()

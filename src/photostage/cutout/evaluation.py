"""Measuring a cut-out against a reference alpha: the figures benchmarks and quality tests share.

* IoU of ``alpha > 0.5`` against ``reference > 0.5`` (the silhouette);
* edge error: mean absolute alpha difference (0-1) in a band around the reference's 0.5 contour,
  a few pixels wide, so a soft edge that is off by a pixel or smeared shows even when IoU is high;
* a loader for a real-photo set laid out as ``../shared/realphotos`` is (``manifest.json`` naming
  each image, its reference mask and category), read in place and never copied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

EDGE_BAND_FRACTION = 0.004  # half-width of the edge band, relative to the long side (4 px at 1000 px)


@dataclass(frozen=True)
class RealPhoto:
    """One photo of a reference set: where its original bytes and its reference alpha are."""

    name: str
    category: str
    image: Path
    mask: Path

    def read_bytes(self) -> bytes:
        return self.image.read_bytes()

    def reference(self) -> np.ndarray:
        """The reference alpha, (H, W) uint8."""
        mask = cv2.imread(str(self.mask), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise FileNotFoundError(f"cannot read reference mask {self.mask}")
        return mask


def load_manifest(root: Path) -> list[RealPhoto]:
    """The photos listed in ``root/manifest.json``, in manifest order."""
    entries = json.loads((root / "manifest.json").read_text())
    return [RealPhoto(name=entry["name"], category=entry["category"], image=root / entry["image"],
                      mask=root / entry["mask"]) for entry in entries]


def iou(alpha: np.ndarray, reference: np.ndarray) -> float:
    """IoU of ``alpha > 0.5`` against ``reference > 0.5``; both (H, W) uint8. 1.0 when both are empty."""
    predicted = alpha > 127
    truth = reference > 127
    union = int((predicted | truth).sum())
    return 1.0 if union == 0 else float((predicted & truth).sum() / union)


def edge_band(reference: np.ndarray, half_width: int | None = None) -> np.ndarray:
    """Pixels within ``half_width`` of the reference's 0.5 contour (both sides); the default grows with
    the photo (``EDGE_BAND_FRACTION`` of its long side, at least 2 px)."""
    if half_width is None:
        half_width = max(2, int(round(EDGE_BAND_FRACTION * max(reference.shape))))
    solid = (reference > 127).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * half_width + 1, 2 * half_width + 1))
    grown = cv2.dilate(solid, kernel) > 0
    shrunk = cv2.erode(solid, kernel, borderType=cv2.BORDER_REPLICATE) > 0
    return grown & ~shrunk


def edge_error(alpha: np.ndarray, reference: np.ndarray) -> float:
    """Mean |alpha - reference| (0-1) over :func:`edge_band`; 0.0 when the reference has no edge."""
    band = edge_band(reference)
    if not band.any():
        return 0.0
    difference = np.abs(alpha[band].astype(np.int16) - reference[band].astype(np.int16))
    return float(difference.mean() / 255.0)


# --- perturbed copies of a real photo, to see whether figures hold beyond the photos themselves ---
#
# A held-out set from the same sources differs from the dev set in size, framing, compression and
# exposure. Each perturbation changes one of those on the decoded photo and transforms the reference
# alike (geometry only), so a cut-out tuned to the dev photos' exact pixels shows it here.

PERTURBATIONS = ("scale", "jpeg", "crop", "flip", "bright", "combo")
SMALL_PHOTO_SIDE = 400  # photos this small (198 px grocery shots) shrink to 3/4, not 1/2


@dataclass(frozen=True)
class Perturbed:
    """One perturbed copy: what was done (``label``), the RGB photo and its reference alpha."""

    label: str
    rgb: np.ndarray  # (h, w, 3) uint8
    reference: np.ndarray  # (h, w) uint8


def _seed(name: str, kind: str) -> int:
    return sum((index + 1) * ord(char) for index, char in enumerate(f"{name}/{kind}"))


def _reencode(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    if decoded is None:
        raise ValueError("JPEG decoding failed")
    return np.ascontiguousarray(decoded[..., ::-1])


def _crop(rgb: np.ndarray, reference: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cut 5-15 % off the frame (per axis, split between its two sides at random) where the
    margins around the product allow it, keeping a margin of 2 % of the side (at least 2 px): the
    product stays whole and the backdrop still shows around it."""
    height, width = reference.shape
    ys, xs = np.nonzero(reference > 0)
    if ys.size == 0:
        return rgb, reference
    bounds = []
    for low, high, size in ((int(ys.min()), int(ys.max()), height), (int(xs.min()), int(xs.max()), width)):
        keep = max(2, int(round(0.02 * size)))
        before, after = max(low - keep, 0), max(size - 1 - high - keep, 0)
        wanted = int(round(rng.uniform(0.05, 0.15) * size))
        cut = min(wanted, before + after)
        first = min(before, int(round(cut * rng.uniform(0.0, 1.0))))
        second = min(after, cut - first)
        first = min(before, cut - second)
        bounds.append((first, size - second))
    (top, bottom), (left, right) = bounds
    return rgb[top:bottom, left:right].copy(), reference[top:bottom, left:right].copy()


def perturb(name: str, rgb: np.ndarray, reference: np.ndarray, kind: str) -> Perturbed:
    """The ``kind`` (one of ``PERTURBATIONS``) of perturbed copy of a photo, deterministic per name:
    ``scale`` 1/2 (3/4 for small photos), ``jpeg`` re-encoded at quality 60-85, ``crop`` 5-15 % of
    the frame that keeps the product whole, ``flip`` left-right, ``bright`` a shift of 4-12 levels
    up or down, ``combo`` crop + flip + brightness + JPEG together."""
    rng = np.random.default_rng(_seed(name, kind))
    rgb = np.ascontiguousarray(rgb[..., :3])
    if kind == "scale":
        factor = 0.75 if max(rgb.shape[:2]) < SMALL_PHOTO_SIDE else 0.5
        size = (max(int(round(rgb.shape[1] * factor)), 8), max(int(round(rgb.shape[0] * factor)), 8))
        return Perturbed(f"scale {factor:g}", cv2.resize(rgb, size, interpolation=cv2.INTER_AREA),
                         cv2.resize(reference, size, interpolation=cv2.INTER_AREA))
    if kind == "jpeg":
        quality = int(rng.integers(60, 86))
        return Perturbed(f"jpeg q{quality}", _reencode(rgb, quality), reference)
    if kind == "crop":
        cropped, cut = _crop(rgb, reference, rng)
        return Perturbed(f"crop {cropped.shape[1]}x{cropped.shape[0]}", cropped, cut)
    if kind == "flip":
        return Perturbed("flip", np.ascontiguousarray(rgb[:, ::-1]), np.ascontiguousarray(reference[:, ::-1]))
    if kind == "bright":
        shift = int(rng.integers(4, 13)) * (1 if rng.random() < 0.5 else -1)
        shifted = np.clip(rgb.astype(np.int16) + shift, 0, 255).astype(np.uint8)
        return Perturbed(f"bright {shift:+d}", shifted, reference)
    if kind == "combo":
        cropped, cut = _crop(rgb, reference, rng)
        shift = int(rng.integers(4, 13)) * (1 if rng.random() < 0.5 else -1)
        quality = int(rng.integers(60, 86))
        shifted = np.clip(cropped[:, ::-1].astype(np.int16) + shift, 0, 255).astype(np.uint8)
        return Perturbed(f"combo {shift:+d} q{quality}", _reencode(shifted, quality),
                         np.ascontiguousarray(cut[:, ::-1]))
    raise ValueError(f"unknown perturbation {kind!r}; one of {', '.join(PERTURBATIONS)}")

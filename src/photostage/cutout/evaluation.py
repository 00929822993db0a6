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

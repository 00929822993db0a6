"""Tiling of sparse work: the soft edge of a product is thin, its frame is large.

Matting, foreground estimation and guided refinement only matter near the silhouette, so they run
on the fixed-size cells of the frame that contain part of it, each grown by a margin of context.
"""

from __future__ import annotations

import numpy as np

Cell = tuple[slice, slice]


def cells_with(mask: np.ndarray, tile: int) -> list[Cell]:
    """The ``tile``-sized cells of the frame that contain any ``mask`` pixel, row by row."""
    height, width = mask.shape
    rows = -(-height // tile)
    cols = -(-width // tile)
    padded = np.zeros((rows * tile, cols * tile), bool)
    padded[:height, :width] = mask
    occupied = padded.reshape(rows, tile, cols, tile).any(axis=(1, 3))
    return [(slice(r * tile, min((r + 1) * tile, height)), slice(c * tile, min((c + 1) * tile, width)))
            for r, c in zip(*np.nonzero(occupied), strict=True)]


def grow(cell: Cell, margin: int, shape: tuple[int, ...]) -> Cell:
    """``cell`` widened by ``margin`` pixels of context on every side, clamped to the frame."""
    return (slice(max(cell[0].start - margin, 0), min(cell[0].stop + margin, shape[0])),
            slice(max(cell[1].start - margin, 0), min(cell[1].stop + margin, shape[1])))


def inner(cell: Cell, window: Cell) -> Cell:
    """Where ``cell`` lies inside ``window`` (which contains it), in the window's coordinates."""
    return (slice(cell[0].start - window[0].start, cell[0].stop - window[0].start),
            slice(cell[1].start - window[1].start, cell[1].stop - window[1].start))

"""Product shadows: a density map (how much light the shadow removes) and ways to apply it.

Two camera set-ups are modelled:

* ``front`` — the product stands on a floor and the camera looks at it from the front. A dense,
  soft *contact* shadow hugs the base line, and a *cast* shadow (the silhouette projected onto
  the floor plane, away from the light) spreads behind or in front of it, squashed by floor
  perspective, getting blurrier and fainter with distance from the base.
* ``top`` — flat lay, camera above: a blurred drop shadow offset away from the light plus a
  tight contact occlusion around the silhouette.

``light_angle`` is the direction the light comes *from*, in degrees clockwise from the top of
the image (315 = upper-left key light). In the front view the vertical part of that direction
reads as depth: light from the top half is in front of the product and throws the shadow back
(up the image, toward the horizon); light from the bottom half is behind it and throws the
shadow toward the camera (down the image). The horizontal part throws the shadow sideways.

Everything runs on the product's box plus a margin at reduced resolution (blurs are soft, so
nothing is lost) and is pasted back into a canvas-sized float32 map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import cv2
import numpy as np

Box = tuple[int, int, int, int]
ShadowView = Literal["top", "front"]

_WORK_SIDE = 288  # longest side of the working region; shadows are soft, so this is plenty
_CONTACT_PEAK = 0.92
_CAST_PEAK = 0.78
_DROP_PEAK = 0.7
_UNDER_PEAK = 0.45  # floor under a product between its contacts (a car's underbody)
_CONTACT_REACH = 0.16  # contacts lie within this fraction of the product's height above its lowest row
_SHADE_SIDE = 192  # the lit-floor level is estimated at most at this resolution (it is smooth)
_UNDER_CLEARANCE = 0.3  # a gap this low (in product heights) under the product is occluded


@dataclass(frozen=True)
class _Region:
    """A canvas window (x0, y0, x1, y1) processed at ``scale`` (working px per canvas px)."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float

    @property
    def work_size(self) -> tuple[int, int]:
        return (
            max(2, round((self.x1 - self.x0) * self.scale)),
            max(2, round((self.y1 - self.y0) * self.scale)),
        )


def _region(box: Box, margins: tuple[float, float, float, float], canvas: tuple[int, int]) -> _Region:
    """The box grown by (left, top, right, bottom) margins, clipped, with its working scale."""
    height, width = canvas
    x0 = max(0, int(math.floor(box[0] - margins[0])))
    y0 = max(0, int(math.floor(box[1] - margins[1])))
    x1 = min(width, int(math.ceil(box[2] + margins[2])))
    y1 = min(height, int(math.ceil(box[3] + margins[3])))
    scale = min(1.0, _WORK_SIDE / max(1, x1 - x0, y1 - y0))
    return _Region(x0, y0, x1, y1, scale)


def _work_alpha(alpha: np.ndarray, region: _Region) -> np.ndarray:
    """The region's alpha as float32 in [0, 1] at working resolution."""
    crop = alpha[region.y0 : region.y1, region.x0 : region.x1]
    small = cv2.resize(crop, region.work_size, interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) * np.float32(1.0 / 255.0)


def _paste(small: np.ndarray, region: _Region, canvas: tuple[int, int]) -> np.ndarray:
    """Upsample a working-resolution map into a zero canvas-sized float32 map."""
    out = np.zeros(canvas, np.float32)
    size = (region.x1 - region.x0, region.y1 - region.y0)
    if size[0] <= 0 or size[1] <= 0:
        return out
    upsampled = cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)
    out[region.y0 : region.y1, region.x0 : region.x1] = upsampled
    return out


def _blur(image: np.ndarray, sigma_x: float, sigma_y: float | None = None) -> np.ndarray:
    sigma_y = sigma_x if sigma_y is None else sigma_y
    if sigma_x < 0.3 and sigma_y < 0.3:
        return image
    return cv2.GaussianBlur(
        image, (0, 0), sigmaX=max(sigma_x, 0.3), sigmaY=max(sigma_y, 0.3), borderType=cv2.BORDER_CONSTANT
    )


def _light_vector(light_angle: float) -> tuple[float, float]:
    """The (x, y-down) image direction the shadow is thrown toward: away from the light."""
    radians = math.radians(light_angle)
    return -math.sin(radians), math.cos(radians)


def _cast_projection(light_angle: float, softness: float, length: float = 1.0) -> tuple[float, float]:
    """Shear ``u`` (sideways px per px of height) and depth ``v`` (signed vertical squash).

    ``v > 0`` throws the shadow back (above the base line), ``v < 0`` toward the camera. A soft
    (large) light source leaves a shorter visible cast: its far end dissolves in the penumbra.
    """
    side, depth = _light_vector(light_angle)
    shear = 0.85 * side * (1.0 - 0.4 * softness) * length
    squash = max(0.14, 0.38 * abs(depth)) * length
    return shear, squash if depth >= 0 else -squash


def _front_density(alpha: np.ndarray, box: Box, light_angle: float, softness: float, length: float) -> np.ndarray:
    canvas = alpha.shape
    obj_w, obj_h = box[2] - box[0], box[3] - box[1]
    shear, squash = _cast_projection(light_angle, softness, length)
    far_sigma = (0.015 + 0.17 * softness) * obj_h
    blur_margin = 3.0 * far_sigma + 0.05 * obj_w
    reach_x = abs(shear) * obj_h
    margins = (  # the silhouette the cast is projected from must be inside the region
        blur_margin + (reach_x if shear < 0 else 0.0),
        blur_margin,
        blur_margin + (reach_x if shear > 0 else 0.0),
        blur_margin + max(0.0, -squash) * obj_h + 0.1 * obj_h,
    )
    region = _region(box, margins, canvas)
    work = _work_alpha(alpha, region)
    s = region.scale
    base = (box[3] - region.y0) * s
    height_w = max(1.0, obj_h * s)

    columns, bottoms = contact_columns(work, base, height_w)
    ground = _ground_offsets(columns, bottoms, base, work.shape[1])
    cast = _cast_shadow(work, base, height_w, shear, squash, softness, ground)
    contact = _contact_shadow(work, columns, bottoms, height_w, max(1.0, obj_w * s), softness)
    density = 1.0 - (1.0 - contact) * (1.0 - cast)
    return _paste(density, region, canvas)


def _ground_offsets(columns: np.ndarray, bottoms: np.ndarray, base: float, cols: int) -> np.ndarray | None:
    """Per column, how far above ``base`` the floor under the product lies (the line through the
    contacts, flat beyond them); None when every contact is on the base row."""
    if columns.size == 0:
        return None
    offsets = base - 1.0 - np.interp(np.arange(cols), columns, bottoms.astype(np.float32))
    offsets = np.clip(offsets, 0.0, None).astype(np.float32)
    return offsets if float(offsets.max()) >= 1.0 else None


def _shift_columns(image: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sample each column ``offsets`` rows higher (negative: lower): a per-column vertical shift."""
    rows, cols = image.shape
    map_x = np.broadcast_to(np.arange(cols, dtype=np.float32)[None, :], (rows, cols))
    map_y = np.arange(rows, dtype=np.float32)[:, None] - offsets[None, :]
    return cv2.remap(image, map_x, map_y.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def _cast_shadow(
    work: np.ndarray,
    base: float,
    height: float,
    shear: float,
    squash: float,
    softness: float,
    ground: np.ndarray | None = None,
) -> np.ndarray:
    """The silhouette projected onto the floor, blurred and faded more the farther from the base.

    With contacts at several heights (``ground``: the floor's offset above the base per column),
    each column is first lowered onto the base row, projected, and raised back, so every
    contact casts from where it stands.
    """
    rows, cols = work.shape
    if ground is not None:
        work = _shift_columns(work, -ground)
    matrix = np.array([[1.0, -shear, shear * base], [0.0, squash, base * (1.0 - squash)]], np.float32)
    projected = cv2.warpAffine(
        work, matrix, (cols, rows), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    near_sigma = (0.006 + 0.03 * softness) * height
    far_sigma = (0.015 + 0.17 * softness) * height
    mid_sigma = math.sqrt(near_sigma * far_sigma)
    flatten = max(abs(squash), 0.3)  # penumbrae lie on the floor: foreshortened like the shadow itself
    near = _blur(projected, near_sigma, near_sigma * flatten)
    mid = _blur(projected, mid_sigma, mid_sigma * flatten)
    far = _blur(projected, far_sigma, far_sigma * flatten)
    ys = np.arange(rows, dtype=np.float32)[:, None]
    reach = np.clip(np.abs(base - ys) / (abs(squash) * height), 0.0, 1.0)  # 0 at base, 1 at far tip
    low = np.clip(reach * 2.0, 0.0, 1.0)
    high = np.clip(reach * 2.0 - 1.0, 0.0, 1.0)
    blended = near * (1.0 - low) + mid * (low - high) + far * high
    fade = _CAST_PEAK * (1.0 - 0.5 * reach) * (1.0 - 0.25 * softness)
    cast = (blended * fade).astype(np.float32)
    return cast if ground is None else _shift_columns(cast, ground)


def contact_columns(work: np.ndarray, base: float, height: float) -> tuple[np.ndarray, np.ndarray]:
    """Where the product touches the floor: (columns, rows) of its footprint in ``work``.

    The floor is reached by every *low point* of the silhouette's bottom profile (the lowest
    opaque row of each column) that lies within the bottom ``_CONTACT_REACH`` of the product:
    a column belongs to the footprint when, walking left and right from it, the profile rises
    (or the silhouette ends) before it falls more than a small tolerance. So a car's two
    wheels, a chair's four legs and a box's whole bottom edge are contacts; the sill between
    the wheels (a dip of the profile, not a low point), a mug's handle above the base and a
    hand hanging at a model's side (too far above the floor) are not.
    """
    rows, cols = work.shape
    solid = work > 0.5
    present = np.asarray(solid.any(axis=0))
    if not present.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    bottom = np.where(present, rows - 1 - np.argmax(solid[::-1], axis=0), -1).astype(np.float32)
    tolerance = max(1.0, 0.012 * height)
    near_floor = present & (bottom >= base - 1.0 - _CONTACT_REACH * height)
    # diff[x, x'] = how much lower (toward the camera) column x' reaches than column x.
    diff = bottom[None, :] - bottom[:, None]
    falls = diff > tolerance  # x' is clearly lower than x: x is not a low point on that side
    rises = (diff < -tolerance) | ~present[None, :]
    index = np.arange(cols)
    left = index[None, :] < index[:, None]
    right = index[None, :] > index[:, None]

    def nearest(mask: np.ndarray, side: np.ndarray, towards_left: bool) -> np.ndarray:
        hits = mask & side
        if towards_left:
            found = np.where(hits, index[None, :], -1).max(axis=1)
            return np.where(found >= 0, index - found, cols + 1)
        found = np.where(hits, index[None, :], cols * 2).min(axis=1)
        return np.where(found < cols * 2, found - index, cols + 1)

    low_left = nearest(rises, left, True) < nearest(falls, left, True)
    low_right = nearest(rises, right, False) < nearest(falls, right, False)
    # Running off the silhouette's edge counts as rising: a flat base is a low point.
    low_left |= nearest(falls, left, True) > cols
    low_right |= nearest(falls, right, False) > cols
    chosen = np.flatnonzero(near_floor & low_left & low_right)
    return chosen, bottom[chosen].astype(np.int64)


def _contact_shadow(
    work: np.ndarray, columns: np.ndarray, bottoms: np.ndarray, height: float, width: float, softness: float
) -> np.ndarray:
    """Dense, short occlusion under every part of the footprint (see :func:`contact_columns`),
    and a lighter occlusion of the floor under the product between its contacts (under a car's
    body, a chair's seat)."""
    rows, cols = work.shape
    if columns.size == 0:
        return np.zeros_like(work)
    occluder = np.zeros_like(work)
    thickness = max(1, round(0.018 * height))
    for column, bottom in zip(columns.tolist(), bottoms.tolist(), strict=True):
        occluder[max(0, bottom - thickness) : min(rows, bottom + thickness), column] = 1.0
    tight = _blur(occluder, (0.01 + 0.02 * softness) * width + 0.5, (0.004 + 0.01 * softness) * height + 0.5)
    wide = _blur(occluder, (0.05 + 0.1 * softness) * width + 1.0, (0.015 + 0.03 * softness) * height + 1.0)
    tight *= 1.0 / max(float(tight.max()), 1e-6)
    wide *= 1.0 / max(float(wide.max()), 1e-6)
    contact = _CONTACT_PEAK * (0.7 * tight + 0.45 * wide)
    under = _under_occlusion(work, columns, bottoms, height)
    if under is not None:
        sigma = (0.02 + 0.05 * softness) * height + 1.0
        contact += _UNDER_PEAK * _blur(under, sigma, sigma * 0.5)
    return np.clip(contact, 0.0, _CONTACT_PEAK).astype(np.float32)


def _under_occlusion(work: np.ndarray, columns: np.ndarray, bottoms: np.ndarray, height: float) -> np.ndarray | None:
    """The floor hidden under the product between its contacts: from the silhouette's bottom down
    to the floor line through the contacts, where that gap is low (a car's underbody)."""
    if columns.size < 2 or columns[-1] - columns[0] < 2:
        return None
    rows, _ = work.shape
    solid = work > 0.5
    span = np.arange(int(columns[0]), int(columns[-1]) + 1)
    floor = np.interp(span, columns, bottoms)
    present = solid[:, span].any(axis=0)
    bottom = np.where(present, rows - 1 - np.argmax(solid[::-1, span], axis=0), floor)
    gap = floor - bottom
    mask = np.zeros_like(work)
    low = (gap > 0) & (gap <= _UNDER_CLEARANCE * height)
    for column, top, ground in zip(span[low].tolist(), bottom[low].tolist(), floor[low].tolist(), strict=True):
        mask[int(top) : min(rows, int(round(ground)) + 1), column] = 1.0
    return mask if mask.any() else None


def _top_density(alpha: np.ndarray, box: Box, light_angle: float, softness: float, length: float) -> np.ndarray:
    canvas = alpha.shape
    size = max(box[2] - box[0], box[3] - box[1])
    side, down = _light_vector(light_angle)
    offset = (0.025 + 0.05 * softness) * size * length
    sigma = (0.006 + 0.06 * softness) * size
    reach = offset + 3.0 * sigma + 2.0
    margins = (
        reach if side < 0 else 3.0 * sigma + 2.0,
        reach if down < 0 else 3.0 * sigma + 2.0,
        reach if side > 0 else 3.0 * sigma + 2.0,
        reach if down > 0 else 3.0 * sigma + 2.0,
    )
    region = _region(box, margins, canvas)
    work = _work_alpha(alpha, region)
    s = region.scale
    shift = np.array([[1.0, 0.0, side * offset * s], [0.0, 1.0, down * offset * s]], np.float32)
    cols, rows = work.shape[1], work.shape[0]
    dropped = cv2.warpAffine(
        work, shift, (cols, rows), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    drop = _blur(dropped, sigma * s) * (_DROP_PEAK * (1.0 - 0.3 * softness))
    occlusion = _blur(work, (0.004 + 0.008 * softness) * size * s + 0.6) * 0.55
    density = 1.0 - (1.0 - drop) * (1.0 - occlusion)
    return _paste(density.astype(np.float32), region, canvas)


def shadow_density(
    alpha: np.ndarray,
    box: Box,
    view: ShadowView,
    light_angle: float,
    opacity: float,
    softness: float,
    length: float = 1.0,
) -> np.ndarray:
    """How much light the product's shadow removes at each canvas pixel: float32 (H, W) in [0, 1].

    ``alpha`` is the canvas-sized product alpha (uint8), ``box`` the (x0, y0, x1, y1) of
    alpha > 0. ``softness`` 0 is crisp, 1 very diffuse; ``opacity`` scales the whole density.
    ``length`` scales how far the cast shadow reaches (a lower light casts longer: 0.5–2).
    """
    length = float(np.clip(length, 0.3, 2.5))
    if alpha.ndim != 2:
        raise ValueError("alpha must be a 2-D (H, W) array")
    canvas = alpha.shape
    x0, y0, x1, y1 = (int(value) for value in box)
    if x1 <= x0 or y1 <= y0 or opacity <= 0:
        return np.zeros(canvas, np.float32)
    softness = float(np.clip(softness, 0.0, 1.0))
    clipped = (max(0, x0), max(0, y0), min(canvas[1], x1), min(canvas[0], y1))
    if view == "front":
        density = _front_density(alpha, clipped, light_angle, softness, length)
    elif view == "top":
        density = _top_density(alpha, clipped, light_angle, softness, length)
    else:
        raise ValueError(f"view must be 'top' or 'front', not {view!r}")
    density *= np.float32(min(1.0, float(opacity)))
    return np.clip(density, 0.0, 1.0, out=density)


def _active_window(density: np.ndarray, threshold: float = 1.0 / 512.0) -> tuple[slice, slice] | None:
    """Rows and columns spanning every pixel the density visibly darkens (None if none)."""
    mask = density > threshold
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


_DITHER_SIDE = 64


@lru_cache(maxsize=1)
def _dither_tile() -> np.ndarray:
    """A fixed 64×64 tile of triangular-distributed offsets in (-1, 1), mean 0 (TPDF dither).

    Rounding a smooth 8-bit gradient after adding it turns visible bands into fine, even grain;
    the tile is fixed, so the same density gives the same bytes.
    """
    rng = np.random.default_rng(0x5EED)
    return (rng.random((_DITHER_SIDE, _DITHER_SIDE), np.float32) - rng.random((_DITHER_SIDE, _DITHER_SIDE), np.float32))


def dither(rows: slice, cols: slice) -> np.ndarray:
    """The dither offsets for a canvas window (rows, cols): (h, w) float32, tiled from the canvas origin."""
    tile = _dither_tile()
    row_index = np.arange(rows.start, rows.stop) % _DITHER_SIDE
    col_index = np.arange(cols.start, cols.stop) % _DITHER_SIDE
    return tile[row_index[:, None], col_index[None, :]]


def apply_shadow(background: np.ndarray, density: np.ndarray, tint: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """Darken ``background`` (H, W, 3|4 uint8) toward ``tint`` by ``density``; alpha is untouched.

    The result is dithered before rounding, so a soft shadow on a flat colour has no 8-bit bands.
    """
    out = background.copy()
    window = _active_window(density)
    if window is None:
        return out
    rows, cols = window
    colour = out[rows, cols, :3].astype(np.float32)
    weight = density[rows, cols, None]
    shaded = colour + (np.asarray(tint, np.float32) - colour) * weight
    noise = (dither(rows, cols) * np.minimum(weight[..., 0] * 64.0, 1.0))[..., None]  # none where there is no shadow
    out[rows, cols, :3] = np.clip(shaded + noise + 0.5, 0, 255).astype(np.uint8)
    return out


def shadow_alpha_layer(density: np.ndarray, tint: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """An (H, W, 4) uint8 RGBA layer of the shadow alone, for transparent backgrounds (alpha dithered)."""
    height, width = density.shape
    out = np.zeros((height, width, 4), np.uint8)
    out[..., :3] = np.asarray(tint, np.uint8)
    window = _active_window(density)
    if window is not None:
        rows, cols = window
        weight = density[rows, cols]
        noise = dither(rows, cols) * np.minimum(weight * 64.0, 1.0)
        out[rows, cols, 3] = np.clip(weight * 255.0 + noise + 0.5, 0, 255).astype(np.uint8)
    return out


def shadow_over_translucent(background: np.ndarray, density: np.ndarray) -> np.ndarray:
    """The black shadow (alpha = ``density``) composited over a partly transparent solid colour
    (Porter-Duff *over*), so a #rrggbbaa backdrop keeps its opacity and the shadow shows on it."""
    base_alpha = background[..., 3:4].astype(np.float32) / 255
    shadow_alpha = density[..., None].astype(np.float32)
    out_alpha = shadow_alpha + base_alpha * (1 - shadow_alpha)
    colour = background[..., :3].astype(np.float32) * base_alpha * (1 - shadow_alpha)
    rgb = np.divide(colour, out_alpha, out=np.zeros_like(colour), where=out_alpha > 0)
    out = np.empty_like(background)
    out[..., :3] = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    out[..., 3] = np.clip(out_alpha[..., 0] * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def existing_shade(rgb: np.ndarray, window: tuple[slice, slice], reach: float) -> np.ndarray:
    """How much darker each pixel of ``window`` is than the lit floor around it, 0–1.

    The lit level is the brightest luma within ``reach`` pixels (a grey dilation, smoothed), so a
    shadow the model painted itself reads as darkening even at its centre; dark texture counts
    too, which only means less extra shadow on already dark spots.
    """
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    rows, cols = window
    pad = int(math.ceil(reach)) + 1
    y0, y1 = max(0, rows.start - pad), min(luma.shape[0], rows.stop + pad)
    x0, x1 = max(0, cols.start - pad), min(luma.shape[1], cols.stop + pad)
    region = luma[y0:y1, x0:x1]
    scale = min(1.0, _SHADE_SIDE / max(region.shape))
    small_size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
    small = cv2.resize(region, small_size, interpolation=cv2.INTER_AREA)
    radius = max(1, round(reach * scale))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    lit = cv2.GaussianBlur(cv2.dilate(small, kernel).astype(np.float32), (0, 0), max(0.5, radius / 2))
    lit = cv2.resize(lit, (region.shape[1], region.shape[0]), interpolation=cv2.INTER_LINEAR)
    inner = (slice(rows.start - y0, rows.stop - y0), slice(cols.start - x0, cols.stop - x0))
    shade = 1.0 - region[inner].astype(np.float32) / np.maximum(lit[inner], 1.0)
    return np.clip(shade, 0.0, 0.95)


def top_up_density(density: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """The shadow still to add so each pixel is at least as dark as ``density`` asks.

    Where the model already darkened the floor by ``e``, only the remainder
    ``(max(d, e) - e) / (1 - e)`` is applied: its shadows are kept, missing ones are added.
    """
    active = density > 1.0 / 512.0
    if not active.any():
        return density
    rows_any, cols_any = np.nonzero(active.any(axis=1))[0], np.nonzero(active.any(axis=0))[0]
    window = (slice(int(rows_any[0]), int(rows_any[-1]) + 1), slice(int(cols_any[0]), int(cols_any[-1]) + 1))
    extent = min(int(rows_any[-1] - rows_any[0]) + 1, int(cols_any[-1] - cols_any[0]) + 1)
    reach = max(6.0, 0.75 * extent, 0.03 * max(rgb.shape[:2]))
    existing = existing_shade(rgb, window, reach)
    wanted = density[window]
    out = np.zeros_like(density)
    out[window] = (np.maximum(wanted, existing) - existing) / (1.0 - existing)
    return out

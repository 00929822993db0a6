"""Canvas sizes and object placement, as pure arithmetic over boxes.

Decisions (DESIGN.md): position is the centre of the object box with x=0 left, y=0 top; scale is
the fraction of the canvas the object's box may fill along its limiting side; rotation is
clockwise about the object's centre; `original` keeps the object's box relative to its input
frame; `padding` keeps CSS-like margins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Target pixel areas per preference; 1:1 at optimal is exactly 1024×1024.
PREFERENCE_AREA = {"fast": 512 * 1024, "optimal": 1024 * 1024, "best": 2 * 1024 * 1024}


def canvas_size(aspect_ratio: str, preference: str = "optimal") -> tuple[int, int]:
    """(width, height) for an aspect ratio like ``"16:9"``: the preference's area, sides divisible by 8."""
    ratio_w, ratio_h = (int(part) for part in aspect_ratio.split(":"))
    area = PREFERENCE_AREA[preference]
    width = math.sqrt(area * ratio_w / ratio_h)
    height = width * ratio_h / ratio_w
    return _multiple_of_8(width), _multiple_of_8(height)


def _multiple_of_8(value: float) -> int:
    return max(8, int(round(value / 8.0)) * 8)


@dataclass(frozen=True)
class Box:
    """A rectangle in float pixel coordinates: left, top, width, height."""

    left: float
    top: float
    width: float
    height: float

    @property
    def center(self) -> tuple[float, float]:
        return self.left + self.width / 2, self.top + self.height / 2


def absolute_box(
    object_size: tuple[float, float],
    canvas: tuple[int, int],
    scale: float,
    position: tuple[float, float],
) -> Box:
    """Box of an object (its size already rotated) scaled to fill ``scale`` of the canvas on its
    limiting side and centred at ``position`` (fractions of the canvas, 0,0 = top-left)."""
    object_w, object_h = object_size
    canvas_w, canvas_h = canvas
    factor = scale * min(canvas_w / object_w, canvas_h / object_h)
    width, height = object_w * factor, object_h * factor
    center_x, center_y = position[0] * canvas_w, position[1] * canvas_h
    return Box(center_x - width / 2, center_y - height / 2, width, height)


def original_box(
    object_box: tuple[int, int, int, int], frame: tuple[int, int], canvas: tuple[int, int]
) -> Box:
    """The object keeps its box relative to its input frame: the frame is fitted into the canvas
    (uniform scale, the object's aspect kept) and the object's centre keeps its relative place."""
    x0, y0, x1, y1 = object_box
    frame_w, frame_h = frame
    canvas_w, canvas_h = canvas
    factor = min(canvas_w / frame_w, canvas_h / frame_h)
    width, height = (x1 - x0) * factor, (y1 - y0) * factor
    center_x = (x0 + x1) / 2 / frame_w * canvas_w
    center_y = (y0 + y1) / 2 / frame_h * canvas_h
    return Box(center_x - width / 2, center_y - height / 2, width, height)


MIN_ROOM = 0.01  # the smallest share of a side an object may fill (the contract's smallest scale)


def padding_box(
    object_size: tuple[float, float], canvas: tuple[int, int], margins: tuple[float, float, float, float]
) -> Box:
    """The object fitted inside the canvas less ``margins`` (top, right, bottom, left, fractions of
    the canvas height or width), centred in that room. Margins that leave less than ``MIN_ROOM``
    of a side (``"50%"`` all round, say) leave ``MIN_ROOM``, centred where the margins meet."""
    object_w, object_h = object_size
    canvas_w, canvas_h = canvas
    top, right, bottom, left = margins
    room_w, room_h = 1 - left - right, 1 - top - bottom
    centre_x = canvas_w * (left + room_w / 2) if room_w >= MIN_ROOM else canvas_w * (left + (1 - right)) / 2
    centre_y = canvas_h * (top + room_h / 2) if room_h >= MIN_ROOM else canvas_h * (top + (1 - bottom)) / 2
    inner_w = canvas_w * max(room_w, MIN_ROOM)
    inner_h = canvas_h * max(room_h, MIN_ROOM)
    factor = min(inner_w / object_w, inner_h / object_h)
    width, height = object_w * factor, object_h * factor
    return Box(centre_x - width / 2, centre_y - height / 2, width, height)

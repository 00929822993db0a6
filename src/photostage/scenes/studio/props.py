"""Props: the things a prompt names around the product — a podium under it, plants, gift boxes,
ornaments, fir branches, autumn leaves, flowers, pumpkins, eggs, rose petals.

Props are drawn procedurally at work resolution into the lit scene, before depth of field (so
the ones behind the product go soft with the wall), each with its own shading from the key
light and a contact shadow where it rests. They are placed beside the product, never across
its box (the product is composited on top and must stay fully visible and believable: nothing
that should stand in front of it is hidden behind it). The podium is the exception: it stands
*under* the product, its top face level with the product's base.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from photostage.scenes.studio import colours
from photostage.scenes.studio.colours import RGB
from photostage.scenes.studio.lighting import light_direction

_SHIFT = 2  # sub-pixel precision of OpenCV drawing (coordinates × 4)
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class Stage:
    """Where props can go, in work pixels."""

    height: int
    width: int
    view: str  # "front" | "top"
    box: tuple[float, float, float, float]  # the product's box (x0, y0, x1, y1)
    junction: float | None  # wall/floor line (front view)
    light_angle: float
    accents: tuple[RGB, RGB]
    surface_colour: RGB

    @property
    def product_w(self) -> float:
        return max(4.0, self.box[2] - self.box[0])

    @property
    def product_h(self) -> float:
        return max(4.0, self.box[3] - self.box[1])

    @property
    def base(self) -> float:
        return self.box[3]

    @property
    def light_x(self) -> float:
        return light_direction(self.light_angle)[0]


def _pt(x: float, y: float) -> tuple[int, int]:
    return round(x * _ONE), round(y * _ONE)


def _rgb(colour: RGB) -> np.ndarray:
    return np.asarray(colour, np.float32) / np.float32(255.0)


class _Canvas:
    """Paints shaded shapes into a float RGB image in place, with antialiased masks."""

    def __init__(self, image: np.ndarray, stage: Stage) -> None:
        self.image = image
        self.stage = stage
        self.shadow = np.zeros(image.shape[:2], np.float32)

    def _region(self, x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int] | None:
        height, width = self.image.shape[:2]
        left, top = max(0, int(x0) - 2), max(0, int(y0) - 2)
        right, bottom = min(width, int(math.ceil(x1)) + 3), min(height, int(math.ceil(y1)) + 3)
        return (left, top, right, bottom) if right > left and bottom > top else None

    def paint(self, mask: np.ndarray, colour: np.ndarray, region: tuple[int, int, int, int]) -> None:
        """Blend ``colour`` ((h, w, 3) or (3,)) over the region by ``mask`` (h, w)."""
        left, top, right, bottom = region
        target = self.image[top:bottom, left:right]
        target += (colour - target) * mask[..., None]

    def mask(self, region: tuple[int, int, int, int]) -> np.ndarray:
        return np.zeros((region[3] - region[1], region[2] - region[0]), np.float32)

    def ellipse(
        self, cx: float, cy: float, rx: float, ry: float, angle: float, colour: RGB, shade: float = 0.35
    ) -> None:
        """A filled ellipse shaded like a rounded body lit from the key light's side."""
        extent = max(rx, ry) + 1
        region = self._region(cx - extent, cy - extent, cx + extent, cy + extent)
        if region is None or rx < 0.5 or ry < 0.5:
            return
        mask = self.mask(region)
        centre = _pt(cx - region[0], cy - region[1])
        cv2.ellipse(mask, centre, _pt(rx, ry), angle, 0, 360, 1.0, -1, cv2.LINE_AA, _SHIFT)
        if max(rx, ry) < 12:  # small (a leaf, a petal): one tone, lit by its side of the light
            tone = 1.0 + shade * 0.25 * self.stage.light_x * np.sign(math.cos(math.radians(angle)) or 1.0)
            self.paint(mask, _rgb(colour) * np.float32(0.9 * tone), region)
            return
        xs = (np.arange(region[0], region[2], dtype=np.float32) - cx) / max(rx, 1.0)
        ys = (np.arange(region[1], region[3], dtype=np.float32) - cy) / max(ry, 1.0)
        light = 1.0 + shade * (xs[None, :] * self.stage.light_x - ys[:, None] * 0.5) * 0.6
        edge = np.clip(1.0 - (xs[None, :] ** 2 + ys[:, None] ** 2), 0.0, 1.0) ** 0.35
        tone = light * (0.72 + 0.28 * edge)
        self.paint(mask, _rgb(colour)[None, None, :] * tone[..., None], region)

    def polygon(self, points: list[tuple[float, float]], colour: RGB, tone: float = 1.0) -> None:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        region = self._region(min(xs), min(ys), max(xs), max(ys))
        if region is None:
            return
        mask = self.mask(region)
        shifted = np.asarray([_pt(x - region[0], y - region[1]) for x, y in points], np.int32)
        cv2.fillPoly(mask, [shifted], 1.0, cv2.LINE_AA, _SHIFT)
        self.paint(mask, _rgb(colour) * np.float32(tone), region)

    def line(self, points: list[tuple[float, float]], colour: RGB, thickness: float) -> None:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        pad = thickness + 2
        region = self._region(min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad)
        if region is None:
            return
        mask = self.mask(region)
        shifted = np.asarray([_pt(x - region[0], y - region[1]) for x, y in points], np.int32)
        cv2.polylines(mask, [shifted], False, 1.0, max(1, round(thickness)), cv2.LINE_AA, _SHIFT)
        self.paint(mask, _rgb(colour), region)

    def sphere(self, cx: float, cy: float, radius: float, colour: RGB, gloss: float = 0.6) -> None:
        """A glossy ball: diffuse shading, a specular glint toward the light, a darker rim."""
        region = self._region(cx - radius, cy - radius, cx + radius, cy + radius)
        if region is None or radius < 1:
            return
        mask = self.mask(region)
        cv2.circle(mask, _pt(cx - region[0], cy - region[1]), round(radius * _ONE), 1.0, -1, cv2.LINE_AA, _SHIFT)
        xs = (np.arange(region[0], region[2], dtype=np.float32) - cx)[None, :] / radius
        ys = (np.arange(region[1], region[3], dtype=np.float32) - cy)[:, None] / radius
        nz = np.sqrt(np.clip(1.0 - xs * xs - ys * ys, 0.0, 1.0))
        lx, ly = self.stage.light_x * 0.6, -0.55
        lz = math.sqrt(max(0.0, 1.0 - lx * lx - ly * ly))
        diffuse = np.clip(xs * lx + ys * ly + nz * lz, 0.0, 1.0)
        glint = np.clip(1.0 - np.hypot(xs - lx * 0.55, ys - ly * 0.55) / 0.22, 0.0, 1.0) ** 2 * gloss
        colour_f = _rgb(colour)[None, None, :] * (0.25 + 0.8 * diffuse)[..., None] + glint[..., None] * 0.9
        self.paint(mask, colour_f, region)

    def contact(self, cx: float, cy: float, rx: float, ry: float, strength: float = 0.5) -> None:
        """A soft contact shadow where a prop rests (call it before painting the prop)."""
        extent_x, extent_y = rx * 1.6 + 2, ry * 2.2 + 2
        region = self._region(cx - extent_x, cy - extent_y, cx + extent_x, cy + extent_y)
        if region is None:
            return
        mask = self.mask(region)
        centre, axes = _pt(cx - region[0], cy - region[1]), _pt(rx, max(ry, 0.5))
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1, cv2.LINE_AA, _SHIFT)
        mask = cv2.GaussianBlur(mask, (0, 0), max(0.8, ry * 0.6)) * np.float32(strength)
        left, top, right, bottom = region
        self.image[top:bottom, left:right] *= (1.0 - mask)[..., None]


# --- the props ------------------------------------------------------------------------------------


def _podium(canvas: _Canvas, stage: Stage, rng: np.random.Generator) -> None:
    """A cylinder plinth whose top face carries the product's base."""
    half = max(stage.product_w * float(rng.uniform(0.75, 0.95)), stage.product_h * 0.3)
    tilt = 0.16 if stage.view == "front" else 1.0
    cx = (stage.box[0] + stage.box[2]) / 2
    if stage.view == "top":
        radius = max(stage.product_w, stage.product_h) * 0.62
        canvas.contact(cx + radius * 0.06, (stage.box[1] + stage.box[3]) / 2 + radius * 0.08, radius, radius, 0.45)
        colour = colours.lighten(stage.surface_colour, 0.12)
        canvas.ellipse(cx, (stage.box[1] + stage.box[3]) / 2, radius, radius, 0, colour, shade=0.15)
        return
    top_y = stage.base - half * tilt * 0.35
    body_h = min(stage.product_h * float(rng.uniform(0.45, 0.7)), stage.height * 1.2)
    colour = colours.lighten(stage.surface_colour, 0.08)
    # body: a rectangle between the two ellipses, shaded like a cylinder across its width
    bottom_y = top_y + body_h
    left, right = cx - half, cx + half
    region = canvas._region(left, top_y, right, bottom_y + half * tilt)
    if region is None:
        return
    canvas.contact(cx, bottom_y, half * 1.1, half * tilt * 1.2, 0.55)
    mask = canvas.mask(region)
    cv2.rectangle(
        mask,
        _pt(left - region[0], top_y - region[1]),
        _pt(right - region[0], bottom_y - region[1]),
        1.0,
        -1,
        cv2.LINE_AA,
        _SHIFT,
    )
    cv2.ellipse(
        mask, _pt(cx - region[0], bottom_y - region[1]), _pt(half, half * tilt), 0, 0, 180, 1.0, -1, cv2.LINE_AA, _SHIFT
    )
    across = (np.arange(region[0], region[2], dtype=np.float32) - cx) / half
    across = np.clip(across, -1.0, 1.0)
    normal_z = np.sqrt(1.0 - across**2)
    tone = 0.58 + 0.3 * normal_z + 0.16 * across * stage.light_x
    body = _rgb(colour)[None, None, :] * tone[None, :, None]
    canvas.paint(mask, np.broadcast_to(body, (*mask.shape, 3)).copy(), region)
    canvas.ellipse(cx, top_y, half, half * tilt, 0, colours.lighten(colour, 0.06), shade=0.08)


def _side_slots(stage: Stage, rng: np.random.Generator, count: int, size: float) -> list[tuple[float, int]]:
    """x centres beside the product (alternating sides, the first away from the light) and a side sign."""
    first = -1 if stage.light_x > 0 else 1
    slots = []
    for index in range(count):
        side = first if index % 2 == 0 else -first
        gap = stage.product_w * float(rng.uniform(0.12, 0.3)) + size * (0.5 + 0.9 * (index // 2))
        x = stage.box[2] + gap if side > 0 else stage.box[0] - gap
        slots.append((x, side))
    return slots


def _floor_row(stage: Stage, depth: float) -> float:
    """A floor row ``depth`` (0 = the product's base, 1 = the wall line) behind the product."""
    if stage.junction is None:
        return stage.base
    return stage.base - depth * max(stage.base - stage.junction, 1.0)


def _plant(canvas: _Canvas, stage: Stage, rng: np.random.Generator, x: float, floor: float, scale: float) -> None:
    """A potted plant: a pot on the floor and arching stems of leaves."""
    height = stage.product_h * float(rng.uniform(0.95, 1.35)) * scale
    pot_w, pot_h = height * 0.22, height * 0.2
    pot_colour = ((200, 112, 80), (232, 228, 220), (70, 70, 72))[int(rng.integers(3))]
    canvas.contact(x, floor, pot_w * 0.7, pot_w * 0.12, 0.55)
    greens = ((58, 110, 56), (82, 132, 64), (46, 92, 60), (104, 146, 78))
    top = floor - pot_h
    for _ in range(int(rng.integers(5, 8))):
        heading = float(rng.uniform(-1.1, 1.1)) - math.pi / 2
        length = height * float(rng.uniform(0.55, 0.85))
        points = []
        px, py = x + float(rng.uniform(-0.3, 0.3)) * pot_w, top
        for _ in range(7):
            heading += float(rng.uniform(-0.12, 0.12)) + 0.05 * math.copysign(1, math.cos(heading))
            px += math.cos(heading) * length / 7
            py += math.sin(heading) * length / 7
            points.append((px, py))
        canvas.line([(x, top), *points], (64, 92, 50), max(1.0, height * 0.012))
        for index, (lx, ly) in enumerate(points[1:], start=1):
            for side in (-1, 1):
                leaf = height * float(rng.uniform(0.07, 0.12)) * (1.1 - index / 10)
                angle = math.degrees(heading) + side * float(rng.uniform(35, 70))
                ox = math.cos(math.radians(angle)) * leaf * 0.8
                oy = math.sin(math.radians(angle)) * leaf * 0.8
                colour = greens[int(rng.integers(len(greens)))]
                canvas.ellipse(lx + ox, ly + oy, leaf, leaf * 0.38, angle, colour, shade=0.45)
    canvas.polygon(
        [(x - pot_w / 2, top), (x + pot_w / 2, top), (x + pot_w * 0.38, floor), (x - pot_w * 0.38, floor)],
        pot_colour,
        0.95,
    )
    canvas.ellipse(x, top, pot_w / 2, pot_w * 0.08, 0, colours.lighten(pot_colour, -0.25), shade=0.1)


def _gift(
    canvas: _Canvas,
    stage: Stage,
    rng: np.random.Generator,
    x: float,
    floor: float,
    scale: float,
    colour: RGB,
    ribbon: RGB,
) -> None:
    """A wrapped box in three-quarter view with a ribbon cross and a bow."""
    size = stage.product_h * float(rng.uniform(0.35, 0.55)) * scale
    w, h, d = size * float(rng.uniform(0.9, 1.3)), size * float(rng.uniform(0.7, 1.0)), size * 0.35
    x0, y1 = x - w / 2, floor
    canvas.contact(x + d * 0.3, floor, w * 0.65, d * 0.35, 0.6)
    front = [(x0, y1 - h), (x0 + w, y1 - h), (x0 + w, y1), (x0, y1)]
    side = [(x0 + w, y1 - h), (x0 + w + d, y1 - h - d * 0.5), (x0 + w + d, y1 - d * 0.5), (x0 + w, y1)]
    top = [(x0, y1 - h), (x0 + d, y1 - h - d * 0.5), (x0 + w + d, y1 - h - d * 0.5), (x0 + w, y1 - h)]
    lit_side = stage.light_x > 0
    canvas.polygon(front, colour, 0.92 if lit_side else 0.8)
    canvas.polygon(side, colour, 0.95 if lit_side else 0.62)
    canvas.polygon(top, colour, 1.12)
    band = max(1.0, w * 0.07)
    canvas.polygon([(x - band, y1 - h), (x + band, y1 - h), (x + band, y1), (x - band, y1)], ribbon, 0.95)
    canvas.polygon(
        [
            (x - band + d * 0.5, y1 - h - d * 0.25 - band * 0.3),
            (x + band + d * 0.5, y1 - h - d * 0.25 - band * 0.3),
            (x + band, y1 - h),
            (x - band, y1 - h),
        ],
        ribbon,
        1.1,
    )
    bow_x, bow_y = x + d * 0.5, y1 - h - d * 0.3
    canvas.ellipse(bow_x - band * 1.6, bow_y - band, band * 1.8, band * 1.1, -25, ribbon, 0.3)
    canvas.ellipse(bow_x + band * 1.6, bow_y - band, band * 1.8, band * 1.1, 25, ribbon, 0.3)


def _pine(canvas: _Canvas, stage: Stage, rng: np.random.Generator) -> None:
    """A fir branch reaching into the frame from a top corner, dense with needles."""
    side = 1 if rng.random() < 0.5 else -1
    start_x = stage.width * (1.02 if side > 0 else -0.02)
    start_y = stage.height * float(rng.uniform(0.02, 0.2))
    length = stage.width * float(rng.uniform(0.32, 0.45))
    heading = math.pi if side > 0 else 0.0
    heading += float(rng.uniform(0.15, 0.45)) * (-side)
    points = []
    px, py = start_x, start_y
    for _ in range(16):
        heading += float(rng.uniform(-0.05, 0.05))
        px += math.cos(heading) * length / 16
        py += math.sin(heading) * length / 16
        points.append((px, py))
    needle = length * 0.075
    greens = ((30, 70, 44), (40, 86, 52), (24, 58, 38))
    for index, (bx, by) in enumerate(points):
        for _ in range(7):
            angle = heading + float(rng.choice([-1, 1])) * float(rng.uniform(0.6, 1.3))
            reach = needle * float(rng.uniform(0.6, 1.0)) * (1.0 - index / 24)
            canvas.line(
                [(bx, by), (bx + math.cos(angle) * reach, by + math.sin(angle) * reach)],
                greens[int(rng.integers(3))],
                max(1.0, needle * 0.09),
            )
    canvas.line([(start_x, start_y), *points], (70, 50, 36), max(1.0, needle * 0.15))


def _scatter(canvas: _Canvas, stage: Stage, rng: np.random.Generator, kind: str, palette: list[RGB]) -> None:
    """Small things lying on the floor beside the product (leaves, petals, eggs, ornaments)."""
    count = {"leaves": 9, "leaves_green": 10, "petals": 14, "eggs": 4, "ornaments": 4, "pumpkins": 2}.get(kind, 6)
    for index in range(count):
        side = -1 if index % 2 == 0 else 1
        if stage.view == "front":
            depth = float(rng.uniform(-0.25, 0.45))
            y = _floor_row(stage, depth) if depth >= 0 else stage.base + (-depth) * (stage.height - stage.base)
            spread = stage.product_w * float(rng.uniform(0.2, 1.3))
            x = (stage.box[0] - spread) if side < 0 else (stage.box[2] + spread)
            scale = 1.0 - 0.35 * max(depth, 0.0) + 0.3 * max(-depth, 0.0)
        else:
            angle = float(rng.uniform(0, 2 * math.pi))
            radius = max(stage.product_w, stage.product_h) * float(rng.uniform(0.65, 1.1))
            x = (stage.box[0] + stage.box[2]) / 2 + math.cos(angle) * radius
            y = (stage.box[1] + stage.box[3]) / 2 + math.sin(angle) * radius
            scale = 1.0
        flat = 0.45 if stage.view == "front" else 1.0
        colour = palette[int(rng.integers(len(palette)))]
        unit = stage.product_h * 0.07 * scale
        if kind in ("leaves", "leaves_green"):
            angle = float(rng.uniform(0, 180))
            canvas.contact(x, y, unit * 1.1, unit * 0.4 * flat, 0.3)
            canvas.ellipse(x, y, unit * 1.3, unit * 0.65 * flat, angle * flat, colour, 0.3)
        elif kind == "petals":
            canvas.ellipse(x, y, unit * 0.55, unit * 0.35 * flat, float(rng.uniform(0, 180)), colour, 0.3)
        elif kind == "eggs":
            canvas.contact(x, y, unit * 0.9, unit * 0.3, 0.45)
            canvas.ellipse(
                x, y - unit * 1.1 * flat, unit * 0.85, unit * 1.15 * (0.85 if flat < 1 else 0.8), 0, colour, 0.5
            )
        elif kind == "ornaments":
            radius = unit * float(rng.uniform(0.9, 1.5))
            canvas.contact(x, y, radius * 0.9, radius * 0.3 * flat, 0.55)
            canvas.sphere(x, y - radius * (0.9 if flat < 1 else 0.0), radius, colour)
        elif kind == "pumpkins":
            radius = unit * float(rng.uniform(2.2, 3.0))
            canvas.contact(x, y, radius * 1.1, radius * 0.3, 0.55)
            cy = y - radius * 0.7 * (1.0 if flat < 1 else 0.0)
            for offset in (-0.5, 0.5, 0.0):
                canvas.ellipse(x + offset * radius, cy, radius * 0.62, radius * 0.72, 0, colour, 0.55)
            canvas.line([(x, cy - radius * 0.65), (x + radius * 0.1, cy - radius * 0.95)], (86, 96, 46), radius * 0.12)
        elif kind == "flowers":
            radius = unit * float(rng.uniform(0.9, 1.3))
            for petal in range(6):
                angle = petal * math.pi / 3
                canvas.ellipse(
                    x + math.cos(angle) * radius * 0.6,
                    y + math.sin(angle) * radius * 0.6 * flat,
                    radius * 0.55,
                    radius * 0.35 * flat,
                    math.degrees(angle),
                    colour,
                    0.25,
                )
            canvas.ellipse(x, y, radius * 0.3, radius * 0.3 * flat, 0, (236, 196, 80), 0.2)


def _flowers(
    canvas: _Canvas, stage: Stage, rng: np.random.Generator, x: float, floor: float, scale: float, palette: list[RGB]
) -> None:
    """A glass vase with a few stems and blossoms."""
    height = stage.product_h * float(rng.uniform(0.9, 1.25)) * scale
    vase_w, vase_h = height * 0.2, height * 0.34
    canvas.contact(x, floor, vase_w * 0.7, vase_w * 0.12, 0.45)
    top = floor - vase_h
    for _ in range(int(rng.integers(4, 7))):
        end_x = x + float(rng.uniform(-0.45, 0.45)) * height * 0.6
        end_y = top - height * float(rng.uniform(0.35, 0.65))
        canvas.line(
            [(x, top + vase_h * 0.3), ((x + end_x) / 2, (top + end_y) / 2 + 4), (end_x, end_y)],
            (70, 112, 58),
            max(1.0, height * 0.01),
        )
        colour = palette[int(rng.integers(len(palette)))]
        radius = height * float(rng.uniform(0.06, 0.09))
        for petal in range(6):
            angle = petal * math.pi / 3 + float(rng.uniform(0, 0.5))
            canvas.ellipse(
                end_x + math.cos(angle) * radius * 0.7,
                end_y + math.sin(angle) * radius * 0.7,
                radius * 0.7,
                radius * 0.42,
                math.degrees(angle),
                colour,
                0.3,
            )
        canvas.ellipse(end_x, end_y, radius * 0.35, radius * 0.35, 0, (236, 196, 80), 0.2)
    canvas.polygon(
        [(x - vase_w / 2, top), (x + vase_w / 2, top), (x + vase_w * 0.42, floor), (x - vase_w * 0.42, floor)],
        (214, 226, 230),
        0.92,
    )


_PALETTES: dict[str, list[RGB]] = {
    "leaves": [(196, 96, 34), (170, 60, 30), (214, 150, 50), (140, 80, 36)],
    "petals": [(190, 30, 50), (220, 80, 110), (240, 150, 170)],
    "eggs": [(200, 226, 240), (246, 222, 150), (240, 196, 210), (206, 232, 190)],
    "ornaments": [(170, 24, 36), (212, 172, 80), (30, 80, 52)],
    "pumpkins": [(224, 116, 36), (236, 140, 52)],
    "flowers": [(240, 170, 190), (250, 250, 246), (246, 214, 120), (226, 120, 150)],
    "plants": [(58, 110, 56), (82, 132, 64), (46, 92, 60)],
    "leaves_green": [(58, 110, 56), (82, 132, 64), (46, 92, 60)],
}


def _standing(canvas: _Canvas, stage: Stage, rng: np.random.Generator, name: str, x: float, number: int) -> None:
    """A plant, a vase of flowers or a gift box beside the product (seen from above on a flat lay)."""
    if stage.view == "top":
        if name == "gifts":
            _gift_top(canvas, stage, rng, x, number)
        else:
            _scatter(canvas, stage, rng, "flowers" if name == "flowers" else "leaves_green", _PALETTES[name])
        return
    floor = _floor_row(stage, 0.45 if number == 0 else 0.25)
    scale = 0.8 if number == 0 else 0.7
    if name == "plants":
        _plant(canvas, stage, rng, x, floor, scale)
    elif name == "flowers":
        _flowers(canvas, stage, rng, x, floor, scale, _PALETTES["flowers"])
    else:
        colour, ribbon = _gift_colours(stage, number)
        _gift(canvas, stage, rng, x, floor, scale, colour, ribbon)


def draw_props(image: np.ndarray, stage: Stage, props: tuple[str, ...], rng: np.random.Generator) -> np.ndarray:
    """Draw ``props`` into the lit work image (float RGB, in place) and return it: the standing
    props behind first, then the podium, the things lying on the floor, and a fir branch in front."""
    if not props:
        return image
    canvas = _Canvas(image, stage)
    standing = [name for name in props if name in ("plants", "flowers", "gifts")]
    places = _side_slots(stage, rng, len(standing) + (1 if "gifts" in standing else 0), stage.product_w * 0.6)
    slot = 0
    for name in standing:
        for number in range(2 if name == "gifts" else 1):
            _standing(canvas, stage, rng, name, places[slot][0], number)
            slot += 1
    if "podium" in props:
        _podium(canvas, stage, rng)
    for name in props:
        if name in ("leaves", "petals", "eggs", "ornaments", "pumpkins"):
            _scatter(canvas, stage, rng, name, _PALETTES[name])
    if "pine" in props:
        _pine(canvas, stage, rng)
    return image


_GIFT_COLOURS: tuple[tuple[RGB, RGB], ...] = (
    ((176, 32, 44), (222, 186, 96)),  # red with a gold ribbon
    ((36, 88, 56), (200, 40, 48)),  # green with red
    ((236, 232, 224), (176, 32, 44)),  # white with red
    ((212, 172, 80), (120, 24, 36)),  # gold with burgundy
)


def _gift_colours(stage: Stage, number: int) -> tuple[RGB, RGB]:
    """Wrapping paper and ribbon: festive pairs, a different one for each box."""
    start = 0 if colours.chroma(stage.accents[0]) < 0.25 else int(colours.to_hls(stage.accents[0])[0] * 4)
    return _GIFT_COLOURS[(start + number) % len(_GIFT_COLOURS)]


def _gift_top(canvas: _Canvas, stage: Stage, rng: np.random.Generator, x: float, number: int) -> None:
    """A gift box seen from above: a square with a ribbon cross."""
    size = stage.product_w * float(rng.uniform(0.45, 0.7))
    cy = (stage.box[1] + stage.box[3]) / 2 + float(rng.uniform(-0.4, 0.4)) * stage.product_h
    colour, ribbon = _gift_colours(stage, number)
    canvas.contact(x + size * 0.08, cy + size * 0.08, size * 0.6, size * 0.6, 0.5)
    canvas.polygon(
        [
            (x - size / 2, cy - size / 2),
            (x + size / 2, cy - size / 2),
            (x + size / 2, cy + size / 2),
            (x - size / 2, cy + size / 2),
        ],
        colour,
        1.0,
    )
    band = size * 0.07
    canvas.polygon(
        [(x - band, cy - size / 2), (x + band, cy - size / 2), (x + band, cy + size / 2), (x - band, cy + size / 2)],
        ribbon,
    )
    canvas.polygon(
        [(x - size / 2, cy - band), (x + size / 2, cy - band), (x + size / 2, cy + band), (x - size / 2, cy + band)],
        ribbon,
    )

"""A contact sheet of studio scenes (rows = prompts, columns = products) for eyeballing quality.

``python -m photostage.scenes.studio.gallery [docs/gallery.png]`` writes the sheet shown in the
docs. The products are synthetic (a glass bottle, a carton box, a ceramic mug), drawn here with
shading and highlights, so the sheet needs no input files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from photostage.imaging import compose
from photostage.scenes.base import PlacedObject, RenderJob, SceneSpec
from photostage.scenes.shadow import with_shadow
from photostage.scenes.studio.engine import StudioEngine
from photostage.scenes.studio.prompt import parse_prompt

GALLERY_PROMPTS: tuple[str, ...] = (
    "marble countertop, marble wall background, monochromatic, bokeh, closeup, professional product photography",
    "on the wooden table in the dark room",
    "concrete floor, concrete wall, window light",
    "terrazzo table, pastel pink wall",
    "on sand, sunset sky",
    "neon lights, dark, glossy floor",
    "linen, flat lay, top view",
    "glass reflection, studio sweep, light blue",
)

_SUPERSAMPLE = 4
DOCS_TILE = 320  # tile side in docs/gallery.png (film grain makes larger PNGs heavy for a repository)
_LABEL_H = 26


def _finish(rgb: np.ndarray, mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-downsample a supersampled drawing into an RGBA product with a soft, antialiased edge."""
    small_rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    small_alpha = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
    return np.dstack([np.clip(small_rgb, 0, 255).astype(np.uint8), np.clip(small_alpha, 0, 255).astype(np.uint8)])


def _print(
    rgb: np.ndarray,
    text: str,
    origin: tuple[int, int],
    scale: float,
    colour: tuple[int, int, int],
    thickness: int,
) -> np.ndarray:
    """Antialiased text on a float RGB drawing (OpenCV draws text on 8-bit images only)."""
    ink = np.zeros(rgb.shape[:2], np.uint8)
    cv2.putText(ink, text, origin, cv2.FONT_HERSHEY_DUPLEX, scale, 255, max(1, thickness), cv2.LINE_AA)
    weight = ink.astype(np.float32)[..., None] / 255.0
    return rgb + (np.asarray(colour, np.float32)[None, None, :] - rgb) * weight


def _cylinder_shade(width: int, height: int, left: int, right: int, light: float = -0.35) -> np.ndarray:
    """(H, W) shading of a vertical cylinder spanning columns left..right, lit from ``light`` (−1..1)."""
    xs = (np.arange(width, dtype=np.float32) - (left + right) / 2) / max(1.0, (right - left) / 2)
    xs = np.clip(xs, -1.0, 1.0)
    normal_z = np.sqrt(np.clip(1.0 - xs**2, 0.0, 1.0))
    diffuse = np.clip(normal_z * 0.8 - xs * light * 0.6, 0.0, 1.0)
    shade = 0.25 + 0.75 * diffuse
    return np.broadcast_to(shade[None, :], (height, width)).astype(np.float32)


def _highlight(width: int, height: int, centre: float, half_width: float) -> np.ndarray:
    xs = np.arange(width, dtype=np.float32)
    stripe = np.exp(-(((xs - centre) / half_width) ** 2))
    return np.broadcast_to(stripe[None, :], (height, width)).astype(np.float32)


def make_bottle(width: int = 160, height: int = 360) -> np.ndarray:
    """An amber glass bottle with a black cap, a paper label, rim light and a specular streak."""
    s = _SUPERSAMPLE
    w, h = width * s, height * s
    mask = np.zeros((h, w), np.float32)
    cx = w // 2
    body_half = int(w * 0.42)
    shoulder_y, neck_top = int(h * 0.38), int(h * 0.1)
    neck_half = int(w * 0.14)
    cv2.rectangle(mask, (cx - body_half, shoulder_y), (cx + body_half, h - int(h * 0.03)), 255, -1)
    cv2.ellipse(mask, (cx, h - int(h * 0.03)), (body_half, int(h * 0.03)), 0, 0, 180, 255, -1)
    cv2.ellipse(mask, (cx, shoulder_y), (body_half, int(h * 0.14)), 0, 180, 360, 255, -1)
    cv2.rectangle(mask, (cx - neck_half, neck_top), (cx + neck_half, shoulder_y), 255, -1)
    shade = _cylinder_shade(w, h, cx - body_half, cx + body_half)
    amber = np.asarray([150, 70, 20], np.float32)
    rgb = shade[..., None] * amber[None, None, :]
    rows = np.arange(h)[:, None]
    cap = (rows < neck_top + int(h * 0.08)) & (rows >= neck_top - int(h * 0.02))
    cv2.rectangle(
        mask,
        (cx - neck_half - s * 2, neck_top - int(h * 0.02)),
        (cx + neck_half + s * 2, neck_top + int(h * 0.08)),
        255,
        -1,
    )
    cap_shade = _cylinder_shade(w, h, cx - neck_half, cx + neck_half)
    rgb = np.where(cap[..., None], cap_shade[..., None] * np.asarray([30, 30, 32], np.float32), rgb)
    label = (rows > int(h * 0.52)) & (rows < int(h * 0.8))
    label_colour = np.asarray([238, 232, 218], np.float32)
    rgb = np.where(label[..., None], shade[..., None] * label_colour, rgb)
    rgb = _print(rgb, "NO.5", (cx - int(w * 0.26), int(h * 0.69)), w / 260, (60, 40, 30), s * 2)
    streak = _highlight(w, h, cx - body_half * 0.45, body_half * 0.09) * (~label)
    rim = _highlight(w, h, cx + body_half * 0.9, body_half * 0.06)
    rgb = rgb + (streak * 150 + rim * 60)[..., None]
    return _finish(rgb, mask, (width, height))


def make_box(width: int = 260, height: int = 300) -> np.ndarray:
    """A carton box in three-quarter view: lit front, shaded side, bright top, a printed band."""
    s = _SUPERSAMPLE
    w, h = width * s, height * s
    mask = np.zeros((h, w), np.float32)
    rgb = np.zeros((h, w, 3), np.float32)
    depth_x, depth_y = int(w * 0.26), int(h * 0.12)
    front = np.asarray([[0, depth_y], [w - depth_x, depth_y], [w - depth_x, h - 1], [0, h - 1]], np.int32)
    side = np.asarray([[w - depth_x, depth_y], [w - 1, 0], [w - 1, h - 1 - depth_y], [w - depth_x, h - 1]], np.int32)
    top = np.asarray([[0, depth_y], [depth_x, 0], [w - 1, 0], [w - depth_x, depth_y]], np.int32)
    base_colour = np.asarray([46, 92, 120], np.float32)
    for polygon, shade in ((front, 0.95), (side, 0.58), (top, 1.22)):
        face = np.zeros((h, w), np.uint8)
        cv2.fillPoly(face, [polygon], 255)
        rgb[face > 0] = np.clip(base_colour * shade, 0, 255)
        cv2.fillPoly(mask, [polygon], 255)
    ys = np.arange(h, dtype=np.float32)[:, None]
    gradient = 1.0 - 0.18 * (ys / h)
    rgb *= gradient[..., None]
    band_top, band_bottom = int(h * 0.52), int(h * 0.64)
    cv2.rectangle(rgb, (0, band_top), (w - depth_x - 1, band_bottom), (236, 200, 120), -1)
    rgb = _print(rgb, "AURA", (int(w * 0.12), int(h * 0.4)), w / 300, (240, 240, 236), s * 2)
    edge = np.zeros((h, w), np.float32)
    cv2.line(edge, (w - depth_x, depth_y), (w - depth_x, h - 1), 1.0, s, cv2.LINE_AA)
    cv2.line(edge, (0, depth_y), (w - depth_x, depth_y), 1.0, s, cv2.LINE_AA)
    rgb += edge[..., None] * 40
    return _finish(rgb, mask, (width, height))


def make_mug(width: int = 300, height: int = 260) -> np.ndarray:
    """A glazed ceramic mug with a handle, a visible inner rim and a soft specular highlight."""
    s = _SUPERSAMPLE
    w, h = width * s, height * s
    mask = np.zeros((h, w), np.float32)
    body_left, body_right = int(w * 0.05), int(w * 0.75)
    cx = (body_left + body_right) // 2
    half = (body_right - body_left) // 2
    rim_y, rim_ry = int(h * 0.1), int(h * 0.08)
    bottom_y = h - int(h * 0.07)
    handle_centre = (body_right, int(h * 0.48))
    handle = np.zeros((h, w), np.float32)
    cv2.ellipse(handle, handle_centre, (int(w * 0.2), int(h * 0.26)), 0, -90, 90, 255, int(w * 0.06))
    cv2.rectangle(mask, (body_left, rim_y), (body_right, bottom_y), 255, -1)
    cv2.ellipse(mask, (cx, rim_y), (half, rim_ry), 0, 0, 360, 255, -1)
    cv2.ellipse(mask, (cx, bottom_y), (half, int(h * 0.06)), 0, 0, 180, 255, -1)
    glaze = np.asarray([214, 118, 92], np.float32)
    shade = _cylinder_shade(w, h, body_left, body_right)
    rgb = shade[..., None] * glaze[None, None, :]
    handle_shade = _cylinder_shade(w, h, body_right, body_right + int(w * 0.24), light=0.2) * 0.8
    rgb = np.where((handle > 0)[..., None] & (mask == 0)[..., None], handle_shade[..., None] * glaze, rgb)
    mask = np.maximum(mask, handle)
    inner = np.zeros((h, w), np.uint8)
    cv2.ellipse(inner, (cx, rim_y), (half - s * 6, rim_ry - s * 4), 0, 0, 360, 255, -1)
    depth = np.clip((np.arange(h, dtype=np.float32)[:, None] - (rim_y - rim_ry)) / (2 * rim_ry), 0, 1)
    inner_colour = np.asarray([236, 230, 222], np.float32) * (0.55 + 0.35 * depth[..., None])
    rgb = np.where((inner > 0)[..., None], np.broadcast_to(inner_colour, rgb.shape), rgb)
    streak = _highlight(w, h, cx - half * 0.5, half * 0.08) * (np.arange(h)[:, None] > rim_y + rim_ry)
    rgb = rgb + (streak * 70)[..., None]
    return _finish(rgb, mask, (width, height))


def sample_products() -> list[np.ndarray]:
    return [make_bottle(), make_box(), make_mug()]


def _place(product: np.ndarray, size: int, flat_lay: bool) -> PlacedObject:
    """The product at about 60% of the canvas, standing on the lower part (centred for flat lays)."""
    height, width = product.shape[:2]
    factor = 0.6 * size / max(height, width)
    resized = compose.resize(product, max(1, round(width * factor)), max(1, round(height * factor)))
    new_h, new_w = resized.shape[:2]
    left = (size - new_w) // 2
    top = (size - new_h) // 2 if flat_lay else round(size * 0.86) - new_h
    layer = compose.place(resized, size, size, left, top)
    ys, xs = np.nonzero(layer[..., 3])
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return PlacedObject(rgba=layer, box=box)


def _label(text: str, width: int) -> np.ndarray:
    strip = np.full((_LABEL_H, width, 3), 24, np.uint8)
    cv2.putText(strip, text, (8, _LABEL_H - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (235, 235, 235), 1, cv2.LINE_AA)
    return strip


def render_contact_sheet(prompts: list[str], products: list[np.ndarray], size: int = 384, seed: int = 0) -> np.ndarray:
    """One RGB sheet: a labelled row per prompt, a column per product, each a finished shot."""
    engine = StudioEngine()
    rows: list[np.ndarray] = []
    for row_index, prompt in enumerate(prompts):
        flat_lay = parse_prompt(prompt).first("view") == "top"
        tiles = []
        for column, product in enumerate(products):
            placed = _place(product, size, flat_lay)
            job = RenderJob(
                scene=SceneSpec(kind="prompt", prompt=prompt),
                width=size,
                height=size,
                product=placed,
                seed=seed + row_index * 101 + column,
                index=0,
            )
            rendered = with_shadow(engine.render(job), job)
            layer = compose.light_wrap(placed.rgba, rendered.background, rendered.light_wrap)
            tiles.append(compose.composite_over(rendered.background, layer)[..., :3])
        row = np.hstack(tiles)
        rows.append(np.vstack([_label(prompt, row.shape[1]), row]))
    return np.vstack(rows)


def write_gallery(target: Path, size: int = DOCS_TILE, seed: int = 0) -> tuple[int, int]:
    """Render the fixed prompts × sample products and write the sheet as PNG; returns (w, h)."""
    sheet = render_contact_sheet(list(GALLERY_PROMPTS), sample_products(), size=size, seed=seed)
    target.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(target), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return sheet.shape[1], sheet.shape[0]


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else Path("docs/gallery.png")
    width, height = write_gallery(target)
    print(f"wrote {target} ({width}x{height})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

"""Renders ``product.png``, the sample product shipped with photostage: an amber glass bottle
with a black cap and a cream label on a transparent background, drawn here in code (so it is
the project's own work, Apache-2.0 like the rest). Run ``python -m photostage.samples.render``
to draw it again; the output is deterministic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SAMPLE = Path(__file__).with_name("product.png")
WIDTH, HEIGHT, SUPERSAMPLE = 420, 760, 4


def _cylinder_shade(width: int, light: float = 0.32) -> np.ndarray:
    """Brightness across a lit cylinder: a soft key light left of centre, a rim light at the
    right edge, darker sides."""
    x = np.linspace(-1.0, 1.0, width)
    normal_z = np.sqrt(np.clip(1 - x**2, 0, 1))
    key = np.clip(normal_z * np.cos(light) + x * -np.sin(light), 0, 1)
    specular = np.exp(-((x + 0.42) ** 2) / 0.004) * 0.9 + np.exp(-((x - 0.78) ** 2) / 0.002) * 0.35
    return 0.25 + 0.75 * key + specular


def render() -> Image.Image:
    s = SUPERSAMPLE
    w, h = WIDTH * s, HEIGHT * s
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    draw.ellipse((60 * s, 170 * s, 360 * s, 370 * s), fill=255)          # shoulder, widest at y=270
    draw.rectangle((60 * s, 270 * s, 360 * s, 690 * s), fill=255)        # straight walls
    draw.rounded_rectangle((60 * s, 600 * s, 360 * s, 740 * s), radius=46 * s, fill=255)  # base
    draw.rectangle((160 * s, 110 * s, 260 * s, 270 * s), fill=255)      # neck
    cap = (146 * s, 20 * s, 274 * s, 128 * s)
    draw.rounded_rectangle(cap, radius=12 * s, fill=255)

    shade = _cylinder_shade(w)[None, :, None]
    amber = np.array([150, 78, 22], np.float32)[None, None, :] / 255
    rgb = np.clip(amber * shade * np.ones((h, 1, 1), np.float32), 0, 1)
    # the glass darkens towards the base and the cap is a matte black cylinder
    depth = np.linspace(1.0, 0.78, h)[:, None, None]
    rgb = rgb * depth
    cap_rows = slice(20 * s, 128 * s)
    cap_shade = _cylinder_shade(w, light=0.5)[None, :, None] * 0.16
    rgb[cap_rows] = np.clip(cap_shade + 0.03, 0, 1)
    ridges = (np.arange(w) // (6 * s)) % 2 == 0
    rgb[cap_rows, ridges] *= 0.8

    label = Image.new("L", (w, h), 0)
    ImageDraw.Draw(label).rectangle((60 * s, 400 * s, 360 * s, 620 * s), fill=255)
    label_area = np.asarray(label, np.float32)[..., None] / 255
    cream = np.array([236, 226, 204], np.float32)[None, None, :] / 255
    paper = np.clip(cream * (0.55 + 0.45 * _cylinder_shade(w))[None, :, None], 0, 1)
    rgb = rgb * (1 - label_area) + paper * label_area
    text = Image.new("L", (w, h), 0)
    tdraw = ImageDraw.Draw(text)
    tdraw.rectangle((120 * s, 440 * s, 300 * s, 470 * s), fill=255)     # a title bar
    for row, (left, right) in enumerate(((120, 290), (120, 270), (120, 282), (120, 240))):
        top = 500 + row * 24
        tdraw.rectangle((left * s, top * s, right * s, (top + 8) * s), fill=160)
    ink = np.asarray(text, np.float32)[..., None] / 255 * label_area
    rgb = rgb * (1 - ink) + np.array([48, 38, 30], np.float32) / 255 * ink

    rgba = np.dstack([rgb * 255, np.asarray(mask, np.float32)]).round().clip(0, 255).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA").resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS)


def main() -> None:
    render().save(SAMPLE, optimize=True)
    print(f"wrote {SAMPLE} ({SAMPLE.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

"""Light on the set: per-lighting character, light fields (key pool, falloff, vignette), grading.

A light field is an (H, W) float32 multiplier of albedo; the light's colour multiplies it into
RGB. Fields are built from broadcast row and column profiles, so they cost a few cheap passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from photostage.scenes.studio.colours import RGB


@dataclass(frozen=True)
class LightCharacter:
    """What a lighting style does to a scene."""

    colour: tuple[float, float, float]  # white balance multiplier
    exposure: float
    ambient: float  # light everywhere
    key: float  # extra light in the key pool
    pool: float  # radius of the key pool, in canvas widths
    vignette: float
    contrast: float
    shadow_softness: float  # multiplies the requested shadow softness
    shadow_opacity: float  # multiplies the requested shadow opacity
    light_wrap: float


LIGHTS: dict[str, LightCharacter] = {
    "soft": LightCharacter((1.0, 0.995, 0.985), 1.04, 0.78, 0.26, 0.75, 0.2, 1.0, 1.0, 1.0, 0.35),
    "low_key": LightCharacter((1.0, 0.97, 0.92), 0.95, 0.2, 0.95, 0.36, 0.55, 1.12, 0.8, 1.0, 0.25),
    "sunlight": LightCharacter((1.0, 0.975, 0.92), 1.06, 0.66, 0.42, 0.9, 0.14, 1.06, 0.35, 1.1, 0.45),
    "golden_hour": LightCharacter((1.0, 0.86, 0.68), 1.02, 0.52, 0.55, 0.7, 0.32, 1.05, 0.6, 1.0, 0.5),
    "neon": LightCharacter((0.92, 0.88, 1.0), 0.85, 0.16, 0.5, 0.45, 0.5, 1.1, 0.8, 0.85, 0.55),
}


def light_direction(light_angle: float) -> tuple[float, float]:
    """Unit (x, y-down) image direction toward the light."""
    radians = math.radians(light_angle)
    return math.sin(radians), -math.cos(radians)


def _pool(height: int, width: int, centre: tuple[float, float], radius_x: float, radius_y: float) -> np.ndarray:
    """exp(-r²) elliptical pool as an outer product of two 1-D Gaussians: (H, W)."""
    cols = np.exp(-(((np.arange(width, dtype=np.float32) - centre[0]) / radius_x) ** 2))
    rows = np.exp(-(((np.arange(height, dtype=np.float32) - centre[1]) / radius_y) ** 2))
    return (rows[:, None] * cols[None, :]).astype(np.float32)


def _vignette(height: int, width: int, strength: float) -> np.ndarray:
    cols = ((np.arange(width, dtype=np.float32) + 0.5) / width - 0.5) * 2.0
    rows = ((np.arange(height, dtype=np.float32) + 0.5) / height - 0.5) * 2.0
    falloff = (rows**2)[:, None] * 0.5 + (cols**2)[None, :] * 0.5
    return np.clip(1.0 - strength * falloff**1.3, 0.0, 1.0).astype(np.float32)


def _side_gradient(width: int, light_x: float, strength: float) -> np.ndarray:
    """Brighter on the side the light comes from: (1, W)."""
    cols = (np.arange(width, dtype=np.float32) + 0.5) / width - 0.5
    return (1.0 + strength * light_x * cols * 2.0)[None, :].astype(np.float32)


def front_light(
    character: LightCharacter,
    height: int,
    width: int,
    junction: float,
    base: float,
    product_x: float,
    light_angle: float,
    corner_shadow: float,
) -> np.ndarray:
    """Light on a front-view set: a key pool behind the product, falloff up the wall and toward the
    camera, a darker wall/floor corner (``corner_shadow`` 0 for a seamless sweep), vignette."""
    light_x, _ = light_direction(light_angle)
    centre = (product_x + light_x * width * 0.18, junction - 0.04 * height)
    pool = _pool(height, width, centre, character.pool * width, character.pool * width * 0.9)
    field = character.ambient + character.key * pool
    rows = np.arange(height, dtype=np.float32)[:, None]
    wall_fall = 1.0 - 0.22 * np.clip(1.0 - rows / max(junction, 1.0), 0.0, 1.0) ** 1.5
    floor_fall = 1.0 - 0.16 * np.clip((rows - base) / max(height - base, 1.0), 0.0, 1.0) ** 2
    field = field * np.where(rows < junction, wall_fall, floor_fall)
    if corner_shadow > 0:
        above = np.exp(-np.clip(junction - rows, 0.0, None) / (0.035 * height))
        below = np.exp(-np.clip(rows - junction, 0.0, None) / (0.012 * height))
        field = field * (1.0 - corner_shadow * np.where(rows < junction, above * 0.9, below * 0.6))
    field = field * _side_gradient(width, light_x, 0.08) * _vignette(height, width, character.vignette)
    return (field * character.exposure).astype(np.float32)


def top_light(
    character: LightCharacter,
    height: int,
    width: int,
    product_centre: tuple[float, float],
    light_angle: float,
) -> np.ndarray:
    """Light on a flat lay: a gradient from the light's side, a soft pool around the product, vignette."""
    light_x, light_y = light_direction(light_angle)
    cols = ((np.arange(width, dtype=np.float32) + 0.5) / width - 0.5)[None, :]
    rows = ((np.arange(height, dtype=np.float32) + 0.5) / height - 0.5)[:, None]
    gradient = 1.0 + 0.22 * (cols * light_x + rows * light_y)
    centre = (product_centre[0] + light_x * width * 0.12, product_centre[1] + light_y * height * 0.12)
    pool = _pool(height, width, centre, character.pool * width * 1.1, character.pool * height * 1.1)
    field = (character.ambient + character.key * pool) * gradient * _vignette(height, width, character.vignette)
    return (field * character.exposure).astype(np.float32)


def lit(albedo: np.ndarray, field: np.ndarray, character: LightCharacter) -> np.ndarray:
    """Albedo under a light field of the character's colour: (H, W, 3) float32."""
    colour = np.asarray(character.colour, np.float32)
    return albedo * field[..., None] * colour[None, None, :]


def coloured_side_lights(height: int, width: int, left: RGB, right: RGB, strength: float) -> np.ndarray:
    """Two coloured lights raking in from the sides (neon): an additive (H, W, 3) light."""
    cols = (np.arange(width, dtype=np.float32) + 0.5) / width
    rows = (np.arange(height, dtype=np.float32) + 0.5) / height
    vertical = (0.55 + 0.45 * np.sin(rows * math.pi))[:, None, None]
    left_fall = np.exp(-cols / 0.3)[None, :, None]
    right_fall = np.exp(-(1.0 - cols) / 0.3)[None, :, None]
    left_rgb = np.asarray(left, np.float32)[None, None, :] / 255.0
    right_rgb = np.asarray(right, np.float32)[None, None, :] / 255.0
    return ((left_fall * left_rgb + right_fall * right_rgb) * vertical * strength).astype(np.float32)


def grade(image: np.ndarray, contrast: float) -> np.ndarray:
    """A gentle filmic S-curve around mid grey, in place; values stay in [0, 1]."""
    np.clip(image, 0.0, 1.0, out=image)
    if abs(contrast - 1.0) < 1e-3:
        return image
    # Smoothstep blended by contrast: deepens shadows and lifts highlights without clipping.
    curve = image * image * (3.0 - 2.0 * image)
    amount = np.float32(min(1.0, max(-1.0, (contrast - 1.0) * 3.0)))
    image += (curve - image) * amount
    return np.clip(image, 0.0, 1.0, out=image)

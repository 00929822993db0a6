"""Colour names, and the small colour operations the planner uses (HLS, mixing, hue distance)."""

from __future__ import annotations

import colorsys

RGB = tuple[int, int, int]

COLOUR_NAMES: dict[str, RGB] = {
    "white": (242, 241, 238),
    "offwhite": (236, 232, 224),
    "ivory": (240, 234, 214),
    "cream": (238, 228, 204),
    "beige": (222, 206, 178),
    "ecru": (214, 200, 170),
    "oat": (216, 202, 178),
    "oatmeal": (216, 202, 178),
    "sand": (214, 190, 150),
    "tan": (196, 164, 120),
    "khaki": (190, 176, 130),
    "taupe": (150, 134, 118),
    "brown": (120, 80, 50),
    "chocolate": (90, 56, 36),
    "caramel": (190, 128, 70),
    "camel": (192, 150, 100),
    "terracotta": (196, 104, 72),
    "rust": (168, 78, 42),
    "copper": (184, 115, 70),
    "bronze": (160, 112, 60),
    "gold": (212, 172, 80),
    "golden": (212, 172, 80),
    "mustard": (212, 168, 50),
    "yellow": (240, 206, 70),
    "lemon": (246, 226, 100),
    "butter": (246, 228, 150),
    "orange": (236, 128, 48),
    "peach": (246, 190, 160),
    "apricot": (246, 176, 130),
    "coral": (240, 120, 100),
    "salmon": (240, 150, 130),
    "red": (200, 44, 44),
    "crimson": (180, 24, 50),
    "scarlet": (220, 40, 30),
    "cherry": (170, 20, 40),
    "burgundy": (110, 24, 40),
    "maroon": (110, 30, 30),
    "wine": (110, 30, 50),
    "pink": (240, 170, 190),
    "blush": (238, 200, 196),
    "rose": (226, 150, 160),
    "magenta": (210, 40, 160),
    "fuchsia": (220, 50, 170),
    "purple": (120, 60, 160),
    "violet": (140, 90, 200),
    "plum": (110, 60, 100),
    "lilac": (200, 170, 220),
    "lavender": (196, 184, 230),
    "mauve": (190, 150, 176),
    "indigo": (70, 60, 140),
    "blue": (50, 100, 200),
    "navy": (30, 40, 80),
    "cobalt": (30, 70, 170),
    "royal": (40, 80, 190),
    "sky": (150, 196, 232),
    "azure": (90, 160, 230),
    "powder": (180, 206, 226),
    "denim": (70, 100, 140),
    "teal": (30, 120, 130),
    "turquoise": (60, 190, 190),
    "aqua": (110, 210, 210),
    "cyan": (60, 200, 230),
    "mint": (170, 226, 200),
    "sage": (160, 178, 150),
    "olive": (120, 124, 60),
    "green": (60, 140, 80),
    "emerald": (30, 130, 90),
    "forest": (40, 80, 50),
    "lime": (170, 210, 70),
    "moss": (100, 120, 60),
    "grey": (150, 150, 150),
    "gray": (150, 150, 150),
    "silver": (192, 194, 198),
    "charcoal": (54, 56, 60),
    "graphite": (70, 72, 76),
    "slate": (100, 110, 120),
    "stone": (170, 164, 154),
    "black": (22, 22, 24),
    "ebony": (30, 26, 24),
}

LIGHTNESS_MODIFIERS: dict[str, float] = {
    "light": 0.18,
    "pale": 0.22,
    "soft": 0.1,
    "dusty": 0.05,
    "dark": -0.2,
    "deep": -0.16,
    "rich": -0.08,
    "bright": 0.08,
}


def to_hls(rgb: RGB) -> tuple[float, float, float]:
    return colorsys.rgb_to_hls(rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0)


def from_hls(hue: float, lightness: float, saturation: float) -> RGB:
    red, green, blue = colorsys.hls_to_rgb(hue % 1.0, min(1.0, max(0.0, lightness)), min(1.0, max(0.0, saturation)))
    return (round(red * 255), round(green * 255), round(blue * 255))


def lighten(rgb: RGB, amount: float) -> RGB:
    hue, lightness, saturation = to_hls(rgb)
    return from_hls(hue, lightness + amount, saturation)


def saturate(rgb: RGB, factor: float) -> RGB:
    hue, lightness, saturation = to_hls(rgb)
    return from_hls(hue, lightness, saturation * factor)


def with_lightness(rgb: RGB, lightness: float) -> RGB:
    hue, _, saturation = to_hls(rgb)
    return from_hls(hue, lightness, saturation)


def rotate_hue(rgb: RGB, turns: float) -> RGB:
    hue, lightness, saturation = to_hls(rgb)
    return from_hls(hue + turns, lightness, saturation)


def mix(first: RGB, second: RGB, amount: float) -> RGB:
    """``amount`` 0 → first, 1 → second."""
    return (
        round(first[0] + (second[0] - first[0]) * amount),
        round(first[1] + (second[1] - first[1]) * amount),
        round(first[2] + (second[2] - first[2]) * amount),
    )


def hue_distance(first: RGB, second: RGB) -> float:
    """Distance of hues in turns (0–0.5); neutral colours are far from everything."""
    hue_a, _, sat_a = to_hls(first)
    hue_b, _, sat_b = to_hls(second)
    if sat_a < 0.12 or sat_b < 0.12:
        return 0.5
    distance = abs(hue_a - hue_b) % 1.0
    return min(distance, 1.0 - distance)


def chroma(rgb: RGB) -> float:
    return (max(rgb) - min(rgb)) / 255.0


def luminance(rgb: RGB) -> float:
    return (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255.0


def nearest_name(rgb: RGB) -> str:
    """The colour name closest to ``rgb`` (weighted RGB distance), for readable prompts."""

    def distance(candidate: RGB) -> float:
        mean_red = (rgb[0] + candidate[0]) / 2
        d_red, d_green, d_blue = rgb[0] - candidate[0], rgb[1] - candidate[1], rgb[2] - candidate[2]
        return (2 + mean_red / 256) * d_red**2 + 4 * d_green**2 + (2 + (255 - mean_red) / 256) * d_blue**2

    return min(COLOUR_NAMES, key=lambda name: distance(COLOUR_NAMES[name]))

"""Colours a Claid user can mean unambiguously, read into one canonical spelling.

Claid's schema types ``scene.color`` as any string; its documentation shows hex colours. We accept
what a CSS author would write and can only mean one colour:

- ``#rgb``, ``#rrggbb``, and with alpha ``#rgba``, ``#rrggbbaa``;
- ``rgb(r, g, b)`` / ``rgba(r, g, b, a)`` with 0–255 or percentage channels and alpha 0–1 or a
  percentage, comma or space separated (``rgb(255 128 0 / 50%)``);
- the CSS named colours (``white``, ``rebeccapurple``, …) and ``transparent``.

Everything else (``hsl()``, ``currentColor``, a misspelt name) is refused with a message that lists
these forms. A colour reads as ``(r, g, b, a)`` with every part 0–255; canonical text is
``#rrggbb`` when opaque and ``#rrggbbaa`` otherwise.
"""

from __future__ import annotations

import re

from PIL import ImageColor

ACCEPTED_FORMS = (
    '"#rgb", "#rrggbb", "#rrggbbaa", "rgb(r, g, b)", "rgba(r, g, b, a)", a CSS colour name such as "white", '
    'or "transparent"'
)
RGBA = tuple[int, int, int, int]

_HEX = re.compile(r"#([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})")
_FUNCTION = re.compile(r"(rgba?)\((.*)\)")
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?"
_CHANNEL = re.compile(rf"({_NUMBER})(%?)")
# CSS Color Module Level 4 named colours (Pillow's table is that list, plus spellings CSS also has)
NAMED: dict[str, tuple[int, int, int]] = {
    name: ImageColor.getrgb(value)[:3] for name, value in ImageColor.colormap.items()
}


class ColorError(ValueError):
    pass


def _channel(text: str, percent_scale: float, limit: float) -> float:
    match = _CHANNEL.fullmatch(text.strip())
    if not match:
        raise ColorError(f"{text.strip()!r} is not a number")
    value = float(match.group(1))
    if match.group(2):
        value = value / 100 * percent_scale
    if not 0 <= value <= limit:
        raise ColorError(f"{text.strip()} is out of range (0–{limit:g} or 0%–100%)")
    return value


def _function(name: str, inner: str) -> RGBA:
    if "/" in inner:  # CSS 4: rgb(r g b / a)
        channels_text, alpha_text = inner.split("/", 1)
        parts = channels_text.split()
        alpha_parts = [alpha_text]
    else:
        parts = [part for part in re.split(r"\s*,\s*|\s+", inner.strip()) if part]
        alpha_parts = parts[3:]
        parts = parts[:3]
    if len(parts) != 3 or len(alpha_parts) > 1:
        raise ColorError(f"{name}() takes three channels and an optional alpha")
    rgb = [round(_channel(part, 255, 255)) for part in parts]
    alpha = round(_channel(alpha_parts[0], 1, 1) * 255) if alpha_parts else 255
    return rgb[0], rgb[1], rgb[2], alpha


def parse_color(value: str) -> RGBA:
    """``(r, g, b, a)`` for a colour in one of the accepted forms, or :class:`ColorError`."""
    text = value.strip().lower()
    if text == "transparent":
        return 0, 0, 0, 0
    if text in NAMED:
        return (*NAMED[text], 255)
    hex_match = _HEX.fullmatch(text)
    if hex_match:
        digits = hex_match.group(1)
        if len(digits) in (3, 4):
            digits = "".join(digit * 2 for digit in digits)
        if len(digits) == 6:
            digits += "ff"
        r, g, b, a = (int(digits[i : i + 2], 16) for i in range(0, 8, 2))
        return r, g, b, a
    function = _FUNCTION.fullmatch(text)
    if function:
        try:
            return _function(function.group(1), function.group(2))
        except ColorError as error:
            raise ColorError(f"{value.strip()!r}: {error}; accepted: {ACCEPTED_FORMS}") from None
    raise ColorError(f"{value.strip()[:64]!r} is not a colour; accepted: {ACCEPTED_FORMS}")


def canonical(rgba: RGBA) -> str:
    r, g, b, a = rgba
    return f"#{r:02x}{g:02x}{b:02x}" + ("" if a == 255 else f"{a:02x}")

"""Small inputs: how much the product's own pixels are enlarged in the finished picture.

A 198 px packshot placed at 80 % of a 1024 px canvas is stretched about 4x: the result is soft
however good the scene is. The service still answers (the request is valid), but says so in
``data.profiling`` (free-form in Claid's schema, so its response schema is kept) with what to do.
photostage never invents product pixels to hide it: super-resolution would replace the product's
own pixels, and was measured not to beat bicubic on real photos (see the README).
"""

from __future__ import annotations

NOTICE_ABOVE = 1.5  # enlargement beyond which the response says the product will look soft


def enlargement(source_size: tuple[int, int], placed_size: tuple[int, int]) -> float:
    """Linear factor from the product's own pixels (width, height of what was cut out, after any
    rotation) to its size in the output (width, height it is resized to); below 1 it is shrunk."""
    source_width, source_height = max(1, source_size[0]), max(1, source_size[1])
    return max(placed_size[0] / source_width, placed_size[1] / source_height)


def enlargement_notice(factor: float, source_size: tuple[int, int]) -> str | None:
    """What to tell the caller when ``factor`` exceeds :data:`NOTICE_ABOVE`, else None."""
    if factor <= NOTICE_ABOVE:
        return None
    width = round(source_size[0] * factor)
    height = round(source_size[1] * factor)
    return (f"the product is enlarged {factor:.1f}x (from {source_size[0]}x{source_size[1]} px to "
            f"{width}x{height} px) and will look soft; send a larger photo (about {width}x{height} px of "
            "product), or a smaller scale or output size")

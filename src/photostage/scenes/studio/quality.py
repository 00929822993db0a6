"""Quality knobs: how `preference` and `steps` trade render time for detail.

``steps`` (1–49) reads like a diffusion step count: more steps, more noise octaves and finer
detail. ``preference`` picks the render resolution of materials (``best`` supersamples them) and
the quality of the blurs. Both really change the pixels, never just a label.
"""

from __future__ import annotations

from dataclasses import dataclass

from photostage.scenes.base import Preference


@dataclass(frozen=True)
class Quality:
    """How finely a scene is rendered."""

    octaves: int  # fractal noise octaves in materials
    detail: float  # 0–1: strength of fine texture detail (pores, fibres, speckle)
    work_scale: float  # material/light render resolution relative to the output
    supersample: float  # materials are rendered this much larger, then area-downsampled
    blur_downscale: int  # depth-of-field blurs run at 1/n resolution
    grain: float  # film grain amplitude in 8-bit levels


_BY_PREFERENCE: dict[str, Quality] = {
    "fast": Quality(octaves=4, detail=0.6, work_scale=0.5, supersample=1.0, blur_downscale=4, grain=2.0),
    "optimal": Quality(octaves=5, detail=0.8, work_scale=0.5, supersample=1.0, blur_downscale=4, grain=2.4),
    "best": Quality(octaves=6, detail=1.0, work_scale=0.7, supersample=1.3, blur_downscale=3, grain=2.4),
}

DEFAULT_STEPS = 25


def quality_for(preference: Preference, steps: int | None) -> Quality:
    """The quality for a preference, with octaves and detail tuned by ``steps`` when given."""
    base = _BY_PREFERENCE.get(preference, _BY_PREFERENCE["optimal"])
    if steps is None:
        return base
    steps = max(1, min(49, int(steps)))
    extra_octaves = round((steps - DEFAULT_STEPS) / 12)  # 1 → -2, 25 → 0, 49 → +2
    detail = min(1.0, max(0.2, base.detail * (0.55 + 0.45 * steps / DEFAULT_STEPS)))
    return Quality(
        octaves=max(2, min(8, base.octaves + extra_octaves)),
        detail=detail,
        work_scale=base.work_scale,
        supersample=base.supersample,
        blur_downscale=base.blur_downscale,
        grain=base.grain,
    )

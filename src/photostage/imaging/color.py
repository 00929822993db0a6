"""Colour management for decoded images: embedded ICC profiles to sRGB.

Product photos arrive from phones (Display P3), print workflows (CMYK with a press profile)
and cameras (Adobe RGB). Everything downstream assumes sRGB, so the embedded profile is applied
once at decode time. A profile that cannot be read or does not fit the pixel data is ignored:
a wrong-but-plausible colour is better than refusing the customer's image.
"""

from __future__ import annotations

import io

from PIL import Image, ImageCms

# D50-adapted sRGB colorants (what a matrix/shaper sRGB profile stores in rXYZ/gXYZ/bXYZ).
_SRGB_COLORANTS_D50 = (
    (0.4361, 0.2225, 0.0139),
    (0.3851, 0.7169, 0.0971),
    (0.1431, 0.0606, 0.7141),
)
_COLORANT_TOLERANCE = 0.003

# Profile colour spaces (ICC header) that can drive a transform from each Pillow mode.
_PROFILE_SPACE_FOR_MODE = {"RGB": "RGB", "L": "GRAY", "CMYK": "CMYK", "LAB": "LAB"}

_ICC_ERRORS = (OSError, ValueError, TypeError, ImageCms.PyCMSError)


def to_srgb(color: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Return `color` (mode L, RGB, CMYK or LAB, no alpha) as an sRGB image in mode RGB.

    The embedded profile is used when it reads and matches the pixel layout; otherwise the
    pixels are taken as sRGB already (Pillow's plain conversion for L/CMYK, CIELAB via lcms).
    """
    if icc_profile:
        converted = _apply_profile(color, icc_profile)
        if converted is not None:
            return converted
    if color.mode == "LAB":
        return _lab_to_srgb(color)
    return color if color.mode == "RGB" else color.convert("RGB")


def _apply_profile(color: Image.Image, icc_profile: bytes) -> Image.Image | None:
    """Convert through the embedded profile; None when the profile is unusable or already sRGB."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if _profile_space(profile) != _PROFILE_SPACE_FOR_MODE.get(color.mode):
            return None
        if is_srgb_profile(profile):
            return color if color.mode == "RGB" else None
        transform = ImageCms.buildTransform(
            profile,
            ImageCms.createProfile("sRGB"),
            color.mode,
            "RGB",
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
            flags=ImageCms.Flags.BLACKPOINTCOMPENSATION,
        )
        return ImageCms.applyTransform(color, transform)
    except _ICC_ERRORS:
        return None


def _profile_space(profile: ImageCms.ImageCmsProfile) -> str:
    """The profile's data colour space as a short name ('RGB', 'GRAY', 'CMYK', 'LAB', ...)."""
    return (profile.profile.xcolor_space or "").strip().upper()


def is_srgb_profile(profile: ImageCms.ImageCmsProfile) -> bool:
    """True for an sRGB profile, so the common case skips a ~20 ms/MP identity transform.

    Both the description and the colorants must say sRGB: a profile merely named sRGB but
    with other primaries is still converted.
    """
    description = (profile.profile.profile_description or "").strip().lower()
    if not description.startswith("srgb"):
        return False
    red, green, blue = (
        profile.profile.red_colorant,
        profile.profile.green_colorant,
        profile.profile.blue_colorant,
    )
    if red is None or green is None or blue is None:
        return False
    colorants = (red, green, blue)
    for (xyz, _xyy), expected in zip(colorants, _SRGB_COLORANTS_D50, strict=True):
        if any(abs(value - want) > _COLORANT_TOLERANCE for value, want in zip(xyz, expected, strict=True)):
            return False
    return True


def _lab_to_srgb(lab: Image.Image) -> Image.Image:
    """CIELAB pixels (TIFF photometric 8) to sRGB with lcms' built-in Lab profile."""
    transform = ImageCms.buildTransform(
        ImageCms.createProfile("LAB"),
        ImageCms.createProfile("sRGB"),
        "LAB",
        "RGB",
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
    )
    converted = ImageCms.applyTransform(lab, transform)
    if converted is None:  # only with inPlace=True
        raise RuntimeError("lcms gave no image for a Lab transform")
    return converted


def srgb_profile_bytes() -> bytes:
    """The bytes of lcms' built-in sRGB profile (useful to tag outputs or build test profiles)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


__all__ = ["is_srgb_profile", "srgb_profile_bytes", "to_srgb"]

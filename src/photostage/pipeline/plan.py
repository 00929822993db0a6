"""From a validated request to a typed plan: canvas, placement, scene, seeds, output encoding.

Two values, each complete when made and never patched:

- :class:`Brief`, read from the request before any I/O (:func:`brief_for`), so a request that
  cannot be served (an unavailable model, a bad destination) is refused before anything is
  downloaded;
- :class:`Plan`, resolved once the inputs are decoded and the product cut out
  (:func:`resolve_plan`): the canvas (a template's aspect is known only then) and the scene with
  its template pixels and its written prompt.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from typing import Literal, TypedDict

import numpy as np

from photostage.contract import request as wire
from photostage.contract.errors import validation_error
from photostage.imaging.analysis import cached_analysis
from photostage.imaging.codecs import EncodeOptions
from photostage.imaging.geometry import PREFERENCE_AREA, canvas_size
from photostage.scenes.base import SceneSpec, ShadowSpec
from photostage.storage.naming import output_urls


@dataclass(frozen=True)
class Placement:
    mode: Literal["absolute", "original", "padding"]
    rotation: float = 0.0
    scale: float = 1.0
    position: tuple[float, float] = (0.5, 0.5)
    padding: wire.Margins | None = None  # CSS-like margins, % or px, resolved against the canvas
    position_given: bool = True  # False: the request left the position to us (a template may stand the product)


@dataclass(frozen=True)
class OutputSpec:
    encode: EncodeOptions
    count: int
    destination: str | None


@dataclass(frozen=True)
class PromptRequest:
    """A prompt to build from the product (`prompt: {generate: true}`), resolved after cut-out."""

    generate: bool = False
    guidelines: str | None = None


@dataclass(frozen=True)
class Brief:
    """What the request asks, read before any I/O."""

    request_id: str
    object_url: str
    template_url: str | None
    canvas: tuple[int, int] | None  # None: follows the template's aspect, known once it is decoded
    preference: str
    placement: Placement
    scene: SceneSpec  # without the template's pixels and without a prompt still to be written
    prompt_request: PromptRequest
    seeds: tuple[int, ...]
    output: OutputSpec
    remove_background: bool | None
    min_cutout_confidence: float | None = None  # the request's own minimum, if it set one


@dataclass(frozen=True)
class Plan:
    """Everything the per-image steps need, resolved once the inputs are decoded."""

    request_id: str
    canvas: tuple[int, int]
    placement: Placement
    scene: SceneSpec
    seeds: tuple[int, ...]
    output: OutputSpec


def hex_to_rgb(value: str) -> tuple[int, int, int]:
    digits = value.lstrip("#")
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def encode_options(output: wire.SceneCreateAPIOutputIn) -> EncodeOptions:
    fmt = output.format
    if isinstance(fmt, str):
        return EncodeOptions(format=fmt)
    if isinstance(fmt, wire.FormatJpegOptions):
        return EncodeOptions(format="jpeg", quality=fmt.quality, progressive=fmt.progressive)
    if isinstance(fmt, wire.FormatPngOptions):
        return EncodeOptions(format="png", png_compression=fmt.compression)
    compression = fmt.compression
    if isinstance(compression, str):
        return EncodeOptions(format=fmt.type, lossless=compression == "lossless")
    if compression.type == "lossless":
        return EncodeOptions(format=fmt.type, lossless=True)
    return EncodeOptions(format=fmt.type, quality=compression.quality)


def placement_of(obj: wire.SceneCreateAPIObjectAbsoluteIn | wire.SceneCreateAPIObjectOriginalIn
                 | wire.SceneCreateAPIObjectPaddingIn) -> Placement:
    if isinstance(obj, wire.SceneCreateAPIObjectPaddingIn):
        return Placement(mode="padding", padding=obj.margins)
    if isinstance(obj, wire.SceneCreateAPIObjectOriginalIn):
        return Placement(mode="original")
    return Placement(
        mode="absolute", rotation=float(obj.rotation_degree), scale=float(obj.scale),
        position=(obj.position.x, obj.position.y), position_given="position" in obj.model_fields_set,
    )


def _prompt_parts(prompt: wire.Prompt | None) -> tuple[str | None, PromptRequest]:
    if prompt is None:
        return None, PromptRequest()
    if isinstance(prompt, str):
        return prompt, PromptRequest()
    if prompt.generate:
        return None, PromptRequest(generate=True, guidelines=prompt.guidelines)
    return prompt.text, PromptRequest()


def _shadow(scene_shadow: wire.ShadowOptions | None) -> ShadowSpec:
    if scene_shadow is None:
        return ShadowSpec()
    return ShadowSpec(scene_shadow.enabled, scene_shadow.opacity, scene_shadow.softness, scene_shadow.light_angle)


class _CommonSpec(TypedDict):
    """The SceneSpec fields every kind of scene sets alike."""

    model: str
    shadow: ShadowSpec
    model_options: dict[str, object]
    harmonize: float


def scene_spec(scene: wire.SceneIn, model_options: dict[str, object]) -> tuple[SceneSpec, PromptRequest]:
    harmonize = scene.harmonize.strength if scene.harmonize is not None and scene.harmonize.enabled else 0.0
    common: _CommonSpec = {"model": scene.model, "shadow": _shadow(scene.shadow), "model_options": model_options,
                           "harmonize": harmonize}
    if isinstance(scene, wire.SceneCreateAPISceneBackgroundEffectIn):
        transparent = scene.color == "transparent"
        color = None if scene.color in (None, "transparent") else hex_to_rgb(scene.color)
        return SceneSpec(kind="effect", color=color, transparent=transparent, view=scene.view,
                         background_alpha=scene.background_alpha, **common), PromptRequest()
    if isinstance(scene, wire.SceneCreateAPISceneTemplateIn):
        text, prompt_request = _prompt_parts(scene.prompt)
        return SceneSpec(
            kind="template", prompt=text, negative_prompt=scene.negative_prompt,
            color=hex_to_rgb(scene.color) if scene.color else None, view=scene.view,
            template_mode=scene.template_mode, steps=scene.steps, **common,
        ), prompt_request
    text, prompt_request = _prompt_parts(scene.prompt)
    return SceneSpec(
        kind="prompt", prompt=text, negative_prompt=scene.negative_prompt,
        color=hex_to_rgb(scene.color) if scene.color else None, view="auto",
        steps=scene.steps, preference=scene.preference, **common,
    ), prompt_request


def seeds_for(seed: int | None, count: int) -> tuple[int, ...]:
    base = seed if seed is not None else secrets.randbits(32)
    return tuple((base + index * 7919) % 2**32 for index in range(count))


def check_destination(destination: str | None, count: int) -> None:
    """A destination is a storage URI or an http(s) URL (uploaded by PUT); a pre-signed URL
    (one with a query) names one object, so it takes one image."""
    if destination is None or destination.startswith("storage://"):
        return
    scheme = destination.split(":", 1)[0].lower()
    if scheme not in ("https", "http"):
        raise validation_error(
            "output.destination",
            "must be storage://<storage name>/<path> or an https:// URL the result is uploaded to by PUT",
        )
    try:
        output_urls(destination, "request", count, "png")
    except ValueError as error:
        raise validation_error("output.destination", str(error)) from None


def brief_for(request: wire.SceneCreateAPIIn, request_id: str, model_options: dict[str, object]) -> Brief:
    output = request.output_options
    check_destination(output.destination, output.number_of_images)
    spec, prompt_request = scene_spec(request.scene, model_options)
    scene = request.scene
    if isinstance(scene, wire.SceneCreateAPISceneTemplateIn):
        canvas, preference, template_url = None, "optimal", scene.template_url
    else:
        preference = getattr(scene, "preference", "optimal")
        canvas, template_url = canvas_size(scene.aspect_ratio, preference), None
    return Brief(
        request_id=request_id,
        object_url=request.object.image_url,
        template_url=template_url,
        canvas=canvas,
        preference=preference,
        placement=placement_of(request.object),
        scene=spec,
        prompt_request=prompt_request,
        seeds=seeds_for(scene.seed, output.number_of_images),
        output=OutputSpec(encode=encode_options(output), count=output.number_of_images,
                          destination=output.destination),
        remove_background=request.object.remove_background,
        min_cutout_confidence=request.object.min_cutout_confidence,
    )


def canvas_for_frame(frame_w: int, frame_h: int, preference: str = "optimal") -> tuple[int, int]:
    """A canvas with the frame's aspect at the preference's area, sides divisible by 8."""
    area = PREFERENCE_AREA[preference]
    width = (area * frame_w / frame_h) ** 0.5
    height = width * frame_h / frame_w
    return max(8, round(width / 8) * 8), max(8, round(height / 8) * 8)


def resolve_plan(brief: Brief, template: np.ndarray | None, prompt: str | None) -> Plan:
    """The plan once the inputs are decoded: ``template`` is its (h, w, 3) RGB pixels (the canvas
    then takes its aspect), ``prompt`` the scene prompt written for the product when one was asked
    for (``prompt: {generate: true}``)."""
    scene = brief.scene
    if template is not None:  # read once per template (remembered): its surface, light, colour, depth of field, noise
        scene = dataclasses.replace(scene, template=template, template_facts=cached_analysis(template))
    if prompt is not None:
        scene = dataclasses.replace(scene, prompt=prompt)
    canvas = brief.canvas
    if canvas is None:
        if template is None:
            raise ValueError("a brief without a canvas needs its template to resolve one")
        canvas = canvas_for_frame(template.shape[1], template.shape[0], brief.preference)
    return Plan(
        request_id=brief.request_id, canvas=canvas, placement=brief.placement, scene=scene, seeds=brief.seeds,
        output=brief.output,
    )

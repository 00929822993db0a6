"""The request of `POST /v1/scene/create`, model by model.

Class names follow Claid's published component names so the served OpenAPI document can be
checked against the contract one component at a time. ``extra="forbid"`` everywhere mirrors the
contract's ``additionalProperties: false``. Where the contract's prose is stricter than its schema,
we validate by the prose (``shared/contract/README.md``, "Known contradictions").
Fields marked *extension* are photostage's own, all optional.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)
from pydantic.json_schema import WithJsonSchema

from photostage.contract.colors import ACCEPTED_FORMS, ColorError, canonical, parse_color

PADDING_VALUE = re.compile(r"(\d+(?:\.\d+)?)(%|px)")
PADDING_FORMS = '"10%", "5% 25%", "40px", "10px 20px" or up to four values like CSS ("10px 5% 20px 5%")'

AspectRatio = Literal[
    "4:7", "7:9", "4:5", "1:1", "9:7", "19:13", "7:4", "16:9", "12:5",
    "21:9", "4:3", "3:2", "2:3", "5:4", "3:4", "9:16",
]
ASPECT_RATIOS: tuple[str, ...] = AspectRatio.__args__  # type: ignore[attr-defined]
ModelName = Literal["v1", "v2-beta", "v2"]
Preference = Literal["fast", "optimal", "best"]
TemplateMode = Literal["transform", "adjust", "lock"]
TemplateView = Literal["top", "front"]
EffectView = Literal["auto", "top", "front"]
MAX_URI_LENGTH = 4096


def check_uri_length(value: str) -> str:
    """URLs are 1–4096 characters (the contract); `data:` URIs, an extension, are bounded by the
    request body cap instead, since an inline image is rarely that small."""
    if not value:
        raise ValueError("must not be empty")
    if len(value) > MAX_URI_LENGTH and not value.startswith("data:"):
        raise ValueError(f"must be at most {MAX_URI_LENGTH} characters (data: URIs excepted)")
    return value


Uri = Annotated[
    str,
    AfterValidator(check_uri_length),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_URI_LENGTH, "format": "uri"}),
]
PromptText = Annotated[str, Field(min_length=3, max_length=2048)]
MAX_COLOR_CHARS = 64  # "rgba(255, 255, 255, 0.5)" and every colour name fit many times over
MAX_PADDING_CHARS = 64  # four CSS margins
NegativePrompt = Annotated[str, Field(min_length=3, max_length=2048)]
Steps = Annotated[int, Field(ge=1, lt=50)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1, description="Extension: makes the output reproducible.")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


TEXT_FORM, OBJECT_FORM = "text-form", "object-form"  # union tags; never field names (errors.field_path skips them)


def _text_or_object(value: Any) -> str:
    return TEXT_FORM if isinstance(value, str) else OBJECT_FORM


# Fields that are either a string or an object are told apart by the JSON type alone
# (``Discriminator(_text_or_object)``), so an error inside the object is reported once, not beside
# a misleading "Input should be a valid string" about the other branch.
TEXT_OR_OBJECT = Discriminator(_text_or_object)


def check_scene_color(value: str) -> str:
    """The main colour of a prompt or template scene: any accepted form, opaque (an alpha has no
    meaning for a colour that steers the scene's palette). Canonical ``#rrggbb``."""
    try:
        rgba = parse_color(value)
    except ColorError as error:
        raise ValueError(str(error)) from None
    if rgba[3] != 255:
        raise ValueError(
            "the main colour of a prompt or template scene must be opaque; transparency applies to effect "
            'scene backgrounds only (scene.effect "shadows" with color "transparent" or "#rrggbbaa")'
        )
    return canonical(rgba)


def check_background_color(value: str) -> str:
    """An effect scene's background: any accepted form; fully transparent reads as
    ``"transparent"``, partly transparent as ``#rrggbbaa``."""
    try:
        rgba = parse_color(value)
    except ColorError as error:
        raise ValueError(str(error)) from None
    return "transparent" if rgba[3] == 0 else canonical(rgba)


@dataclass(frozen=True)
class Margins:
    """CSS-like padding resolved against an input: each side is a fraction of the canvas side
    (``%``) or pixels of the output canvas (``px``)."""

    top: tuple[float, str]
    right: tuple[float, str]
    bottom: tuple[float, str]
    left: tuple[float, str]

    def fractions(self, width: int, height: int) -> tuple[float, float, float, float]:
        """(top, right, bottom, left) as fractions of the canvas height/width."""

        def fraction(side: tuple[float, str], extent: int) -> float:
            number, unit = side
            return number / 100 if unit == "%" else number / extent

        return (fraction(self.top, height), fraction(self.right, width),
                fraction(self.bottom, height), fraction(self.left, width))


def parse_padding(value: str) -> Margins:
    """One to four CSS lengths in ``%`` or ``px``: ``"10%"`` (all sides), ``"5% 25%"`` (vertical,
    horizontal), ``"10px 5% 20px"`` (top, horizontal, bottom), ``"1% 2% 3% 4%"`` (top, right,
    bottom, left). Percentages are at most 50 (Claid: "at most half the side"); margins that leave
    almost no room (``"50%"``, or pixels beyond the canvas) leave the smallest object the contract
    allows, 1% of the side (``imaging.geometry.MIN_ROOM``)."""
    parts = value.split()
    matches = [PADDING_VALUE.fullmatch(part) for part in parts]
    if not 1 <= len(parts) <= 4 or not all(matches):
        raise ValueError(f"must be one to four margins in % or px: {PADDING_FORMS}")
    sides = [(float(m.group(1)), m.group(2)) for m in matches if m is not None]
    top, right, bottom, left = {
        1: lambda s: (s[0], s[0], s[0], s[0]),
        2: lambda s: (s[0], s[1], s[0], s[1]),
        3: lambda s: (s[0], s[1], s[2], s[1]),
        4: lambda s: (s[0], s[1], s[2], s[3]),
    }[len(sides)](sides)
    if any(side[1] == "%" and side[0] > 50 for side in sides):
        raise ValueError("each margin may be at most 50% of its side")
    return Margins(top, right, bottom, left)


# ----------------------------------------------------------------------------------- output
class FormatJpegOptions(_Strict):
    type: Literal["jpeg"]
    quality: int = Field(85, ge=1, le=100)
    progressive: bool = True


class FormatPngOptions(_Strict):
    type: Literal["png"]
    compression: Literal["fast", "best", "optimal"] = "optimal"


class WebpLossyCompressionOptions(_Strict):
    type: Literal["lossy"]
    quality: int = Field(75, ge=1, le=100)


class WebpLosslessCompressionOptions(_Strict):
    type: Literal["lossless"]


class FormatWebpOptions(_Strict):
    type: Literal["webp"]
    compression: Annotated[
        Annotated[Literal["lossy", "lossless"], Tag(TEXT_FORM)]
        | Annotated[WebpLossyCompressionOptions | WebpLosslessCompressionOptions, Field(discriminator="type"),
                    Tag(OBJECT_FORM)],
        TEXT_OR_OBJECT,
    ] = Field(default_factory=lambda: WebpLossyCompressionOptions(type="lossy", quality=75))


class AvifLossyCompressionOptions(_Strict):
    type: Literal["lossy"]
    quality: int = Field(50, ge=1, le=100)


class AvifLosslessCompressionOptions(_Strict):
    type: Literal["lossless"]


class FormatAvifOptions(_Strict):
    type: Literal["avif"]
    compression: Annotated[
        Annotated[Literal["lossy", "lossless"], Tag(TEXT_FORM)]
        | Annotated[AvifLossyCompressionOptions | AvifLosslessCompressionOptions, Field(discriminator="type"),
                    Tag(OBJECT_FORM)],
        TEXT_OR_OBJECT,
    ] = Field(default_factory=lambda: AvifLossyCompressionOptions(type="lossy", quality=50))


FormatEnum = Literal["jpeg", "png", "webp", "avif", "tiff"]
FormatOptions = Annotated[
    FormatJpegOptions | FormatPngOptions | FormatWebpOptions | FormatAvifOptions,
    Field(discriminator="type"),
]


class SceneCreateAPIOutputIn(_Strict):
    number_of_images: int = Field(4, ge=1, le=4)
    destination: Uri | None = None
    format: Annotated[
        Annotated[FormatEnum, Tag(TEXT_FORM)] | Annotated[FormatOptions, Tag(OBJECT_FORM)], TEXT_OR_OBJECT
    ] = "png"

    @property
    def format_name(self) -> str:
        return self.format if isinstance(self.format, str) else self.format.type


# ----------------------------------------------------------------------------------- object
class ObjectPosition(_Strict):
    x: float = Field(0.5, ge=0, le=1, description="0 = left edge, 1 = right edge (centre of the object box).")
    y: float = Field(0.5, ge=0, le=1, description="0 = top edge, 1 = bottom edge (centre of the object box).")


class _ObjectCommon(_Strict):
    image_url: Uri
    remove_background: bool | None = Field(
        None,
        description="Extension: cut the product out of an opaque photo (true), never (false), "
        "or let the server decide (omitted: inputs without transparency are cut out).",
    )
    min_cutout_confidence: float | None = Field(
        None, ge=0, le=1,
        description="Extension: the least confidence (0-1) an automatic cut-out must have, or the request is "
        "refused (422, code 3021) rather than staged with a doubtful cut-out; omitted: the server's "
        "cutout.min_confidence (0.5). 0 keeps the cut-out whatever its confidence.",
    )


class SceneCreateAPIObjectAbsoluteIn(_ObjectCommon):
    placement_type: Literal["absolute"] = "absolute"
    rotation_degree: float = Field(0, ge=0, le=360, description="Clockwise, about the object's centre.")
    scale: float = Field(
        1, ge=0.01, le=1, description="Fraction of the canvas the object box may fill on its limiting side."
    )
    position: ObjectPosition = Field(default_factory=ObjectPosition)


class SceneCreateAPIObjectOriginalIn(_ObjectCommon):
    placement_type: Literal["original"]


class SceneCreateAPIObjectPaddingIn(_ObjectCommon):
    placement_type: Literal["padding"]
    padding: str = Field(max_length=MAX_PADDING_CHARS)

    @field_validator("padding")
    @classmethod
    def _padding(cls, value: str) -> str:
        parse_padding(value)
        return value.strip()

    @property
    def margins(self) -> Margins:
        return parse_padding(self.padding)


def _object_tag(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("placement_type", "absolute"))
    return str(getattr(value, "placement_type", "absolute"))


ObjectIn = Annotated[
    Annotated[SceneCreateAPIObjectAbsoluteIn, Tag("absolute")]
    | Annotated[SceneCreateAPIObjectOriginalIn, Tag("original")]
    | Annotated[SceneCreateAPIObjectPaddingIn, Tag("padding")],
    Discriminator(_object_tag, custom_error_type="placement_type",
                  custom_error_message="placement_type must be absolute, original or padding"),
]


# ----------------------------------------------------------------------------------- scene
class ScenePromptAdvancedIn(_Strict):
    text: PromptText | None = None
    generate: bool = False
    guidelines: Annotated[str, Field(min_length=3, max_length=1000)] | None = None

    @model_validator(mode="after")
    def _exclusive(self) -> ScenePromptAdvancedIn:
        if self.text is not None and self.generate:
            raise ValueError("text and generate=true are exclusive")
        if self.guidelines is not None and not self.generate:
            raise ValueError("guidelines need generate=true")
        if self.text is None and not self.generate:
            raise ValueError("give text, or generate=true")
        return self


Prompt = Annotated[
    Annotated[PromptText, Tag(TEXT_FORM)] | Annotated[ScenePromptAdvancedIn, Tag(OBJECT_FORM)], TEXT_OR_OBJECT
]


class ShadowOptions(_Strict):
    """Extension: shadow controls."""

    enabled: bool = True
    opacity: float = Field(0.6, ge=0, le=1, description="Darkness of the shadow at its densest.")
    softness: float = Field(0.5, ge=0, le=1, description="0 = hard edges, 1 = very diffuse.")
    light_angle: float | None = Field(
        None, ge=0, le=360, description="Direction the light comes from, degrees clockwise from top."
    )


class HarmonizeOptions(_Strict):
    """Extension: let the product take the scene's light — white balance and exposure toward the
    scene, the scene's light wrapped around its edge, the scene's grain. Off unless asked: it
    changes the product's own pixels (the exact-pixel guarantee holds only without it)."""

    enabled: bool = True
    strength: float = Field(0.5, ge=0, le=1, description="0 = the product as it is, 1 = fully the scene's light.")


class _SceneCommon(_Strict):
    model: ModelName = "v1"
    seed: Seed | None = None
    shadow: ShadowOptions | None = None
    harmonize: HarmonizeOptions | None = None


class SceneCreateAPIScenePromptIn(_SceneCommon):
    prompt: Prompt
    negative_prompt: NegativePrompt | None = None
    steps: Steps | None = None
    color: str | None = Field(
        None, max_length=MAX_COLOR_CHARS, description=f"Main colour of the scene: {ACCEPTED_FORMS[:-19]} (opaque)."
    )
    aspect_ratio: AspectRatio = "1:1"
    preference: Preference = "optimal"

    _color = field_validator("color")(lambda cls, v: None if v is None else check_scene_color(v))


class SceneCreateAPISceneTemplateIn(_SceneCommon):
    template_url: Uri
    view: TemplateView
    template_mode: TemplateMode = "transform"
    prompt: Prompt | None = None
    negative_prompt: NegativePrompt | None = None
    steps: Steps | None = None
    color: str | None = Field(
        None, max_length=MAX_COLOR_CHARS, description=f"Main colour of the scene: {ACCEPTED_FORMS[:-19]} (opaque)."
    )

    _color = field_validator("color")(lambda cls, v: None if v is None else check_scene_color(v))


EffectColor = Annotated[
    str,
    Field(max_length=MAX_COLOR_CHARS),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "maxLength": MAX_COLOR_CHARS}, {"type": "string", "enum": ["transparent"]}]}
    ),
]


class SceneCreateAPISceneBackgroundEffectIn(_SceneCommon):
    effect: Literal["shadows"]
    color: EffectColor | None = Field(
        None,
        description=f"Background colour: {ACCEPTED_FORMS}. Transparency (\"transparent\", #rrggbbaa, rgba()) "
        "needs a format with alpha.",
    )
    view: EffectView = "auto"
    aspect_ratio: AspectRatio = "1:1"

    @field_validator("color")
    @classmethod
    def _color(cls, value: str | None) -> str | None:
        return None if value is None else check_background_color(value)

    @property
    def background_alpha(self) -> int:
        """255 opaque, 0 transparent, between for a ``#rrggbbaa`` background."""
        if self.color is None:
            return 255
        return 0 if self.color == "transparent" else parse_color(self.color)[3]


def _scene_tag(value: Any) -> str:
    fields = value if isinstance(value, dict) else getattr(value, "__dict__", {})
    if "effect" in fields:
        return "effect"
    if "template_url" in fields:
        return "template"
    return "prompt"


SceneIn = Annotated[
    Annotated[SceneCreateAPISceneBackgroundEffectIn, Tag("effect")]
    | Annotated[SceneCreateAPIScenePromptIn, Tag("prompt")]
    | Annotated[SceneCreateAPISceneTemplateIn, Tag("template")],
    Discriminator(_scene_tag),
]


# ----------------------------------------------------------------------------------- request
class SceneCreateAPIIn(_Strict):
    object: ObjectIn
    scene: SceneIn
    output: Annotated[
        Annotated[SceneCreateAPIOutputIn, Tag(OBJECT_FORM)] | Annotated[Uri, Tag(TEXT_FORM)], TEXT_OR_OBJECT
    ] = Field(
        default_factory=lambda: SceneCreateAPIOutputIn(number_of_images=4, format="png")
    )

    @property
    def output_options(self) -> SceneCreateAPIOutputIn:
        """The output as an object: a bare URI string means the destination."""
        if isinstance(self.output, str):
            return SceneCreateAPIOutputIn(destination=self.output)
        return self.output

    @model_validator(mode="after")
    def _transparent_needs_png(self) -> SceneCreateAPIIn:
        scene = self.scene
        if (
            isinstance(scene, SceneCreateAPISceneBackgroundEffectIn)
            and scene.background_alpha < 255
            and self.output_options.format_name not in ("png", "webp", "avif", "tiff")
        ):
            raise ValueError("a transparent background colour needs an output format with alpha (png, webp, avif)")
        return self

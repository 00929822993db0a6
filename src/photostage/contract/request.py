"""The request of `POST /v1/scene/create`, model by model.

Class names follow Claid's published component names so the served OpenAPI document can be
checked against the contract one component at a time. ``extra="forbid"`` everywhere mirrors the
contract's ``additionalProperties: false``. Where the contract's prose is stricter than its schema,
we validate by the prose (``shared/contract/README.md``, "Known contradictions").
Fields marked *extension* are photostage's own, all optional.
"""

from __future__ import annotations

import re
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

HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
PADDING = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s*(?:\s(\d+(?:\.\d+)?)%\s*)?$")

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
NegativePrompt = Annotated[str, Field(min_length=3, max_length=2048)]
Steps = Annotated[int, Field(ge=1, lt=50)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1, description="Extension: makes the output reproducible.")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_hex_color(value: str) -> str:
    if not HEX_COLOR.match(value):
        raise ValueError("must be a hex colour, #rgb or #rrggbb")
    return value.lower()


def parse_padding(value: str) -> tuple[float, float]:
    """`"10%"` → (0.1, 0.1); `"5% 25%"` → (vertical 0.05, horizontal 0.25)."""
    match = PADDING.match(value)
    if not match:
        raise ValueError('must be "N%" or "V% H%", e.g. "10%" or "5% 25%"')
    vertical = float(match.group(1)) / 100
    horizontal = float(match.group(2)) / 100 if match.group(2) is not None else vertical
    if vertical >= 0.5 or horizontal >= 0.5:
        raise ValueError("each margin must be less than 50% so the object keeps some room")
    return vertical, horizontal


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
    compression: (
        Literal["lossy", "lossless"]
        | Annotated[
            WebpLossyCompressionOptions | WebpLosslessCompressionOptions, Field(discriminator="type")
        ]
    ) = Field(default_factory=lambda: WebpLossyCompressionOptions(type="lossy", quality=75))


class AvifLossyCompressionOptions(_Strict):
    type: Literal["lossy"]
    quality: int = Field(50, ge=1, le=100)


class AvifLosslessCompressionOptions(_Strict):
    type: Literal["lossless"]


class FormatAvifOptions(_Strict):
    type: Literal["avif"]
    compression: (
        Literal["lossy", "lossless"]
        | Annotated[
            AvifLossyCompressionOptions | AvifLosslessCompressionOptions, Field(discriminator="type")
        ]
    ) = Field(default_factory=lambda: AvifLossyCompressionOptions(type="lossy", quality=50))


FormatEnum = Literal["jpeg", "png", "webp", "avif", "tiff"]
FormatOptions = Annotated[
    FormatJpegOptions | FormatPngOptions | FormatWebpOptions | FormatAvifOptions,
    Field(discriminator="type"),
]


class SceneCreateAPIOutputIn(_Strict):
    number_of_images: int = Field(4, ge=1, le=4)
    destination: Uri | None = None
    format: FormatEnum | FormatOptions = "png"

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
    padding: str

    @field_validator("padding")
    @classmethod
    def _padding(cls, value: str) -> str:
        parse_padding(value)
        return value.strip()

    @property
    def margins(self) -> tuple[float, float]:
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


Prompt = PromptText | ScenePromptAdvancedIn


class ShadowOptions(_Strict):
    """Extension: shadow controls."""

    enabled: bool = True
    opacity: float = Field(0.6, ge=0, le=1, description="Darkness of the shadow at its densest.")
    softness: float = Field(0.5, ge=0, le=1, description="0 = hard edges, 1 = very diffuse.")
    light_angle: float | None = Field(
        None, ge=0, le=360, description="Direction the light comes from, degrees clockwise from top."
    )


class _SceneCommon(_Strict):
    model: ModelName = "v1"
    seed: Seed | None = None
    shadow: ShadowOptions | None = None


class SceneCreateAPIScenePromptIn(_SceneCommon):
    prompt: Prompt
    negative_prompt: NegativePrompt | None = None
    steps: Steps | None = None
    color: str | None = Field(None, description="Main colour of the scene, #rgb or #rrggbb.")
    aspect_ratio: AspectRatio = "1:1"
    preference: Preference = "optimal"

    _color = field_validator("color")(lambda cls, v: None if v is None else check_hex_color(v))


class SceneCreateAPISceneTemplateIn(_SceneCommon):
    template_url: Uri
    view: TemplateView
    template_mode: TemplateMode = "transform"
    prompt: Prompt | None = None
    negative_prompt: NegativePrompt | None = None
    steps: Steps | None = None
    color: str | None = Field(None, description="Main colour of the scene, #rgb or #rrggbb.")

    _color = field_validator("color")(lambda cls, v: None if v is None else check_hex_color(v))


EffectColor = Annotated[
    str, WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "string", "enum": ["transparent"]}]})
]


class SceneCreateAPISceneBackgroundEffectIn(_SceneCommon):
    effect: Literal["shadows"]
    color: EffectColor | None = Field(
        None, description='Background colour, #rgb or #rrggbb, or "transparent" (needs a format with alpha).'
    )
    view: EffectView = "auto"
    aspect_ratio: AspectRatio = "1:1"

    @field_validator("color")
    @classmethod
    def _color(cls, value: str | None) -> str | None:
        if value is None or value == "transparent":
            return value
        return check_hex_color(value)


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
    output: SceneCreateAPIOutputIn | Uri = Field(
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
            and scene.color == "transparent"
            and self.output_options.format_name not in ("png", "webp", "avif", "tiff")
        ):
            raise ValueError('color "transparent" needs an output format with alpha (png, webp, avif)')
        return self

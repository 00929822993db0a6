"""The cut-out preview (extension, not Claid's): what the server will cut out of an input, before
a scene is generated, so a client (the playground) can show the mask and place the product's
real box rather than the whole frame."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from photostage.contract.request import Uri


class CutoutPreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_url: Uri = Field(description="The product image, as in object.image_url (https, storage://, data:).")
    remove_background: bool | None = Field(
        None, description="As object.remove_background: true, false (use the image as it is), or omitted (auto)."
    )
    min_cutout_confidence: float | None = Field(
        None, ge=0, le=1, description="As object.min_cutout_confidence: below it the preview is refused (422, "
        "code 3021) as the scene would be; omitted: the server's cutout.min_confidence."
    )


class CutoutPreviewOut(BaseModel):
    width: int = Field(description="Width of the input as decoded (EXIF orientation applied).")
    height: int
    box: tuple[int, int, int, int] = Field(
        description="The product's box (x0, y0, x1, y1; exclusive ends) in input pixels: what placement scales."
    )
    removed: bool = Field(description="Whether the background was removed (false: the input is used as it is).")
    engine: str = Field(description="alpha (transparency used as is), or the cut-out engine that ran.")
    mask: str = Field(description="The alpha mask as a data:image/png URI, at most mask_size pixels on its long side.")
    mask_size: tuple[int, int] = Field(description="Width and height of the mask image.")
    confidence: float = Field(1.0, description="How far the cut-out can be trusted, 0-1 (1 for the input's own "
                              "transparency); below the server's or the request's minimum it is refused.")
    reasons: list[str] = Field(default_factory=list, description="What lowered the confidence, worst first.")


class Response_CutoutPreviewOut_(BaseModel):  # noqa: N801 - named like the contract's envelopes
    data: CutoutPreviewOut

"""The typed values the pipeline's steps work on.

:class:`SceneWork` is one request on its way through the steps and :class:`ImageWork` one of its
output images; each step fills the fields it owns, in the order of the step list, so a field is
read only after the step that makes it has run (reading it earlier is a bug, and fails loudly).
:class:`Tools` is what the steps work with: the server's parts and this run's result sink.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from photostage.config import LimitsSettings
from photostage.contract.request import SceneCreateAPIIn
from photostage.contract.response import PipelineOutputObject
from photostage.cutout.base import Cutout, CutoutEngine
from photostage.cutout.quality import Confidence
from photostage.imaging.codecs import DecodedImage, EncodedImage
from photostage.pipeline.plan import Brief, Plan
from photostage.scenes.base import Each, PlacedObject, RenderControl, RenderedScene, RenderJob, SceneEngine
from photostage.scenes.registry import SceneEngines
from photostage.storage.base import Connector


class Storages(Protocol):
    def resolve(self, account_id: int, name: str) -> Connector: ...


class TmpResult(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def url(self) -> str: ...


class TmpResults(Protocol):
    """Where results without a destination go: signed temporary URLs (or files, for the CLI)."""

    def put(self, data: bytes, ext: str, request_id: str, index: int) -> TmpResult: ...


SourceReader = Callable[[str, int, str], bytes]  # (url, account id, field name) -> bytes
Uploader = Callable[[str, bytes, str], object]  # (url, data, media type): one guarded PUT


@dataclass(frozen=True)
class Tools:
    limits: LimitsSettings
    cutout_mode: Literal["auto", "always", "never"]
    cutout_min_confidence: float
    read_source: SourceReader
    upload: Uploader
    cutout_engine: CutoutEngine
    engines: SceneEngines
    storages: Storages
    results: TmpResults
    each: Each  # maps a function over items on the runner's thread pool


@dataclass
class ImageWork:
    """One output image."""

    job: RenderJob
    rendered: RenderedScene  # by the render step
    background: np.ndarray = field(init=False)  # shadow: the scene with the product's shadow
    layer: np.ndarray = field(init=False)  # harmonise: the product layer as it is composited
    pixels: np.ndarray = field(init=False)  # composite: the finished picture
    encoded: EncodedImage = field(init=False)  # encode

    def release_pixels(self) -> None:
        """Drop the full-size arrays once the image is encoded (four 2 MP images would otherwise
        be held until the request ends)."""
        for name in ("rendered", "background", "layer", "pixels"):
            self.__dict__.pop(name, None)


@dataclass
class SceneWork:
    """One request; the comments name the step that fills each field."""

    request: SceneCreateAPIIn
    account_id: int
    request_id: str
    control: RenderControl = field(default_factory=RenderControl)  # the runner: deadline, client, job
    brief: Brief = field(init=False)  # validate
    engine: SceneEngine = field(init=False)  # validate
    object_bytes: bytes = field(init=False)  # fetch
    template_bytes: bytes | None = field(init=False)  # fetch
    image: DecodedImage = field(init=False)  # decode
    template: DecodedImage | None = field(init=False)  # decode
    cutout: Cutout = field(init=False)  # cutout
    cutout_confidence: Confidence = field(init=False)  # check_cutout
    plan: Plan = field(init=False)  # plan
    product: PlacedObject = field(init=False)  # place
    images: list[ImageWork] = field(init=False)  # render
    outputs: list[PipelineOutputObject] = field(init=False)  # store
    # what the response says beyond timings
    notes: dict[str, float | str | list[str] | dict[str, object]] = field(default_factory=dict)


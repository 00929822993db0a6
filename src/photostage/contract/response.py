"""The 200 response of `POST /v1/scene/create` (Claid's `ScenePipelineResponseOut`), and of the
`GET /v1/models` extension."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PipelineInputObject(BaseModel):
    ext: str
    mps: float
    mime: str
    format: str
    width: int
    height: int


class PipelineOutputObject(BaseModel):
    ext: str
    mps: float
    mime: str
    format: str
    width: int
    height: int
    tmp_url: str = ""
    object_key: str = ""
    object_bucket: str = ""
    object_uri: str = ""
    claid_storage_uri: str = ""


class ScenePipelineResponseOut(BaseModel):
    input: PipelineInputObject
    output: list[PipelineOutputObject]
    profiling: dict[str, float] = Field(
        default_factory=dict, description="Milliseconds spent in each pipeline stage."
    )


class Response_ScenePipelineResponseOut_(BaseModel):  # noqa: N801 - Claid's component name
    data: ScenePipelineResponseOut


class ModelOut(BaseModel):
    """One row of ``GET /v1/models``: a model name, its engine, and whether it can run here."""

    name: str
    engine: str
    available: bool


class ModelsOut(BaseModel):
    data: list[ModelOut]

"""The 200 response of `POST /v1/scene/create` (Claid's `ScenePipelineResponseOut`), and of the
`GET /v1/models` extension."""

from __future__ import annotations

from typing import Any, Literal

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
    profiling: dict[str, Any] = Field(
        default_factory=dict,
        description="Milliseconds spent in each pipeline stage; and notes: `prompt_unused_words` (the prompt's"
        " words the scene engine did not follow), `prompt_reading` (`embedding` or `keywords`), "
        "`cutout_engine` (the cut-out engine that ran; `alpha`: the input's transparency was used) and "
        "`cutout_confidence` (`{confidence: 0-1, reasons: [{code, score, message}]}`), "
        "`product_enlargement` (the linear factor the product's own pixels were resized by; above 1: "
        "enlarged) and, past 1.5, `product_enlargement_notice` (the product will look soft, and what to do).",
    )


class Response_ScenePipelineResponseOut_(BaseModel):  # noqa: N801 - Claid's component name
    data: ScenePipelineResponseOut


class ModelOut(BaseModel):
    """One row of ``GET /v1/models``: a model name, its engine, whether it can run here, and (from
    ``device`` on) where and how: engines with weights say whether they are loaded, and warn when
    they run somewhere slow (``auto`` without a GPU runs diffusion on the CPU)."""

    name: str
    engine: str
    available: bool
    device: str | None = Field(None, description="Where the engine computes: cpu, cuda:0, mps.")
    dtype: str | None = Field(None, description="Number format of the weights (once loaded).")
    weights: Literal["idle", "loading", "ready", "failed"] | None = Field(
        None, description="Engines with weights: not loaded yet, loading, in memory, or failed to load."
    )
    memory: str | None = Field(None, description="The memory plan the weights were placed with.")
    warning: str | None = None
    reason: str | None = Field(None, description="Why the model is not available here.")


class ModelsOut(BaseModel):
    data: list[ModelOut]

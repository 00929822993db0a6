"""Settings, one section per subsystem, read from the environment (``PHOTOSTAGE_*``, nested with
``__``, e.g. ``PHOTOSTAGE_SOURCES__ALLOW_HOSTS='["127.0.0.1"]'``) or built in code, validated at
start. Defaults are the embedded setup of ``make run``: SQLite, local storage, built-in engines,
everything under one data directory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from photostage.secretfiles import read_or_create_secret

DEVICE_NAME = re.compile(r"^(auto|cpu|cuda|mps)(?::(\d{1,3}))?$")  # the diffusion engine's device names
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev"}


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    public_url: str | None = Field(
        None, description="Base URL clients reach this server at; used in tmp_url. Default http://host:port."
    )
    max_body_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="Largest request body accepted (inline data: images count)."
    )
    max_json_depth: int = Field(32, ge=4)
    shutdown_grace_s: float = Field(
        30.0, ge=0, description="On SIGTERM: how long in-flight requests may finish before the API exits."
    )
    metrics: bool = Field(True, description="Serve Prometheus metrics at /metrics (restrict it at the proxy).")

    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class LimitsSettings(BaseModel):
    max_input_bytes: int = Field(50 * 1024 * 1024, ge=1024)
    max_input_pixels: int = Field(64_000_000, ge=1024, description="Decode refuses images above this.")
    request_deadline_s: float = Field(300.0, gt=0)
    workers: int = Field(2, ge=1, le=64, description="Threads for per-image work inside one request.")


class SourcesSettings(BaseModel):
    allow_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts, IPs or CIDR ranges that may be fetched even though they are loopback/private.",
    )
    allow_http: bool = True
    timeout_s: float = Field(20.0, gt=0)
    max_redirects: int = Field(5, ge=0, le=20)
    allow_data_uris: bool = True


class LocalConnectorSettings(BaseModel):
    type: Literal["local"] = "local"
    root: Path


class StorageSettings(BaseModel):
    connectors: dict[str, LocalConnectorSettings] = Field(
        default_factory=dict,
        description="Server-wide storage connectors by name; every account gets its own namespace in each "
        "(`<root>/accounts/<account id>/`). Default: `local` under the data directory.",
    )
    legacy_owner: int | None = Field(
        None,
        ge=0,
        description="The one account that may read (not write) the files of a server-wide connector outside "
        "the account namespaces: files written before namespaces existed, and files the operator puts there "
        "(`photostage sample`). Default: the first account (lowest id); 0: no account.",
    )
    encryption_key: str | None = Field(
        None, description="Key for credentials at rest; generated under the data directory if unset."
    )


class TmpS3Settings(BaseModel):
    bucket: str
    prefix: str = "tmp"
    endpoint_url: str | None = Field(None, description="An S3-compatible store (MinIO, R2, Ceph); default AWS.")
    region: str | None = None
    key: str | None = None
    secret: str | None = None


class TmpSettings(BaseModel):
    ttl_s: int = Field(24 * 3600, ge=1)
    signing_key: str | None = Field(
        None, description="HMAC key for signed tmp URLs; unset: one made once and kept in the database, "
        "shared by every process of it.",
    )
    sweep_interval_s: float = Field(600.0, gt=0)
    store: Literal["auto", "local", "database", "s3"] = Field(
        "auto", description="Where temporary results live: local (the data dir; one host), database (any "
        "API process serves them), s3 (tmp.s3's bucket). auto: local with SQLite, database otherwise.",
    )
    s3: TmpS3Settings | None = None

    def backend(self, database_url: str) -> str:
        if self.store != "auto":
            return self.store
        return "local" if database_url.startswith("sqlite") else "database"


InitSource = Literal["studio", "neutral"]
TemplateCall = Literal["auto", "img2img", "inpaint"]
DEFAULT_PROMPT_SUFFIX = "professional product photography, photorealistic, soft natural light, high detail"
DEFAULT_NEGATIVE_PROMPT = (
    "text, watermark, logo, extra products, duplicate objects, people, hands, "
    "blurry, lowres, deformed, cartoon"
)


class DiffusionOptions(BaseModel):
    """Per-model settings of the diffusion engine (``engines.models.<name>.options``); every field
    has a working default, a misspelt or out-of-range one fails the start.

    * ``steps`` — denoising steps when the request gives none (a request's ``steps`` wins).
    * ``guidance_scale`` — classifier-free guidance: how literally the prompt is followed.
    * ``strength_prompt`` — share of the init image repainted in prompt scenes (1 = all of it:
      the studio layout is then ignored; below 1 the model keeps its floor line and light).
    * ``strength_transform`` / ``strength_adjust`` — the same for template scenes.
    * ``scheduler`` — a diffusers scheduler class compatible with the weights, e.g.
      ``DPMSolverMultistepScheduler``; ``None`` keeps the one saved with the weights.
    * ``max_side`` — longest side the model renders at; the result is upscaled to the canvas.
      ``None``: the model's native area (512² for SD 1.5, 1024² for SDXL), never above the canvas.
    * ``init`` — the backdrop the model starts from: the ``studio`` engine's render of the same
      prompt (consistent floor, light and shadows) or a ``neutral`` flat colour.
    * ``protect_band`` — the band around the product the model may not paint, as a share of the
      product's size (geometric mean of its box sides) at render size.
    * ``mask_margin`` — the least width of that band, in pixels at render size.
    * ``outline_check`` — check each result for paint that continues the product's outline past
      the band; a flagged image is painted once more with a band twice as wide and another seed,
      then the request fails (422) rather than return it.
    * ``outline_threshold`` — how much continued outline is tolerated, as a share of the product's size.
    * ``template_call`` — how template scenes are painted: ``img2img`` (the template restyled, where
      the weights can: text-to-image SD/SDXL), ``inpaint`` (around the held product), ``auto`` (img2img
      where possible).
    * ``controlnet_scale`` — conditioning scale of the ControlNet when one is configured (Canny
      edges of the init image hold the template's structure and the product's outline); 0: unused.
    * ``max_batch`` — most images generated in one pipeline call; the memory plan may allow fewer.
    * ``prompt_suffix`` / ``negative_prompt`` — appended to every request's prompt / negative.
    * ``light_wrap`` — how much of the scene's light spills onto the product's soft edge.

    Strict: ``"30"`` is not a number and ``true`` not an integer (a typo in a JSON setting fails).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    steps: int = Field(30, ge=1, le=200)
    guidance_scale: float = Field(7.5, ge=0.0, le=30.0)
    strength_prompt: float = Field(0.9, gt=0.0, le=1.0)
    strength_transform: float = Field(0.75, gt=0.0, le=1.0)
    strength_adjust: float = Field(0.35, gt=0.0, le=1.0)
    scheduler: str | None = None
    max_side: int | None = Field(None, ge=32, le=8192)
    init: InitSource = "studio"
    protect_band: float = Field(0.04, ge=0.0, le=0.5)
    mask_margin: int = Field(4, ge=0, le=64)
    outline_check: bool = True
    outline_threshold: float = Field(0.25, ge=0.01, le=10.0)
    template_call: TemplateCall = "auto"
    controlnet_scale: float = Field(0.8, ge=0.0, le=2.0)
    max_batch: int = Field(4, ge=1, le=64)
    prompt_suffix: str = DEFAULT_PROMPT_SUFFIX
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    light_wrap: float = Field(0.35, ge=0.0, le=1.0)


class StudioOptions(BaseModel):
    """The built-in studio engine takes no per-model options: any key is a mistake."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StudioModel(BaseModel):
    """A model rendered by the built-in, procedural ``studio`` engine (CPU, no weights)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    engine: Literal["studio"] = "studio"
    options: StudioOptions = Field(default_factory=StudioOptions)


class DiffusionModel(BaseModel):
    """A model rendered by the ``diffusion`` engine (the weights of ``engines.diffusion_path``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    engine: Literal["diffusion"] = "diffusion"
    options: DiffusionOptions = Field(default_factory=DiffusionOptions)


# One entry of the model table, told apart by its ``engine``.
ModelConfig = Annotated[StudioModel | DiffusionModel, Field(discriminator="engine")]
ENGINE_NAMES = ("studio", "diffusion")


@dataclass(frozen=True)
class ModelEntry:
    """The scene registry's view of a model: an engine name and its options as given. Any engine
    name goes here (tests register engines of their own); the settings' table is the typed one."""

    engine: str
    options: Mapping[str, object] = field(default_factory=dict)


def model_entry(model: StudioModel | DiffusionModel) -> ModelEntry:
    return ModelEntry(model.engine, model.options.model_dump(exclude_unset=True))


def default_models(diffusion: bool = False) -> dict[str, StudioModel | DiffusionModel]:
    """The table when none is configured: every model on the studio engine, except ``v2`` on the
    diffusion engine when weights are configured (``engines.diffusion_path``)."""
    models: dict[str, StudioModel | DiffusionModel] = {name: StudioModel() for name in ("v1", "v2-beta", "v2")}
    if diffusion:
        models["v2"] = DiffusionModel()
    return models


def describe_option_errors(errors: list[ErrorDetails]) -> str:
    """What is wrong in a diffusion model's options, one clause per problem (unknown keys
    together, with the known ones)."""
    lines: list[str] = []
    unknown: list[str] = []
    for item in errors:
        name = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            unknown.append(name)
        else:
            lines.append(f"option {name!r}: {item['msg']}, not {item['input']!r}")
    if unknown:
        lines.insert(0, f"unknown diffusion option(s) {', '.join(sorted(unknown))}; "
                        f"known: {', '.join(DiffusionOptions.model_fields)}")
    return "; ".join(lines)


def describe_model_errors(error: ValidationError) -> str:
    """What is wrong in the model table (``engines.models``), each clause naming the setting:
    ``engines.models.v2.options: unknown diffusion option(s) stepz; known: ...``."""
    lines: list[str] = []
    by_model: dict[str, list[ErrorDetails]] = {}
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        name = loc[0] if loc else ""
        where = f"engines.models.{name}"
        if item["type"] == "union_tag_invalid":
            lines.append(f"{where}.engine: {item['input'].get('engine')!r} is not an engine; "
                         f"known: {', '.join(ENGINE_NAMES)}")
        elif item["type"] == "union_tag_not_found":
            lines.append(f"{where}: no engine named; add \"engine\": one of {', '.join(ENGINE_NAMES)}")
        elif len(loc) >= 4 and loc[1] == "diffusion" and loc[2] == "options":
            by_model.setdefault(name, []).append({**item, "loc": tuple(loc[3:])})
        elif item["type"] == "extra_forbidden" and len(loc) >= 3:
            setting = ".".join(loc[2:-1])
            known = "engine, options" if not setting else "none (the studio engine takes no options)"
            lines.append(f"{'.'.join([where, *loc[2:-1]])}: unknown key {loc[-1]!r}; known: {known}")
        else:
            lines.append(f"{'.'.join([where, *loc[2:]])}: {item['msg']}, not {item['input']!r}")
    for name, items in by_model.items():
        lines.append(f"engines.models.{name}.options: {describe_option_errors(items)}")
    return "; ".join(lines)


class DiffusionMemorySettings(BaseModel):
    """Forces parts of the diffusion engine's memory plan (unset: decided from the device's free memory)."""

    model_config = ConfigDict(extra="forbid")
    max_batch: int | None = Field(None, ge=1, le=64, description="Most images per pipeline call.")
    attention_slicing: bool | None = None
    vae_slicing: bool | None = None
    vae_tiling: bool | None = None
    offload: Literal["auto", "none", "model", "sequential"] = "auto"


class EnginesSettings(BaseModel):
    models: dict[str, ModelConfig] = Field(
        default_factory=default_models,
        description="The model table: model name → {\"engine\": \"studio\"} or {\"engine\": \"diffusion\", "
        "\"options\": {...}}. Unset: every model on studio, and `v2` on diffusion when diffusion_path is set. "
        "A table given is used as written.",
    )
    diffusion_path: Path | None = Field(
        None, description="Local diffusion weights: a diffusers-format directory (SD 1.5/2, SDXL, FLUX.1 Fill; "
        "inpainting or text-to-image) or a single .safetensors/.ckpt checkpoint; when set and no model "
        "table is given, `v2` maps to diffusion."
    )
    diffusion_config: Path | None = Field(
        None, description="For a single-file checkpoint: a diffusers-format directory with the same "
        "architecture's configs and tokenizer files (its repository without the weights)."
    )
    diffusion_device: str = Field("auto", description="auto (first GPU, else the CPU), cpu, cuda, cuda:N, mps.")
    diffusion_dtype: Literal["auto", "float16", "bfloat16", "float32"] = Field(
        "auto", description="auto: float32 on the CPU, float16 on a GPU (bfloat16 for FLUX where supported)."
    )
    diffusion_memory: DiffusionMemorySettings = Field(default_factory=DiffusionMemorySettings)
    diffusion_controlnet_path: Path | None = Field(
        None, description="A diffusers-format ControlNet (Canny) for the same SD/SDXL base, used on every scene."
    )
    diffusion_preload: bool = Field(
        True, description="Load the weights when the server or worker starts (requests meanwhile get 503)."
    )
    diffusion_queue: int = Field(
        4, ge=0, le=1000, description="Diffusion calls that may wait for the device; more get 503 + Retry-After."
    )

    @field_validator("models", mode="wrap")
    @classmethod
    def _readable_model_errors(cls, value: object, handler: ValidatorFunctionWrapHandler) -> object:
        try:
            return handler(value)
        except ValidationError as error:
            raise ValueError(describe_model_errors(error)) from None

    @model_validator(mode="after")
    def _weights_used(self) -> EnginesSettings:
        """Weights and no model table: `v2` renders with them (documented default). A table given
        is used as written; one where no model uses the configured weights is a mistake."""
        if self.diffusion_path is None:
            return self
        if "models" not in self.model_fields_set:
            self.models = default_models(diffusion=True)
        elif not any(model.engine == "diffusion" for model in self.models.values()):
            raise ValueError(
                "engines.diffusion_path is set but no model in engines.models uses the diffusion engine: map one, "
                'e.g. PHOTOSTAGE_ENGINES__MODELS=\'{"v1": {"engine": "studio"}, "v2": {"engine": "diffusion"}}\''
            )
        return self

    @field_validator("diffusion_device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        match = DEVICE_NAME.match(value.strip().lower())
        if match is None or (match.group(2) is not None and match.group(1) in ("auto", "mps")):
            raise ValueError(f"device {value!r} is not one of auto, cpu, cpu:N, cuda, cuda:N, mps")
        return match.group(0)


class CutoutSettings(BaseModel):
    mode: Literal["auto", "always", "never"] = "auto"
    engine: str = Field("auto", description="auto (neural when a model is installed, else classical), "
                        "classical, neural or alpha.")
    neural_model: str | None = Field(None, description="Installed model to use (`photostage models`); "
                                     "default the best installed.")
    neural_model_path: Path | None = Field(None, description="An ONNX file used directly instead of an "
                                           "installed model; its family is neural_family.")
    neural_family: str = "isnet"
    neural_threads: int = Field(0, ge=0, description="onnxruntime threads per inference; 0 = one per core.")
    models_dir: Path | None = Field(None, description="Installed models; default <data_dir>/models.")
    min_confidence: float = Field(
        0.5, ge=0.0, le=1.0, description="Cut-outs less confident than this are refused (422, code 3021) "
        "unless the request's object.min_cutout_confidence asks for less; 0 keeps every cut-out.")


class RateLimitSettings(BaseModel):
    enabled: bool = True
    per_minute: int = Field(120, ge=1)
    per_second: int = Field(4, ge=1)


class JobsSettings(BaseModel):
    runner: Literal["local", "celery"] = "local"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_key_prefix: str = Field(
        "photostage:", min_length=1, max_length=100, pattern=r"^\S+$",
        description="Prefix of every Redis key of the queue and the shared rate limits: deployments that share "
        "one Redis set one each; the API and its workers must have the same.",
    )
    local_workers: int = Field(1, ge=1, le=64)
    max_queue: int = Field(1000, ge=1)
    webhook_timeout_s: float = Field(10.0, gt=0)
    webhook_max_attempts: int = Field(6, ge=1)
    webhook_backoff_s: float = Field(5.0, gt=0, description="First webhook retry delay, doubled each attempt.")
    lease_s: float = Field(30.0, gt=0, description="A worker's hold on a job; a job whose lease expires is retried.")
    max_attempts: int = Field(5, ge=1, description="Workers that may start a job before it is given up.")
    progress_interval_s: float = Field(0.25, gt=0)
    redispatch_after_s: float = Field(900.0, gt=0, description="Re-send a queued job's message after this long.")
    shutdown_grace_s: float = Field(
        30.0, ge=0, description="On SIGTERM: how long a worker lets its running jobs finish before handing "
        "them back to the queue and exiting.",
    )
    hung_margin_s: float = Field(
        60.0, ge=0, description="A job still rendering this long past limits.request_deadline_s stops renewing "
        "its lease (another worker retries it) and is cancelled at its next step.",
    )
    sync_claim_s: float = Field(
        10.0, gt=0, description="A synchronous request's Idempotency-Key is held this long without its API "
        "process renewing it; then a retry may take it over (the process died).",
    )


class LogSettings(BaseModel):
    format: Literal["text", "json"] = Field("text", description="json: one JSON object per line, with request_id.")
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access: bool = Field(True, description="One line per HTTP request (route, status, duration, request_id).")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PHOTOSTAGE_", env_nested_delimiter="__", extra="forbid")

    env: Literal["dev", "prod"] = "dev"
    data_dir: Path = Path("./data")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in the data dir.")
    server: ServerSettings = Field(default_factory=ServerSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    sources: SourcesSettings = Field(default_factory=SourcesSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    tmp: TmpSettings = Field(default_factory=TmpSettings)
    engines: EnginesSettings = Field(default_factory=EnginesSettings)
    cutout: CutoutSettings = Field(default_factory=CutoutSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _defaults_under_data_dir(self) -> Settings:
        if "local" not in self.storage.connectors:
            self.storage.connectors["local"] = LocalConnectorSettings(root=self.data_dir / "storage")
        if self.cutout.models_dir is None:
            self.cutout.models_dir = self.data_dir / "models"
        if self.tmp.store == "s3" and self.tmp.s3 is None:
            raise ValueError("tmp.store is s3 but no bucket is configured: set PHOTOSTAGE_TMP__S3__BUCKET "
                             "(and __ENDPOINT_URL, __KEY, __SECRET for an S3-compatible store)")
        if self.env == "prod":
            for name, value in (("tmp.signing_key", self.tmp.signing_key),
                                ("storage.encryption_key", self.storage.encryption_key)):
                if value is not None and value.strip().lower() in PLACEHOLDER_SECRETS:
                    raise ValueError(f"{name} is a placeholder; set a real secret in prod")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'photostage.db'}"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    def secret(self, name: str, configured: str | None) -> str:
        """A configured secret, or one generated once and kept in the data directory (0600),
        created exclusively so processes starting together agree on it (see ``secretfiles``)."""
        if configured:
            return configured
        return read_or_create_secret(self.data_dir / "secrets" / name)

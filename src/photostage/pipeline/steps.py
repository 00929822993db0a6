"""The scene pipeline as data: :data:`STEPS`, a named list of small steps, one concern each.

    validate ─► fetch ─► decode ─► cutout ─► check_cutout ─► plan ─► place ─► render
             ─► per image: shadow ─► harmonise ─► composite ─► encode ─► store

A request step is ``(tools, work) -> None`` over the request's :class:`SceneWork`; an image step is
``(tools, work, image) -> None`` over one output's :class:`ImageWork` and runs on the runner's
thread pool, each image on its own. Each fills the fields it owns. The runner
(:mod:`photostage.pipeline.runner`) wraps every step alike: it times it into ``profiling``,
reports progress, and checks the request's deadline after it. Adding a step is one function here
and one line in :data:`STEPS` (``check_cutout`` is such a step).

Each step maps the failures of the part it calls to the public error catalogue, so nothing below
it needs to know about HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np

from photostage.contract.errors import (
    CUTOUT_UNCERTAIN,
    IMAGE_CORRUPT,
    IMAGE_EMPTY_OBJECT,
    IMAGE_TOO_MANY_PIXELS,
    IMAGE_UNSUPPORTED,
    STORAGE_WRITE_FAILED,
    PhotostageError,
)
from photostage.contract.response import PipelineOutputObject
from photostage.cutout.base import Cutout, CutoutEngine, alpha_box
from photostage.cutout.quality import CERTAIN, Confidence, assess
from photostage.cutout.registry import needs_cutout
from photostage.imaging import codecs, compose, geometry
from photostage.imaging.codecs import DecodedImage, EncodedImage
from photostage.imaging.harmonise import harmonise as harmonise_product
from photostage.pipeline.enlargement import enlargement, enlargement_notice
from photostage.pipeline.plan import Placement, brief_for, resolve_plan
from photostage.pipeline.work import ImageWork, SceneWork, Tools
from photostage.scenes.base import PlacedObject, RenderJob
from photostage.scenes.effect import template_view
from photostage.scenes.shadow import cast_shadow
from photostage.scenes.standing import stand_on_surface
from photostage.sources.http_put import without_query
from photostage.storage.naming import output_paths, output_urls
from photostage.storage.uri import parse_storage_uri

RequestStepRun = Callable[[Tools, SceneWork], None]
ImageStepRun = Callable[[Tools, SceneWork, ImageWork], None]


@dataclass(frozen=True)
class Step:
    """A step over the whole request; ``progress`` is reported (with its name) as it starts."""

    name: str
    run: RequestStepRun
    progress: float | None = None


@dataclass(frozen=True)
class ImageStep:
    """A step over one output image; consecutive image steps run per image on the thread pool."""

    name: str
    run: ImageStepRun


# --- request steps ------------------------------------------------------------------------------


def validate(tools: Tools, work: SceneWork) -> None:
    """Read the request into a brief and pick the engine: no I/O, so a request that cannot be served
    (an unavailable model, a bad destination) is refused before anything is downloaded."""
    model = work.request.scene.model
    work.brief = brief_for(work.request, work.request_id, tools.engines.options_for(model))
    work.engine = tools.engines.engine_for(model, work.brief.scene)


def fetch(tools: Tools, work: SceneWork) -> None:
    brief = work.brief
    work.object_bytes = tools.read_source(brief.object_url, work.account_id, "object.image_url")
    work.template_bytes = (
        tools.read_source(brief.template_url, work.account_id, "scene.template_url") if brief.template_url else None
    )


def decode(tools: Tools, work: SceneWork) -> None:
    max_pixels = tools.limits.max_input_pixels
    work.image = decode_image(work.object_bytes, max_pixels, "object.image_url")
    work.template = (
        decode_image(work.template_bytes, max_pixels, "scene.template_url") if work.template_bytes else None
    )


def cut_out(tools: Tools, work: SceneWork) -> None:
    """Separate the product from its background, once per request (an input with transparency of
    its own is taken as it is, unless asked otherwise)."""
    work.cutout = extract(work.image, tools.cutout_engine, tools.cutout_mode, work.brief.remove_background)


def check_cutout(tools: Tools, work: SceneWork) -> None:
    """Refuse a cut-out that cannot make a good picture rather than stage it: an empty one, or one
    less confident than the request's (else the server's) minimum; keep the confidence for the
    response's profiling."""
    requested = work.brief.min_cutout_confidence
    minimum = tools.cutout_min_confidence if requested is None else requested
    work.cutout_confidence = inspect_cutout(work.image, work.cutout, minimum)
    work.notes["cutout_engine"] = work.cutout.engine
    work.notes["cutout_confidence"] = work.cutout_confidence.as_dict()


def plan(tools: Tools, work: SceneWork) -> None:
    """Resolve the plan: the canvas (a template's aspect is known now) and the complete scene (its
    template's pixels; the prompt written for the product when the request asked for one)."""
    brief = work.brief
    prompt = None
    if brief.prompt_request.generate:
        prompt = tools.engines.describe_product(work.cutout.rgba, brief.prompt_request.guidelines)
    template = work.template.rgba[..., :3] if work.template is not None else None
    work.plan = resolve_plan(brief, template, prompt)


def place(tools: Tools, work: SceneWork) -> None:
    """Place the product as asked; on a template with a floor or table, stand it on that surface
    (how ``position`` and ``view`` decide: :mod:`photostage.scenes.standing`)."""
    product = place_object(work.cutout, work.plan.placement, work.plan.canvas)
    scene = work.plan.scene
    if scene.kind == "template" and scene.template_facts is not None:
        view = template_view(scene.view, product, scene.template_facts)
        product = stand_on_surface(product, scene.template_facts, view, work.plan.placement.position_given)
    work.product = product
    note_enlargement(work.notes, product)


def render(tools: Tools, work: SceneWork) -> None:
    """Every output's scene from the engine, in one call (an engine that batches, batches; the
    others render image by image on the thread pool). The engine may stop between its own steps
    (a diffusion model between denoising steps) when the deadline passes or the client leaves."""
    plan = work.plan
    width, height = plan.canvas
    jobs = [
        RenderJob(scene=plan.scene, width=width, height=height, product=work.product, seed=seed, index=index)
        for index, seed in enumerate(plan.seeds)
    ]
    rendered = work.engine.render_many(jobs, tools.each, work.control)
    work.images = [ImageWork(job=job, rendered=scene) for job, scene in zip(jobs, rendered, strict=True)]
    if rendered and "unused_words" in rendered[0].info:  # the prompt words the engine did not follow
        work.notes["prompt_unused_words"] = list(rendered[0].info["unused_words"])  # type: ignore[call-overload]
        work.notes["prompt_reading"] = str(rendered[0].info.get("prompt_reading", ""))
    report = rendered[0].info.get("report") if rendered else None
    if isinstance(report, dict):  # what an engine says of its run
        work.notes.update(report)


def store(tools: Tools, work: SceneWork) -> None:
    """Write the encoded images to the destination (a storage, or an http(s) URL uploaded to by
    PUT), or as signed temporary results."""
    encoded = [image.encoded for image in work.images]
    work.outputs = store_outputs(tools, work.plan.output.destination, work.request_id, work.account_id, encoded)


# --- image steps --------------------------------------------------------------------------------


def shadow(tools: Tools, work: SceneWork, image: ImageWork) -> None:
    """The product's shadow on the scene, as the engine's light and ground say it falls."""
    image.background = cast_shadow(image.rendered, work.product, work.plan.scene)


def harmonise(tools: Tools, work: SceneWork, image: ImageWork) -> None:
    """Match the product to its scene. Product fidelity comes first: by default nothing changes (the
    layer is the placed product, exactly); harmonisation that alters the product's pixels is opt-in
    (``scene.harmonize``: white balance and exposure toward the scene, light wrap, grain)."""
    scene = work.plan.scene
    if scene.harmonize <= 0:
        image.layer = work.product.rgba
        return
    facts = scene.template_facts
    image.layer = harmonise_product(
        work.product.rgba,
        work.product.box,
        image.background,
        scene.harmonize,
        white=facts.white_point if facts is not None else None,
        noise=facts.noise if facts is not None else 0.0,
        seed=image.job.seed,
    )


def composite(tools: Tools, work: SceneWork, image: ImageWork) -> None:
    """The product over the scene; opaque product pixels come out exactly as placed (the scene's
    light may spill onto the soft edge only, 0 < alpha < 255)."""
    box = work.product.box
    layer = compose.light_wrap(image.layer, image.background, image.rendered.light_wrap, box=box)
    image.pixels = compose.composite_over(image.background, layer, box)


def encode(tools: Tools, work: SceneWork, image: ImageWork) -> None:
    image.encoded = codecs.encode(image.pixels, work.plan.output.encode)


STEPS: tuple[Step | ImageStep, ...] = (
    Step("validate", validate),
    Step("fetch", fetch, progress=0.05),
    Step("decode", decode),
    Step("cutout", cut_out, progress=0.2),
    Step("check_cutout", check_cutout),
    Step("plan", plan),
    Step("place", place),
    Step("render", render, progress=0.3),
    ImageStep("shadow", shadow),
    ImageStep("harmonise", harmonise),
    ImageStep("composite", composite),
    ImageStep("encode", encode),
    Step("store", store, progress=0.92),
)
STEP_NAMES = frozenset(step.name for step in STEPS)


def stage_timings(profiling: Mapping[str, object]) -> dict[str, float]:
    """The milliseconds per step in a response's ``profiling``, without its notes (numbers such as
    ``product_enlargement`` or ``diffusion_steps_run`` are no timings)."""
    return {name: float(value) for name, value in profiling.items()
            if name in STEP_NAMES and isinstance(value, int | float)}


# --- what the steps call ------------------------------------------------------------------------


def decode_image(data: bytes, max_pixels: int, field: str) -> DecodedImage:
    try:
        return codecs.decode(data, max_pixels=max_pixels)
    except codecs.TooManyPixelsError as error:
        raise PhotostageError(IMAGE_TOO_MANY_PIXELS, details={field: [str(error)]}) from None
    except codecs.UnsupportedImageError as error:
        raise PhotostageError(IMAGE_UNSUPPORTED, details={field: [str(error)]}) from None
    except codecs.ImageError as error:
        raise PhotostageError(IMAGE_CORRUPT, details={field: [str(error)]}) from None


def extract(image: DecodedImage, engine: CutoutEngine, mode: str, requested: bool | None) -> Cutout:
    if needs_cutout(image.has_alpha, mode, requested):  # type: ignore[arg-type]
        return engine.extract(image.rgba)
    return Cutout(rgba=image.rgba, box=alpha_box(image.rgba[..., 3]), engine="alpha")


def inspect_cutout(
    image: DecodedImage, cutout: Cutout, min_confidence: float, field: str = "object.image_url"
) -> Confidence:
    """The checks on a cut-out of ``image`` (the scene pipeline's and the cut-out preview's): one
    that holds no product is refused (3013); then how far it can be trusted
    (``photostage.cutout.quality``): below ``min_confidence`` it is refused with 3021 and a message
    that says what to do, never staged with a doubtful product. The input's own transparency
    (engine ``alpha``) is trusted as it is."""
    x0, y0, x1, y1 = cutout.box
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise PhotostageError(
            IMAGE_EMPTY_OBJECT, details={field: ["the image is fully transparent"]}
        )
    if cutout.engine == "alpha":
        return CERTAIN
    confidence = assess(image.rgba, np.ascontiguousarray(cutout.rgba[..., 3]))
    if confidence.score < min_confidence:
        doubts = "; ".join(reason.message for reason in confidence.reasons) or "no reason recorded"
        # The neural engine is worth installing only where it was not the one in doubt. It still
        # needs a plain backdrop to be trusted: on a busy one it cannot tell the product from the
        # other objects in the room, so the photo's own background is what to change.
        neural = ("install the neural cut-out engine (`photostage models add`), " if cutout.engine != "neural"
                  else "photograph the product alone on a plain backdrop, ")
        raise PhotostageError(
            CUTOUT_UNCERTAIN,
            message=f"The automatic cut-out ({cutout.engine} engine) is not reliable for this photo: confidence "
            f"{confidence.score:.2f}, below {min_confidence:.2f} ({doubts}). Send the product as a PNG or WebP "
            f"with a transparent background, {neural}or "
            "set object.remove_background to false to use the photo as it is; to keep this cut-out anyway, "
            "set object.min_cutout_confidence to 0.",
            details={field: [f"cut-out confidence {confidence.summary()}"]},
        )
    return confidence


def place_object(cutout: Cutout, placement: Placement, canvas: tuple[int, int]) -> PlacedObject:
    """Crop to the object's box, rotate, fit per the placement, and paste on a canvas-sized layer."""
    frame = (cutout.rgba.shape[1], cutout.rgba.shape[0])
    obj = compose.crop(cutout.rgba, cutout.box)
    if placement.mode == "absolute":
        obj = compose.rotate(obj, placement.rotation)
        # Rotation may leave transparent margins: measure the box of what is really there.
        obj = compose.crop(obj, alpha_box(obj[..., 3]))
        box = geometry.absolute_box((obj.shape[1], obj.shape[0]), canvas, placement.scale, placement.position)
    elif placement.mode == "original":
        box = geometry.original_box(cutout.box, frame, canvas)
    else:
        assert placement.padding is not None
        margins = placement.padding.fractions(canvas[0], canvas[1])
        box = geometry.padding_box((obj.shape[1], obj.shape[0]), canvas, margins)
    width, height = max(1, round(box.width)), max(1, round(box.height))
    source_size = (obj.shape[1], obj.shape[0])
    resized = compose.resize(obj, width, height)
    layer = compose.place(resized, canvas[0], canvas[1], round(box.left), round(box.top))
    placed_box = alpha_box(layer[..., 3])
    if placed_box[2] <= placed_box[0]:
        raise PhotostageError(
            IMAGE_EMPTY_OBJECT, details={"object.position": ["the object is placed entirely off the canvas"]}
        )
    return PlacedObject(rgba=layer, box=placed_box, source_size=source_size,
                        enlargement=enlargement(source_size, (width, height)))


def note_enlargement(notes: dict[str, float | str | list[str] | dict[str, object]], product: PlacedObject) -> None:
    """Say how much the product's own pixels were enlarged (``product_enlargement``; below 1 they
    were shrunk) and, past :data:`~photostage.pipeline.enlargement.NOTICE_ABOVE`, that the product
    will look soft and what to do (``product_enlargement_notice``)."""
    notes["product_enlargement"] = round(product.enlargement, 2)
    notice = enlargement_notice(product.enlargement, product.source_size)
    if notice is not None:
        notes["product_enlargement_notice"] = notice


def store_outputs(
    tools: Tools, destination: str | None, request_id: str, account_id: int, encoded: list[EncodedImage]
) -> list[PipelineOutputObject]:
    outputs: list[PipelineOutputObject] = []
    if destination is None:
        for index, image in enumerate(encoded):
            tmp = tools.results.put(image.data, image.ext, request_id, index)
            outputs.append(_output(image, tmp_url=tmp.url, object_key=tmp.name, object_bucket="tmp",
                                   object_uri=tmp.url))
        return outputs
    if not destination.startswith("storage://"):
        return upload_outputs(tools, destination, request_id, encoded)
    name, path = parse_storage_uri(destination)
    connector = tools.storages.resolve(account_id, name)
    paths = output_paths(path, request_id, len(encoded), encoded[0].ext)
    for image, target in zip(encoded, paths, strict=True):
        try:
            stored = connector.write(target, image.data, image.mime)
        except PhotostageError:
            raise
        except Exception as error:  # a connector bug must still answer in the contract's format
            raise PhotostageError(STORAGE_WRITE_FAILED, details={"output.destination": [type(error).__name__]}) \
                from error
        outputs.append(_output(image, object_key=stored.key, object_bucket=stored.bucket,
                               object_uri=stored.object_uri, claid_storage_uri=stored.storage_uri))
    return outputs


def upload_outputs(
    tools: Tools, destination: str, request_id: str, encoded: list[EncodedImage]
) -> list[PipelineOutputObject]:
    """An http(s) destination: one guarded PUT per image, named like storage destinations."""
    urls = output_urls(destination, request_id, len(encoded), encoded[0].ext)
    outputs: list[PipelineOutputObject] = []
    for image, url in zip(encoded, urls, strict=True):
        tools.upload(url, image.data, image.mime)
        shown = without_query(url)  # a pre-signed URL's signature is not echoed or stored
        parts = urlsplit(shown)
        outputs.append(_output(image, object_key=parts.path.lstrip("/"), object_bucket=parts.netloc,
                               object_uri=shown))
    return outputs


def _output(
    image: EncodedImage, *, object_key: str, object_bucket: str, object_uri: str,
    tmp_url: str = "", claid_storage_uri: str = "",
) -> PipelineOutputObject:
    return PipelineOutputObject(
        ext=image.ext, mps=image.mps, mime=image.mime, format=image.format, width=image.width,
        height=image.height, tmp_url=tmp_url, object_key=object_key, object_bucket=object_bucket,
        object_uri=object_uri, claid_storage_uri=claid_storage_uri,
    )

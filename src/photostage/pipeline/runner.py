"""The scene pipeline as a numbered recipe ending in a typed result.

    request ─► validate ─► plan ─► fetch+decode object ─► cutout (once) ─► for each image:
    render scene ─► place ─► shadow ─► harmonize ─► composite (product on top, exact)
    ─► encode ─► store ─► response

Per-request work happens once; per-image work runs on a small thread pool (OpenCV and the
codecs release the GIL). The deadline is checked between steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Protocol
from urllib.parse import urlsplit

from photostage.config import Settings
from photostage.contract.errors import DEADLINE, STORAGE_WRITE_FAILED, PhotostageError
from photostage.contract.request import SceneCreateAPIIn
from photostage.contract.response import (
    PipelineInputObject,
    PipelineOutputObject,
    ScenePipelineResponseOut,
)
from photostage.cutout.base import CutoutEngine
from photostage.imaging.codecs import EncodedImage
from photostage.pipeline import steps
from photostage.pipeline.plan import Plan, canvas_for_frame, make_plan
from photostage.scenes.base import PlacedObject, RenderedScene, RenderJob, SceneEngine
from photostage.scenes.registry import SceneEngines
from photostage.scenes.studio.prompt import describe_product
from photostage.sources.http_put import without_query
from photostage.sources.reader import SourceReader
from photostage.storage.naming import output_paths, output_urls
from photostage.storage.uri import parse_storage_uri

Progress = Callable[[str, float], None]


class Storages(Protocol):
    def resolve(self, account_id: int, name: str):  # -> Connector
        ...


class TmpResults(Protocol):
    def put(self, data: bytes, ext: str, request_id: str, index: int):  # -> TmpObject
        ...


@dataclass
class Stopwatch:
    deadline: float
    timings: dict[str, float] = field(default_factory=dict)

    def lap(self, stage: str, started: float) -> None:
        self.timings[stage] = round(self.timings.get(stage, 0.0) + (time.perf_counter() - started) * 1000, 3)
        if time.monotonic() > self.deadline:
            raise PhotostageError(DEADLINE, details={"request": [f"deadline passed after {stage}"]})


@dataclass
class SceneRunner:
    settings: Settings
    reader: SourceReader
    storages: Storages
    tmp: TmpResults
    engines: SceneEngines
    cutout_engine: CutoutEngine
    executor: ThreadPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        self.executor = ThreadPoolExecutor(
            max_workers=self.settings.limits.workers, thread_name_prefix="photostage-image"
        )

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    def read_source(self, url: str, account_id: int, field_name: str) -> bytes:
        if url.startswith("storage://"):
            name, path = parse_storage_uri(url)
            return self.storages.resolve(account_id, name).read(path, self.settings.limits.max_input_bytes)
        return self.reader.read(url, field=field_name)

    def run(
        self,
        request: SceneCreateAPIIn,
        *,
        account_id: int,
        request_id: str,
        progress: Progress | None = None,
    ) -> ScenePipelineResponseOut:
        report = progress or (lambda stage, fraction: None)
        clock = Stopwatch(deadline=time.monotonic() + self.settings.limits.request_deadline_s)
        max_pixels = self.settings.limits.max_input_pixels

        # 1. Plan: no I/O yet, so an unserveable request fails before any download.
        started = time.perf_counter()
        scene_model = request.scene.model
        plan = make_plan(request, request_id, self.engines.options_for(scene_model))
        engine = self.engines.engine_for(scene_model, plan.scene.kind, plan.scene.template_mode)
        clock.lap("plan", started)

        # 2. Fetch and decode the object (and the template).
        report("fetch", 0.05)
        started = time.perf_counter()
        object_bytes = self.read_source(plan.object_url, account_id, "object.image_url")
        template_bytes = (
            self.read_source(plan.template_url, account_id, "scene.template_url") if plan.template_url else None
        )
        clock.lap("fetch", started)
        started = time.perf_counter()
        image = steps.decode(object_bytes, max_pixels, "object.image_url")
        template = steps.decode(template_bytes, max_pixels, "scene.template_url") if template_bytes else None
        clock.lap("decode", started)

        # 3. Cut the product out, once per request.
        report("cutout", 0.2)
        started = time.perf_counter()
        cutout = steps.cut_out(image, self.cutout_engine, self.settings.cutout.mode, plan.remove_background)
        clock.lap("cutout", started)

        # 4. Canvas, placement and the resolved scene.
        started = time.perf_counter()
        canvas = plan.canvas or canvas_for_frame(template.width, template.height, plan.preference)  # type: ignore[union-attr]
        product = steps.place_object(cutout, plan.placement, canvas)
        scene = plan.scene
        if template is not None:
            scene = replace(scene, template=template.rgba[..., :3])
        if plan.prompt_request.generate:
            scene = replace(scene, prompt=describe_product(cutout.rgba, plan.prompt_request.guidelines))
        plan = replace(plan, scene=scene, canvas=canvas)
        clock.lap("place", started)

        # 5. Per image: render, composite, encode — in parallel. An engine that generates
        #    batches (diffusion) renders all images in one call first.
        report("render", 0.3)
        jobs = [
            RenderJob(scene=plan.scene, width=canvas[0], height=canvas[1], product=product,
                      seed=plan.seeds[index], index=index)
            for index in range(plan.output.count)
        ]
        render_batch = getattr(engine, "render_batch", None)
        if callable(render_batch) and len(jobs) > 1:
            started = time.perf_counter()
            rendered_all = render_batch(jobs)
            clock.lap("render", started)
            futures = [self.executor.submit(self._finish_one, plan, rendered, product) for rendered in rendered_all]
        else:
            futures = [self.executor.submit(self._render_one, plan, engine, job) for job in jobs]
        encoded: list[EncodedImage] = []
        for done, future in enumerate(futures, start=1):
            image_out, image_timings = future.result()
            encoded.append(image_out)
            for stage, ms in image_timings.items():
                clock.timings[stage] = round(clock.timings.get(stage, 0.0) + ms, 3)
            clock.lap("wait", time.perf_counter())
            report("render", 0.3 + 0.6 * done / plan.output.count)

        # 6. Store: destination storage or signed temporary URLs.
        report("store", 0.92)
        started = time.perf_counter()
        outputs = self._store(plan, encoded, account_id)
        clock.lap("store", started)
        clock.timings.pop("wait", None)
        report("done", 1.0)
        return ScenePipelineResponseOut(
            input=PipelineInputObject(
                ext=image.ext, mps=image.mps, mime=image.mime, format=image.format,
                width=image.width, height=image.height,
            ),
            output=outputs,
            profiling=clock.timings,
        )

    def _render_one(self, plan: Plan, engine: SceneEngine, job: RenderJob) -> tuple[EncodedImage, dict[str, float]]:
        started = time.perf_counter()
        rendered = engine.render(job)
        render_ms = (time.perf_counter() - started) * 1000
        encoded, timings = self._finish_one(plan, rendered, job.product)
        return encoded, {"render": render_ms, **timings}

    def _finish_one(
        self, plan: Plan, rendered: RenderedScene, product: PlacedObject
    ) -> tuple[EncodedImage, dict[str, float]]:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        pixels = steps.finish(rendered, product)
        timings["composite"] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        encoded = steps.encode(pixels, plan.output.encode)
        timings["encode"] = (time.perf_counter() - started) * 1000
        return encoded, timings

    def _store(self, plan: Plan, encoded: list[EncodedImage], account_id: int) -> list[PipelineOutputObject]:
        outputs: list[PipelineOutputObject] = []
        if plan.output.destination is None:
            for index, image in enumerate(encoded):
                tmp = self.tmp.put(image.data, image.ext, plan.request_id, index)
                outputs.append(_output(image, tmp_url=tmp.url, object_key=tmp.name,
                                       object_bucket="tmp", object_uri=tmp.url))
            return outputs
        if not plan.output.destination.startswith("storage://"):
            return self._upload(plan, encoded)
        name, path = parse_storage_uri(plan.output.destination)
        connector = self.storages.resolve(account_id, name)
        paths = output_paths(path, plan.request_id, len(encoded), encoded[0].ext)
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


    def _upload(self, plan: Plan, encoded: list[EncodedImage]) -> list[PipelineOutputObject]:
        """An http(s) destination: one guarded PUT per image, named like storage destinations."""
        assert plan.output.destination is not None
        urls = output_urls(plan.output.destination, plan.request_id, len(encoded), encoded[0].ext)
        outputs: list[PipelineOutputObject] = []
        for image, url in zip(encoded, urls, strict=True):
            self.reader.upload(url, image.data, image.mime)
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

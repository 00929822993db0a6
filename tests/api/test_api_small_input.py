"""Small inputs through the API: when the product's own pixels are enlarged more than 1.5x, the
response says so in ``data.profiling`` (free-form in Claid's schema) with what to do; a product
shrunk or kept at its size gets the figure and no notice; an async job's result carries the same."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from photostage.config import Settings
from photostage.pipeline.enlargement import NOTICE_ABOVE
from photostage.pipeline.steps import stage_timings

from ..conftest import data_uri, make_product, png_bytes  # noqa: TID252
from ..jobs.test_jobs_api import Api, open_api  # noqa: TID252
from .test_api_scene import create  # noqa: TID252

SMALL = (60, 90)  # a thumbnail-sized product: placed at 80 % of a 1024 px canvas it is enlarged ~10x


def body(width: int, height: int, scale: float) -> dict[str, object]:
    product = data_uri(png_bytes(make_product(width, height, seed=2)))
    return {"object": {"image_url": product, "scale": scale}, "scene": {"effect": "shadows", "seed": 3},
            "output": {"number_of_images": 1, "format": "jpeg"}}


def test_a_small_product_on_a_large_output_is_noticed(client, auth) -> None:  # type: ignore[no-untyped-def]
    response = create(client, auth, body(*SMALL, scale=0.8))
    assert response.status_code == 200, response.text  # the request is valid: served, and told
    profiling = response.json()["data"]["profiling"]
    factor = profiling["product_enlargement"]
    assert factor >= 0.8 * 1024 / SMALL[1]  # at least the canvas over the whole photo's height
    notice = profiling["product_enlargement_notice"]
    assert f"enlarged {factor:.1f}x" in notice and "will look soft" in notice and "send a larger photo" in notice
    assert "product_enlargement" not in stage_timings(profiling)  # a figure, not a stage's milliseconds
    assert isinstance(profiling["place"], float)


def test_a_product_shrunk_to_fit_has_no_notice(client, auth) -> None:  # type: ignore[no-untyped-def]
    response = create(client, auth, body(400, 600, scale=0.5))
    assert response.status_code == 200, response.text
    profiling = response.json()["data"]["profiling"]
    assert profiling["product_enlargement"] < 1  # 1024 x 0.5 from a product several hundred px tall
    assert "product_enlargement_notice" not in profiling


def test_just_past_the_threshold_is_noticed_and_just_below_is_not(client, auth) -> None:  # type: ignore[no-untyped-def]
    # the same 200 x 300 photo at two scales around the 1.5x line (its product is ~80 % of its height)
    low = create(client, auth, body(200, 300, scale=0.3)).json()["data"]["profiling"]
    high = create(client, auth, body(200, 300, scale=0.9)).json()["data"]["profiling"]
    assert low["product_enlargement"] <= NOTICE_ABOVE and "product_enlargement_notice" not in low
    assert high["product_enlargement"] > NOTICE_ABOVE and "product_enlargement_notice" in high


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    yield from open_api(settings)


def test_an_async_job_carries_the_same_notice(api: Api) -> None:
    key = api.key()
    job = api.finished(api.submit(body(*SMALL, scale=0.8), key).json()["data"]["id"], key)
    assert job["status"] == "DONE", job
    profiling = job["result"]["profiling"]
    assert profiling["product_enlargement"] > NOTICE_ABOVE
    assert "will look soft" in profiling["product_enlargement_notice"]

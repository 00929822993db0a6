"""Schemathesis driven by Claid's own published schema (``shared/contract/claid-scene-schema.json``),
not by ours: bodies that are valid for Claid go to photostage, in process, with a real key.

Every answer must be: never a 5xx; a 200 whose body validates against Claid's response schema
for that operation (so a strict Claid client can read it); or a refusal listed in
:data:`DEVIATIONS`, the documented allow-list of where photostage deliberately refuses a body that
Claid's schema allows (the README's "Where we answer a status Claid does not list" and its
request section say the same in prose). A refusal that is not on the list fails the test.

Nothing leaves the machine: the network guard and the stub resolver of
``tests/hardening/test_hardening_schema.py`` are used as they are.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from photostage.api.app import create_app
from photostage.config import Settings

from ..hardening.test_hardening_schema import network, stub_resolver, tiny_product_uri, use_resolver  # noqa: F401, TID252

CLAID_SCHEMA = Path(__file__).resolve().parents[2].parent / "shared" / "contract" / "claid-scene-schema.json"
SCENE_EXAMPLES = 300
OTHER_EXAMPLES = 30

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CLAID_SCHEMA.exists(), reason="needs ../shared/contract (the contract of the project)"),
]


@dataclass(frozen=True)
class Deviation:
    """A refusal of a Claid-valid body that photostage makes on purpose."""

    operations: str  # regex over "METHOD /path"
    status: int
    codes: frozenset[str]
    fields: str  # regex every error_details key must match ("" when there are no details)
    why: str


DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(r"POST /v1/scene/create", 400, frozenset({"3001", "3002", "3003", "3004", "3010", "3011", "3012"}),
              r"object\.image_url|scene\.template_url|output\.destination|",
              "the schema cannot say whether a URI can be fetched and decoded: an unreachable, private "
              "(SSRF guard) or undecodable image is refused as a bad input file; the same guard applies "
              "to an https destination"),
    Deviation(r"POST /v1/scene/create", 400, frozenset({"5006"}), r"output\.destination",
              "an https destination that does not take the upload (refused, expired, unreachable)"),
    Deviation(r"POST /v1/scene/create", 400, frozenset({"5007"}), r".*",
              "a storage whose endpoint resolves to an address the server may not connect to (SSRF guard)"),
    Deviation(r"POST /v1/scene/create", 400, frozenset({"5005"}), r".*",
              "a storage:// input that cannot be read"),
    Deviation(r"POST /v1/scene/create", 404, frozenset({"5001", "5003"}), r".*",
              "a storage:// URI naming a storage or object that does not exist"),
    Deviation(r"POST /v1/scene/create", 422, frozenset({"3013"}), r".*",
              "an input with nothing in it (fully transparent) has no product to place"),
    Deviation(r"POST /v1/scene/create", 422, frozenset({"3021"}), r"object\.image_url",
              "the cut-out quality gate: an opaque photo whose automatic cut-out is not reliable (a busy "
              "background, the product filling the frame) is refused rather than staged with a broken "
              "product; the message says what to do (a transparent PNG, the neural engine, "
              "object.remove_background false, or object.min_cutout_confidence 0)"),
    Deviation(r"POST /v1/scene/create", 422, frozenset({"3020", "4003"}), r".*",
              "the cut-out or scene engine failed on this input (logged with its traceback): a valid "
              "image is never a 5xx"),
    Deviation(r"POST /v1/scene/create", 422, frozenset({"4001"}), r".*",
              "the model asked for maps to an engine this server does not have (no diffusion weights), "
              "never a silent substitute"),
    Deviation(r"POST /v1/scene/create", 422, frozenset({"4005"}), r".*",
              "the diffusion model painted past the product's outline twice"),
    Deviation(r"POST /v1/scene/create", 422, frozenset({"5002"}), r".*",
              "a storage path with .., control characters, or another unsafe form"),
    Deviation(r"POST /v1/scene/create", 422, frozenset({"9000"}),
              r"scene\.color|object\.padding|object\.scale|scene\.prompt|body|object\.image_url"
              r"|scene\.template_url|output\.destination|output",
              "Claid's schema is looser than its prose (shared/contract/README.md, Known contradictions): "
              "colours must be colours (any string in the schema), padding must be CSS margins (any "
              "string), scale is 0.01–1 (the schema allows 0, which places nothing), prompt text and "
              "generate are exclusive and guidelines need generate, a transparent background needs a "
              "format with alpha, URIs must be URIs we can read or write (storage://, http(s), data:)"),
    Deviation(r"POST /v1/storage/storages", 409, frozenset({"5009"}), r"name|",
              "a storage name is unique per account"),
    Deviation(r"(POST|PATCH) /v1/storage/storages.*", 422, frozenset({"9000"}), r".*",
              "parameters must match the storage type; names are 1–50 characters; URLs must be "
              "http(s) and not private (SSRF guard)"),
    Deviation(r"(GET|PATCH|DELETE) /v1/storage/storages/\{storage_id\}", 404, frozenset({"2004", "5001"}), r".*",
              "no storage with that id in this account (Claid lists 404 here)"),
)


def allowed(operation: str, status: int, body: dict[str, Any]) -> Deviation | None:
    code = str(body.get("error_code"))
    fields = list(body.get("error_details") or {}) or [""]
    for deviation in DEVIATIONS:
        if (
            re.fullmatch(deviation.operations, operation)
            and deviation.status == status
            and code in deviation.codes
            and all(re.fullmatch(deviation.fields, name, re.DOTALL) for name in fields)  # keys may hold newlines
        ):
            return deviation
    return None


@dataclass
class Target:
    client: TestClient
    headers: dict[str, str]
    schema: Any
    answers: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    unlisted: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    data_dir: Path = tmp_path_factory.mktemp("claid-fuzz") / "data"
    app = create_app(Settings(data_dir=data_dir, rate_limit={"enabled": False}, limits={"workers": 2}))
    use_resolver(app.state.services, stub_resolver)
    secret, _ = app.state.services.keys.create("claid-fuzz")
    schema = schemathesis.openapi.from_dict(json.loads(CLAID_SCHEMA.read_text()))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Target(client, {"Authorization": f"Bearer {secret}"}, schema)


def send(target: Target, case: Any) -> None:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    headers = {name: value for name, value in (kwargs.get("headers") or {}).items() if name.lower() != "authorization"}
    headers.update(target.headers)
    request: dict[str, Any] = {"headers": headers, "params": kwargs.get("params")}
    if "json" in kwargs:
        request["json"] = kwargs["json"]
    response = target.client.request(kwargs["method"], kwargs["url"], **request)
    label = f"{kwargs['method'].upper()} {case.operation.path}"
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    target.answers[(label, response.status_code, str(body.get("error_code", "")))] += 1
    case.validate_response(response, checks=[not_a_server_error], headers=headers)
    if response.status_code < 300:
        case.validate_response(response, checks=[response_schema_conformance], headers=headers)
        return
    if allowed(label, response.status_code, body) is None:
        target.unlisted.append(f"{label} → {response.status_code} {json.dumps(body)[:400]}\n  body: "
                               f"{json.dumps(kwargs.get('json'))[:400]}")


def small_jpeg_uri(kind: str, backdrop: str, **style: str) -> str:
    """An opaque JPEG product photo short enough to stay schema-valid (≤ 4096 characters), so the
    automatic cut-out and its quality gate are part of the fuzzing."""
    import base64

    import cv2

    from photostage.cutout.synthetic import render_scene

    rgb = render_scene(kind, backdrop, (96, 96), seed=4, **style).rgb
    ok, encoded = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 70])
    uri = "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode()
    assert ok and len(uri) <= 4096
    return uri


def busy_photo_uri() -> str:
    """A bottle on a cluttered background: the cut-out gate refuses it (3021)."""
    return small_jpeg_uri("bottle", "cluttered")


def packshot_uri() -> str:
    """A white carton on a white sweep: cut out and staged (200)."""
    return small_jpeg_uri("carton", "white", tone="white")


def claid_valid(body: dict[str, Any]) -> None:
    """Raise unless ``body`` is valid for POST /v1/scene/create under Claid's own schema."""
    import jsonschema

    components = json.loads(CLAID_SCHEMA.read_text())["components"]
    jsonschema.validate(body, {"$ref": "#/components/schemas/SceneCreateAPIIn", "components": components})


def with_real_image(case: Any, url: str | None) -> Any:
    body = case.body
    if url is not None and isinstance(body, dict) and isinstance(body.get("object"), dict):
        body["object"]["image_url"] = url
    return case


def run(strategy: st.SearchStrategy[Any], examples: int, target: Target) -> None:
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def check(case: Any) -> None:
        send(target, case)

    check()


def test_claid_valid_scene_bodies(target: Target) -> None:
    operation = target.schema["/v1/scene/create"]["POST"]
    urls = st.one_of(st.none(), st.just(tiny_product_uri()), st.just("storage://local/none.png"),
                     st.just(packshot_uri()), st.just(busy_photo_uri()))
    run(st.builds(with_real_image, operation.as_strategy(GenerationMode.POSITIVE), urls), SCENE_EXAMPLES, target)
    answers = {key: count for key, count in target.answers.items() if key[0] == "POST /v1/scene/create"}
    print("\nClaid-valid scene bodies:", dict(sorted(answers.items())))
    assert sum(count for (_, status, _), count in answers.items() if status == 200) > 0
    assert target.unlisted == [], "refusals of Claid-valid bodies not in DEVIATIONS:\n" + "\n".join(target.unlisted)


def test_claid_valid_storage_calls(target: Target) -> None:
    target.unlisted.clear()
    operations = [result.ok() for result in target.schema.get_all_operations()
                  if result.ok().path.startswith("/v1/storage")]
    assert len(operations) == 6
    for operation in operations:
        run(operation.as_strategy(GenerationMode.POSITIVE), OTHER_EXAMPLES, target)
    print("\nClaid-valid storage calls:", dict(sorted(k for k in target.answers.items() if "storage" in k[0][0])))
    assert target.unlisted == [], "refusals of Claid-valid bodies not in DEVIATIONS:\n" + "\n".join(target.unlisted)


def test_a_photo_the_cut_out_gate_refuses_is_a_listed_deviation(target: Target) -> None:
    """A Claid-valid body whose photo the cut-out gate refuses (422, 3021) is on the list, by its own
    entry; the same body with a studio packshot is a 200."""
    answers = {}
    for name, image_url in (("busy", busy_photo_uri()), ("packshot", packshot_uri())):
        body = {"object": {"image_url": image_url, "scale": 0.5}, "scene": {"effect": "shadows", "color": "white"},
                "output": {"number_of_images": 1, "format": "png"}}
        claid_valid(body)
        answers[name] = target.client.post("/v1/scene/create", json=body, headers=target.headers)
    assert answers["packshot"].status_code == 200, answers["packshot"].text
    refusal = answers["busy"]
    assert refusal.status_code == 422 and refusal.json()["error_code"] == "3021", refusal.text
    deviation = allowed("POST /v1/scene/create", 422, refusal.json())
    assert deviation is not None and "quality gate" in deviation.why

"""The served OpenAPI document matches the contract, component by component.

For each of Claid's components we check that our component of the same name has the same
properties (ours may add optional extensions), the same required fields, and every enum value,
limit and default the contract states. Deliberate differences decided in DESIGN.md are listed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from photostage.api.app import create_app
from photostage.config import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "contract"
CONTRACT = FIXTURES / "claid-scene-schema.json"
EXTENSIONS = {"seed", "shadow", "remove_background", "harmonize", "min_cutout_confidence"}
# Decided in DESIGN/contract README: scale 0 is refused (0.01 minimum), so the schema's integer
# branch allowing 0 is not ours; the effect colour enum is folded into a validated string.
KNOWN_DIFFERENCES = {("SceneCreateAPIObjectAbsoluteIn", "scale", ("minimum", 0))}
SCENE_COMPONENTS = [
    "SceneCreateAPIIn", "SceneCreateAPIOutputIn", "FormatJpegOptions", "FormatPngOptions", "FormatWebpOptions",
    "FormatAvifOptions", "WebpLossyCompressionOptions", "WebpLosslessCompressionOptions",
    "AvifLossyCompressionOptions", "AvifLosslessCompressionOptions", "SceneCreateAPIObjectAbsoluteIn",
    "ObjectPosition", "SceneCreateAPIObjectOriginalIn", "SceneCreateAPIObjectPaddingIn",
    "SceneCreateAPISceneBackgroundEffectIn", "ScenePromptAdvancedIn", "SceneCreateAPIScenePromptIn",
    "SceneCreateAPISceneTemplateIn", "ScenePipelineResponseOut", "PipelineInputObject", "PipelineOutputObject",
    "HttpErrorDetails",
]


def facts(schema: dict, components: dict, seen: frozenset[str] = frozenset()) -> set[tuple[str, str]]:
    """Every enum value, limit and default stated in a property schema, following refs."""
    found: set[tuple[str, str]] = set()
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return found
        target = components[name]
        if target.get("type") == "object" and "properties" in target:
            return found  # nested objects are checked as components of their own
        return facts(target, components, seen | {name})
    for key in ("enum",):
        for value in schema.get(key, []):
            found.add(("enum", str(value)))
    if "const" in schema:
        found.add(("enum", str(schema["const"])))
    for key in ("minimum", "maximum", "exclusiveMaximum", "minLength", "maxLength"):
        if key in schema:
            found.add((key, str(schema[key])))
    if "default" in schema and not isinstance(schema["default"], dict):
        found.add(("default", json.dumps(schema["default"])))
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, []):
            found |= facts(branch, components, seen)
    if "items" in schema:
        found |= facts(schema["items"], components, seen)
    return found


def known_difference(name: str, prop: str, fact: tuple[str, str]) -> bool:
    key, value = fact
    comparable = int(float(value)) if key == "minimum" else value
    return (name, prop, (key, comparable)) in KNOWN_DIFFERENCES


def _is_integral(key: str, value: str) -> bool:
    numeric = key in ("minimum", "maximum") or (key == "default" and value.replace(".", "", 1).isdigit())
    return numeric and float(value).is_integer()


def normalise(found: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Equivalent spellings: exclusiveMaximum 50 on an integer is maximum 49; 1.0 is 1."""
    out = set()
    for key, value in found:
        if key == "exclusiveMaximum":
            key, value = "maximum", str(int(float(value)) - 1)
        elif _is_integral(key, value):
            value = str(int(float(value)))
        out.add((key, value))
    return out


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> dict:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("openapi")))
    return app.openapi()


@pytest.fixture(scope="module")
def contract() -> dict:
    return json.loads(CONTRACT.read_text())


@pytest.mark.parametrize("name", SCENE_COMPONENTS)
def test_component_matches_contract(served, contract, name):
    theirs_all = contract["components"]["schemas"]
    ours_all = served["components"]["schemas"]
    assert name in ours_all, f"{name} missing from the served OpenAPI"
    theirs, ours = theirs_all[name], ours_all[name]
    their_props, our_props = set(theirs.get("properties", {})), set(ours.get("properties", {}))
    assert their_props <= our_props, their_props - our_props
    assert our_props - their_props <= EXTENSIONS
    assert set(theirs.get("required", [])) == set(ours.get("required", [])) - {"type"} | (
        set(theirs.get("required", [])) & {"type"}
    )
    if theirs.get("additionalProperties") is False:
        assert ours.get("additionalProperties") is False
    for prop in their_props:
        expected = normalise(facts(theirs["properties"][prop], theirs_all))
        actual = normalise(facts(ours["properties"][prop], ours_all))
        missing = {fact for fact in expected - actual if not known_difference(name, prop, fact)}
        assert not missing, f"{name}.{prop}: contract states {missing} which the served schema lacks"


def test_operation_ids_and_statuses(served, contract):
    theirs = contract["paths"]["/v1/scene/create"]["post"]
    ours = served["paths"]["/v1/scene/create"]["post"]
    assert ours["operationId"] == theirs["operationId"]
    assert set(theirs["responses"]) <= set(ours["responses"])


@pytest.mark.parametrize("name", ["claid-scene-schema.json", "example-request.json", "example-response.json"])
def test_fixtures_are_the_shared_contract(name):
    """tests/fixtures holds a copy of shared/contract so a lone clone tests too; they must agree."""
    if not (SHARED / name).exists():
        pytest.skip("shared/contract is not beside this clone")
    assert json.loads((FIXTURES / name).read_text()) == json.loads((SHARED / name).read_text())

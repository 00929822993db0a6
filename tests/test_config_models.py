"""The model table (``engines.models``) is typed: a mistake in it fails the start and names the
setting, whether it comes from the environment or from code."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from photostage.config import DiffusionModel, DiffusionOptions, Settings, StudioModel


def test_the_default_table_and_the_documented_forms(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).engines.models == {name: StudioModel() for name in ("v1", "v2-beta", "v2")}
    models = Settings(data_dir=tmp_path, engines={"models": {  # type: ignore[arg-type]
        "v1": {"engine": "studio"}, "v2": {"engine": "diffusion", "options": {"steps": 12}}}}).engines.models
    assert models["v1"] == StudioModel()
    assert models["v2"] == DiffusionModel(options=DiffusionOptions(steps=12))


def test_the_environment_is_read_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOSTAGE_ENGINES__MODELS", '{"v2": {"engine": "diffusion", "options": {"stepz": 30}}}')
    with pytest.raises(ValidationError, match=r"engines\.models\.v2\.options: unknown diffusion option\(s\) stepz"):
        Settings(data_dir=tmp_path)


@pytest.mark.parametrize(("entry", "message"), [
    ({"engine": "difusion"}, r"engines\.models\.v2\.engine: 'difusion' is not an engine; known: studio, diffusion"),
    ({"options": {}}, r"engines\.models\.v2: no engine named"),
    ({"engine": "studio", "options": {"steps": 3}}, r"engines\.models\.v2\.options: unknown key 'steps'"),
    ({"engine": "studio", "opts": {}}, r"engines\.models\.v2: unknown key 'opts'"),
    ({"engine": "diffusion", "options": {"steps": 0}}, r"engines\.models\.v2\.options: option 'steps'"),
    ({"engine": "diffusion", "options": {"steps": "30"}}, r"engines\.models\.v2\.options: option 'steps'"),
])
def test_a_mistake_fails_the_start_and_names_the_setting(tmp_path: Path, entry: dict[str, object],
                                                        message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(data_dir=tmp_path, engines={"models": {"v2": entry}})  # type: ignore[arg-type]


def test_weights_map_v2_only_when_no_table_is_given(tmp_path: Path) -> None:
    weights = {"diffusion_path": str(tmp_path)}
    assert Settings(data_dir=tmp_path, engines=weights).engines.models["v2"] == DiffusionModel()  # type: ignore[arg-type]
    given = {"v1": {"engine": "studio"}, "v2-beta": {"engine": "diffusion"}, "v2": {"engine": "studio"}}
    models = Settings(data_dir=tmp_path, engines={**weights, "models": given}).engines.models  # type: ignore[arg-type]
    assert models["v2"] == StudioModel() and models["v2-beta"] == DiffusionModel()  # as written
    with pytest.raises(ValidationError, match="no model in engines.models uses the diffusion engine"):
        Settings(data_dir=tmp_path, engines={**weights, "models": {"v1": {"engine": "studio"}}})  # type: ignore[arg-type]

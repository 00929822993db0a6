"""The CLI: local `create` from files, and key management, through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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


def test_create_reports_contract_errors(tmp_path: Path) -> None:
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"hello")
    result = runner.invoke(app, ["create", "--object", str(bad), "--out", str(tmp_path / "o"),
                                 "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 1
    assert '"error_code": "3010"' in result.output


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

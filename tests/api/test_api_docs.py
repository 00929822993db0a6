"""/docs and /redoc load every file from this server: no CDN, no web fonts, no validator badge."""

from __future__ import annotations

import re

import pytest

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_reference_only_local_files(client, path):  # type: ignore[no-untyped-def]
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not EXTERNAL.search(page.text), page.text
    assert "fonts.googleapis" not in page.text and "cdn.jsdelivr" not in page.text
    for asset in re.findall(r"""(?:src|href)=["'](/docs/assets/[^"']+)["']""", page.text):
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 1000


def test_swagger_ui_has_no_outside_validator(client):  # type: ignore[no-untyped-def]
    assert '"validatorUrl": null' in client.get("/docs").text


def test_unknown_docs_asset_is_404(client):  # type: ignore[no-untyped-def]
    assert client.get("/docs/assets/../../app.py").status_code == 404
    assert client.get("/docs/assets/core.py").status_code == 404


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_forbid_loading_from_elsewhere(client, path):  # type: ignore[no-untyped-def]
    policy = client.get(path).headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "img-src 'self' data:" in policy
    assert "http" not in policy  # no outside origin is allowed for anything

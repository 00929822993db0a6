"""The playground: the page at `/` and its static assets under `/web/` (no build step, no CDN).

Only plain files lying directly in ``photostage/web/`` with a known extension are served, by
exact name, so no path can reach outside that folder. The page is sent with a strict Content
Security Policy: scripts, styles and API calls come from this server only.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi import Path as PathParam
from fastapi.responses import Response

from photostage.contract.errors import NOT_FOUND, PhotostageError

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
ASSET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\.(?:js|css|svg|html)")
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data: blob: http: https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

router = APIRouter(tags=["Playground"], include_in_schema=False)


def read_asset(name: str) -> bytes:
    """The bytes of ``web/<name>``; 404 for any name that is not a plain asset file there."""
    if not ASSET_NAME.fullmatch(name):
        raise PhotostageError(NOT_FOUND)
    path = WEB_DIR / name
    if not path.is_file():
        raise PhotostageError(NOT_FOUND)
    return path.read_bytes()


def asset_response(name: str, if_none_match: str | None) -> Response:
    """The asset with an ETag, revalidated on every load (``no-cache``) so an upgraded server
    never runs a stale script, while an unchanged file costs a 304."""
    data = read_asset(name)
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if name.endswith(".html"):
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        headers["Referrer-Policy"] = "no-referrer"
    if if_none_match == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=MEDIA_TYPES[Path(name).suffix], headers=headers)


IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match")]


@router.get("/", operation_id="playground")
def playground(if_none_match: IfNoneMatch = None) -> Response:
    """The playground page."""
    return asset_response("index.html", if_none_match)


@router.get("/web/{name}", operation_id="playground_asset")
def playground_asset(
    name: Annotated[str, PathParam(max_length=80)], if_none_match: IfNoneMatch = None
) -> Response:
    return asset_response(name, if_none_match)

"""`/docs` (Swagger UI) and `/redoc` (ReDoc) served entirely by this server, so they render on a
machine with no network. Their files come from the ``fastapi-offline`` package, which ships
Swagger UI's bundle (Apache-2.0) and ReDoc's standalone build (MIT); no CDN, no web fonts.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response

from photostage.contract.errors import NOT_FOUND, PhotostageError

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
ASSET_PREFIX = "/docs/assets"
TITLE = "photostage API"
# The pages may load nothing from elsewhere: the browser refuses it before any request leaves
# (ReDoc's bundle links its vendor's logo from a CDN; Swagger UI's HTML uses inline scripts).
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
HIDE_VENDOR_LOGO = "<style>a[href*='redocly'] img, a[href*='redoc.ly'] img { display: none; }</style>"


def self_contained(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_POLICY
    return page

router = APIRouter(include_in_schema=False)


def assets_dir() -> Path:
    return Path(str(resources.files("fastapi_offline") / "static"))


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return self_contained(get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"{TITLE} · Swagger UI",
        swagger_js_url=f"{ASSET_PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSET_PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{ASSET_PREFIX}/favicon.png",
        oauth2_redirect_url="/docs/oauth2-redirect",
        # no "validator" badge: it would send the document to an outside validation service
        swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
    ))


@router.get("/docs/oauth2-redirect")
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc() -> HTMLResponse:
    page = get_redoc_html(
        openapi_url="/openapi.json",
        title=f"{TITLE} · ReDoc",
        redoc_js_url=f"{ASSET_PREFIX}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSET_PREFIX}/favicon.png",
        with_google_fonts=False,
    )
    html = bytes(page.body).decode().replace("</head>", HIDE_VENDOR_LOGO + "</head>", 1)
    return self_contained(HTMLResponse(html))


@router.get(ASSET_PREFIX + "/{name}")
def docs_asset(name: Annotated[str, PathParam(max_length=64)]) -> Response:
    """One of the four known files, by exact name (nothing else under the package is reachable)."""
    if name not in ASSETS:
        raise PhotostageError(NOT_FOUND)
    return Response(read_asset(name), media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})


@lru_cache(maxsize=len(ASSETS))
def read_asset(name: str) -> bytes:
    return (assets_dir() / name).read_bytes()

"""The playground page: served assets, and one real browser session (headless Chromium) that places a
product by dragging, generates an effect scene and checks the request the page sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from photostage.api.app import create_app
from photostage.config import Settings

from ..conftest import loopback_listener, make_product, png_bytes, uvicorn_thread  # noqa: TID252

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
IMAGE_LOADED = (
    "() => { const i = document.querySelector('#gallery img');"
    " return i && i.complete && i.naturalWidth > 0; }"
)
PLACED_SIZE = "() => { const b = window.photostagePlacedBox(); return [b.width, b.height]; }"


@dataclass(frozen=True)
class LiveServer:
    url: str
    api_key: str


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The app on a real port (the browser needs one), with tmp_url pointing back at it."""
    listener = loopback_listener()  # the port is held from here on: no race with a suite beside
    port = listener.getsockname()[1]
    settings = Settings(data_dir=tmp_path / "data", rate_limit={"enabled": False}, server={"port": port})
    app = create_app(settings)
    secret, _ = app.state.services.keys.create("t")
    with uvicorn_thread(app, listener) as url:
        yield LiveServer(url=url, api_key=secret)


def test_page_and_script_are_served(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", rate_limit={"enabled": False}))
    with TestClient(app) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="/web/app.js">' in page.text
        assert "Content-Security-Policy" in page.headers
        script = client.get("/web/app.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        assert "/v1/scene/create/async" in script.text
        assert client.get("/web/style.css").status_code == 200
        assert client.get("/web/missing.js").status_code == 404
        assert client.get("/web/..%2fapi%2fapp.py").status_code == 404


def product_file(tmp_path: Path) -> Path:
    """A product with wide transparent margins, so the page must trim them to match the server."""
    rgba = np.zeros((400, 360, 4), np.uint8)
    rgba[40:340, 80:280] = make_product(200, 300)
    path = tmp_path / "bottle.png"
    path.write_bytes(png_bytes(rgba))
    return path


def test_place_by_dragging_and_generate(live_server: LiveServer, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    sent: list[dict[str, object]] = []
    product = product_file(tmp_path)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.on(
                "request",
                lambda request: sent.append(json.loads(request.post_data or "{}"))
                if request.method == "POST" and "/v1/scene/create" in request.url
                else None,
            )
            page.goto(live_server.url + "/")
            page.fill("#api-key", "ps_not_a_key")
            page.press("#api-key", "Tab")
            page.set_input_files("#product-file", str(product))
            page.wait_for_function("document.querySelector('#drop').classList.contains('filled')")
            page.click(".tab[data-kind=effect]")
            page.select_option("#aspect", "4:5")
            page.fill("#scale", "0.5")
            page.fill("#rotation", "30")
            page.select_option("#count", "1")
            drawn = page.evaluate(PLACED_SIZE)

            page.click("#generate")
            page.locator("#error").wait_for(state="visible", timeout=120_000)
            error_text = page.locator("#error").inner_text()
            page.fill("#api-key", live_server.api_key)
            page.press("#api-key", "Tab")

            box = page.locator("#canvas").bounding_box()
            assert box is not None
            start_x, start_y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            delta_x, delta_y = 0.18 * box["width"], -0.1 * box["height"]
            page.mouse.move(start_x, start_y)
            page.mouse.down()
            page.mouse.move(start_x + delta_x / 2, start_y + delta_y / 2, steps=4)
            page.mouse.move(start_x + delta_x, start_y + delta_y, steps=4)
            page.mouse.up()

            page.click("#generate")
            image = page.locator("#gallery img").first
            image.wait_for(timeout=240_000)
            page.wait_for_function(IMAGE_LOADED, timeout=240_000)
            shown = page.locator("#request-json").inner_text()
            curl = page.locator("#request-curl").inner_text()
            notice = page.locator("#notice").inner_text()  # a 262 px tall product on a 1144 px canvas
            page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)
        finally:
            browser.close()

    assert sent, "the page sent no scene request"
    assert "auth" in error_text, error_text
    body = sent[-1]
    obj = body["object"]
    assert isinstance(obj, dict)
    assert obj["image_url"].startswith("data:image/png;base64,")
    assert obj["position"]["x"] == pytest.approx(0.5 + delta_x / box["width"], abs=0.01)
    assert obj["position"]["y"] == pytest.approx(0.5 + delta_y / box["height"], abs=0.01)
    assert obj["scale"] == pytest.approx(0.5)
    assert obj["rotation_degree"] == pytest.approx(30)
    assert body["scene"]["effect"] == "shadows"
    assert body["scene"]["aspect_ratio"] == "4:5"
    assert body["output"]["number_of_images"] == 1
    assert "data:…(" in shown and "base64" not in shown
    assert "$PHOTOSTAGE_API_KEY" in curl
    assert "enlarged" in notice and "will look soft" in notice, notice
    expected = server_box_size(product, rotation=30, scale=0.5, aspect_ratio="4:5")
    assert drawn[0] == pytest.approx(expected[0], rel=0.02)
    assert drawn[1] == pytest.approx(expected[1], rel=0.02)


def server_box_size(path: Path, rotation: float, scale: float, aspect_ratio: str) -> tuple[float, float]:
    """The object box as the pipeline computes it: trim, rotate clockwise, trim again, fit."""
    from PIL import Image

    from photostage.cutout.base import alpha_box
    from photostage.imaging import compose, geometry

    rgba = np.asarray(Image.open(path).convert("RGBA"))
    obj = compose.crop(rgba, alpha_box(rgba[..., 3]))
    obj = compose.rotate(obj, rotation)
    obj = compose.crop(obj, alpha_box(obj[..., 3]))
    canvas = geometry.canvas_size(aspect_ratio)
    box = geometry.absolute_box((obj.shape[1], obj.shape[0]), canvas, scale, (0.5, 0.5))
    return box.width, box.height


RESULT_BOX = """async () => {
  const image = document.querySelector('#gallery img');
  const canvas = document.createElement('canvas');
  canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(image, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let x0 = canvas.width, y0 = canvas.height, x1 = -1, y1 = -1;
  for (let y = 0; y < canvas.height; y++) for (let x = 0; x < canvas.width; x++) {
    const i = (y * canvas.width + x) * 4;
    if (255 - Math.min(data[i], data[i + 1], data[i + 2]) > 40) {
      if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; y1 = y;
    }
  }
  return [x0, y0, x1 + 1, y1 + 1, canvas.width, canvas.height];
}"""


def opaque_product_file(tmp_path: Path) -> Path:
    """An ordinary packshot: the product on a white backdrop with wide margins, no alpha, so the
    whole frame is about three times the product's box."""
    from PIL import Image

    product = make_product(200, 300)
    alpha = product[..., 3:4].astype(np.float32) / 255
    photo = np.full((900, 800, 3), 255, np.uint8)
    photo[300:600, 260:460] = (product[..., :3] * alpha + 255 * (1 - alpha)).round().astype(np.uint8)
    path = tmp_path / "packshot.jpg"
    Image.fromarray(photo).save(path, quality=95)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["transparent", "opaque"])
def test_the_result_matches_the_preview_and_shows_on_a_laptop_screen(
    live_server: LiveServer, tmp_path: Path, kind: str
) -> None:
    """The page previews the server's own cut-out (its box and mask), the product box of the
    result is the previewed box within 2% of the canvas, and the result is on screen at 1366×800."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    product = product_file(tmp_path) if kind == "transparent" else opaque_product_file(tmp_path)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 800})
            page.goto(live_server.url + "/")
            page.fill("#api-key", live_server.api_key)
            page.press("#api-key", "Tab")
            page.set_input_files("#product-file", str(product))
            # the first classical cut-out may compile pymatting's kernels: a bound, not a timing
            page.wait_for_function("() => document.querySelector('#drop').dataset.cutout === 'server'", timeout=240_000)
            status = page.locator("#cutout-status").inner_text()
            assert ("Background removed" if kind == "opaque" else "Used as it is") in status, status
            assert page.locator("#cutout-image").get_attribute("src", timeout=60_000).startswith("data:image/png")
            page.click(".tab[data-kind=effect]")
            page.fill("#effect-color", "#ffffff")
            page.uncheck("#shadow-on")
            page.select_option("#aspect", "1:1")
            page.fill("#scale", "0.5")
            page.select_option("#count", "1")
            drawn = page.evaluate("() => window.photostagePlacedBox()")

            page.click("#generate")
            page.wait_for_function(IMAGE_LOADED, timeout=120_000)
            x0, y0, x1, y1, width, height = page.evaluate(RESULT_BOX)
            image_box = page.locator("#gallery img").first.bounding_box()
            page.screenshot(path=str(tmp_path / f"playground-{kind}.png"))
            # old results go as soon as a new request starts
            emptied = page.evaluate(
                "() => { document.querySelector('#generate').click();"
                " return document.querySelectorAll('#gallery img').length; }"
            )
            page.wait_for_function(IMAGE_LOADED, timeout=120_000)
        finally:
            browser.close()
    tolerance = 0.02 * width
    assert abs(x0 - drawn["left"]) <= tolerance and abs(y0 - drawn["top"]) <= tolerance, (x0, y0, drawn)
    assert abs(x1 - (drawn["left"] + drawn["width"])) <= tolerance, (x1, drawn)
    assert abs(y1 - (drawn["top"] + drawn["height"])) <= tolerance, (y1, drawn)
    assert image_box is not None and image_box["y"] >= 0 and image_box["y"] + image_box["height"] <= 800
    assert emptied == 0


def busy_photo_file(tmp_path: Path) -> Path:
    """A bottle on a cluttered background: the server's cut-out gate refuses it (422, 3021)."""
    import cv2

    from photostage.cutout.synthetic import render_scene

    path = tmp_path / "busy.jpg"
    assert cv2.imwrite(str(path), render_scene("bottle", "cluttered", (320, 320), seed=4).rgb[..., ::-1])
    return path


@pytest.mark.slow
def test_a_refused_cut_out_shows_its_message_and_the_ways_out(live_server: LiveServer, tmp_path: Path) -> None:
    """The preview of a photo the cut-out gate refuses shows the server's message and two actions:
    keep the cut-out (least confidence 0: the preview then shows its confidence and reasons, and the
    request carries the field), or turn removal off (the whole photo is the product)."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    settled = "() => ['server', 'error'].includes(document.querySelector('#drop').dataset.cutout)"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 800})
            page.goto(live_server.url + "/")
            page.fill("#api-key", live_server.api_key)
            page.press("#api-key", "Tab")
            page.set_input_files("#product-file", str(busy_photo_file(tmp_path)))
            # the first classical cut-out may compile pymatting's kernels: a bound, not a timing
            page.wait_for_function(settled, timeout=240_000)
            refused = page.locator("#error").inner_text()
            page.click("#action-keep-cutout")
            page.wait_for_function("() => document.querySelector('#drop').dataset.cutout === 'server'",
                                   timeout=240_000)
            kept_status = page.locator("#cutout-status").inner_text()
            reasons = page.locator("#cutout-reasons li").all_inner_texts()
            kept_request = json.loads(page.locator("#request-json").inner_text())
            page.fill("#min-confidence", "")
            page.press("#min-confidence", "Tab")
            page.locator("#error").wait_for(state="visible", timeout=240_000)  # hidden while it cuts again
            refused_again = page.locator("#error").inner_text()
            page.screenshot(path=str(tmp_path / "playground-refused.png"))
            page.click("#action-removal-off")
            page.wait_for_function("() => document.querySelector('#drop').dataset.cutout === 'server'",
                                   timeout=240_000)
            off_status = page.locator("#cutout-status").inner_text()
            off_request = json.loads(page.locator("#request-json").inner_text())
            error_after = page.locator("#error").is_visible()
        finally:
            browser.close()
    assert "3021" in refused and "not reliable" in refused, refused
    assert "confidence 0." in kept_status and reasons, (kept_status, reasons)
    assert kept_request["object"]["min_cutout_confidence"] == 0
    assert "3021" in refused_again, refused_again
    assert "Removal off" in off_status and not error_after, off_status
    assert off_request["object"]["remove_background"] is False
    assert "min_cutout_confidence" not in off_request["object"]


def test_api_docs_render_with_no_network(live_server: LiveServer) -> None:
    """/docs (Swagger UI) and /redoc render their operations in a browser that may reach this
    server only: every other request is aborted and recorded."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    outside: list[str] = []
    local = live_server.url + "/"

    def only_local(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(local) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 800})
            page.route("**/*", only_local)
            page.goto(live_server.url + "/docs")
            page.locator(".swagger-ui .info .title").wait_for(timeout=120_000)
            assert "photostage" in page.locator(".swagger-ui .info .title").inner_text()
            page.locator(".opblock-summary-path", has_text="/v1/scene/create").first.wait_for(timeout=120_000)
            operations = page.locator(".opblock").count()
            page.goto(live_server.url + "/redoc")
            page.locator("h1", has_text="photostage").first.wait_for(timeout=120_000)
            page.get_by_text("/v1/scene/create", exact=False).first.wait_for(state="attached", timeout=120_000)
        finally:
            browser.close()
    assert operations >= 10
    assert outside == [], f"the docs pages reached outside this server: {outside}"

"""The gallery from real photographs: real products (clean cut-outs) across prompts and templates.

``photostage gallery --photos ../shared/realphotos`` renders, for four GroceryStoreDataset
products (MIT licence; a carton, a yoghurt pack, a pineapple, an apple) cut out with their
reference masks, a row per prompt — settings, props, materials, seasons — and rows on a real
template photograph (scikit-image's CC0 coffee-table photo, when scikit-image is installed) in
`lock`, `adjust` and `transform`. Only GroceryStoreDataset photos are used: the sheet may be
committed and shown (credit them).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from photostage.imaging import compose
from photostage.imaging.codecs import decode
from photostage.scenes.base import PlacedObject, RenderJob, SceneSpec
from photostage.scenes.registry import SceneEngines, local_engines
from photostage.scenes.shadow import with_shadow
from photostage.scenes.standing import stand_on_surface
from photostage.scenes.studio.prompt import parse_prompt

PRODUCTS: tuple[str, ...] = (
    "grocery-alpro-fresh-soy-milk",
    "grocery-arla-natural-yoghurt",
    "produce-pineapple",
    "produce-royal-gala",
)
PROMPTS: tuple[str, ...] = (
    "minimalist podium, pastel colours",
    "kitchen counter, morning light, plants in background",
    "beach, sand, summer",
    "marble countertop, marble wall background, bokeh, closeup",
    "on the wooden table in the dark room",
    "wrapped up for the holidays",
    "spring flowers, easter",
    "flat lay on linen with autumn leaves",
)
TEMPLATE_ROWS: tuple[tuple[str, str | None], ...] = (
    ("lock", None),
    ("adjust", "warm golden light"),
    ("transform", "white marble, pastel pink"),
)
_LABEL_H = 26


def load_products(folder: Path, names: tuple[str, ...] = PRODUCTS) -> list[np.ndarray]:
    """Each product's photo with its reference mask as alpha, cropped to the product: RGBA."""
    products = []
    for name in names:
        rgb = decode((folder / "images" / f"{name}.jpg").read_bytes(), max_pixels=50_000_000).rgba[..., :3]
        mask = cv2.imread(str(folder / "masks" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
        if mask is None or mask.shape != rgb.shape[:2]:
            raise FileNotFoundError(f"no reference mask for {name} in {folder / 'masks'}")
        ys, xs = np.nonzero(mask)
        rgba = np.dstack([rgb, mask])
        products.append(np.ascontiguousarray(rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]))
    return products


def template_photo() -> np.ndarray | None:
    """scikit-image's coffee photograph (CC0, Rachel Michetti), read in place; None without it."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / "coffee.png"
    return decode(path.read_bytes(), max_pixels=50_000_000).rgba[..., :3] if path.is_file() else None


def _placed(product: np.ndarray, width: int, height: int, scale: float, centre: tuple[float, float]) -> PlacedObject:
    ph, pw = product.shape[:2]
    factor = scale * min(width, height) / max(ph, pw)
    resized = compose.resize(product, max(1, round(pw * factor)), max(1, round(ph * factor)))
    left = round(centre[0] * width - resized.shape[1] / 2)
    top = round(centre[1] * height - resized.shape[0] / 2)
    layer = compose.place(resized, width, height, left, top)
    ys, xs = np.nonzero(layer[..., 3])
    return PlacedObject(rgba=layer, box=(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))


def _shot(engines: SceneEngines, job: RenderJob) -> np.ndarray:
    rendered = with_shadow(engines.engine_for("v1", job.scene).render(job), job)
    layer = compose.light_wrap(job.product.rgba, rendered.background, rendered.light_wrap, box=job.product.box)
    return compose.composite_over(rendered.background, layer, job.product.box)[..., :3]


def _label(text: str, width: int) -> np.ndarray:
    strip = np.full((_LABEL_H, width, 3), 24, np.uint8)
    cv2.putText(strip, text, (8, _LABEL_H - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (235, 235, 235), 1, cv2.LINE_AA)
    return strip


def render_showcase(
    products: list[np.ndarray], template: np.ndarray | None, size: int = 256, seed: int = 0
) -> np.ndarray:
    """The sheet: a labelled row per prompt and per template mode, a column per product."""
    engine = local_engines()
    rows: list[np.ndarray] = []
    for row_index, prompt in enumerate(PROMPTS):
        top_view = parse_prompt(prompt).first("view") == "top" or "flat lay" in prompt
        tiles = []
        for column, product in enumerate(products):
            placed = _placed(product, size, size, 0.6, (0.5, 0.5 if top_view else 0.56))
            spec = SceneSpec(kind="prompt", prompt=prompt)
            job = RenderJob(scene=spec, width=size, height=size, product=placed, seed=seed + row_index * 101 + column)
            tiles.append(_shot(engine, job))
        rows.append(np.vstack([_label(prompt, size * len(products)), np.hstack(tiles)]))
    if template is not None:
        rows.extend(_template_rows(engine, [products[3], products[1]], template, size * len(products), seed))
    width = max(row.shape[1] for row in rows)
    padded = [
        cv2.copyMakeBorder(row, 0, 0, 0, width - row.shape[1], cv2.BORDER_CONSTANT, value=(24, 24, 24)) for row in rows
    ]
    return np.vstack(padded)


def _template_rows(
    engine: SceneEngines, products: list[np.ndarray], template: np.ndarray, sheet_width: int, seed: int
) -> list[np.ndarray]:
    """One row per product: the photo in `lock`, `adjust` and `transform`, side by side, each at
    the photo's own aspect, the product on the free part of the table."""
    from photostage.scenes.effect import template_facts

    tile_w = sheet_width // len(TEMPLATE_ROWS)
    tile_h = round(tile_w * template.shape[0] / template.shape[1])
    rows = []
    for number, product in enumerate(products):
        tiles = []
        for mode, prompt in TEMPLATE_ROWS:
            spec = SceneSpec(kind="template", template=template, template_mode=mode, prompt=prompt, view="auto")  # type: ignore[arg-type]
            placed = _placed(product, tile_w, tile_h, 0.42, (0.8, 0.6))
            placed = stand_on_surface(placed, template_facts(spec), "auto", position_given=True)
            job = RenderJob(scene=spec, width=tile_w, height=tile_h, product=placed, seed=seed + number)
            tiles.append(_shot(engine, job))
        if number == 0:
            labels = [f"{mode}" + (f" · {prompt}" if prompt else "") for mode, prompt in TEMPLATE_ROWS]
            rows.append(_label("template: a real photo (coffee, CC0) — " + "  |  ".join(labels), sheet_width))
        rows.append(np.hstack(tiles))
    return rows


def write_showcase(target: Path, photos: Path, size: int = 256, seed: int = 0) -> tuple[int, int]:
    sheet = render_showcase(load_products(photos), template_photo(), size=size, seed=seed)
    target.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(target), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return sheet.shape[1], sheet.shape[0]

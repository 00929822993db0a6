"""The gallery from real photographs: GroceryStoreDataset products cut out with their reference
masks (read in place from ../shared/realphotos), across the prompts and a real template."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from photostage.scenes.studio.showcase import PRODUCTS, PROMPTS, load_products, render_showcase, template_photo

PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "realphotos"
needs_photos = pytest.mark.skipif(not (PHOTOS / "images").is_dir(), reason="../shared/realphotos is not here")


@needs_photos
def test_products_are_clean_cut_outs_of_grocery_photos() -> None:
    products = load_products(PHOTOS)
    assert len(products) == len(PRODUCTS) and all(name.startswith(("grocery-", "produce-")) for name in PRODUCTS)
    for rgba in products:
        assert rgba.shape[2] == 4 and rgba[..., 3].max() == 255
        assert rgba[0].any() or rgba[:, 0].any()  # cropped to the product


@needs_photos
def test_the_sheet_has_a_row_per_prompt_and_template_rows() -> None:
    products = load_products(PHOTOS)
    template = template_photo()
    sheet = render_showcase(products, template, size=64)
    assert sheet.shape[1] == 64 * len(products) and sheet.dtype == np.uint8
    assert sheet.shape[0] >= len(PROMPTS) * 64 + (0 if template is None else 2 * 64)

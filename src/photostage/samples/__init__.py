"""The sample product photo shipped with photostage (drawn by ``render.py`` beside it)."""

from __future__ import annotations

from pathlib import Path

SAMPLE_PRODUCT = Path(__file__).with_name("product.png")
SAMPLE_STORAGE_PATH = "samples/product.png"

"""The built-in `studio` engine: procedural, deterministic product-photography backdrops."""

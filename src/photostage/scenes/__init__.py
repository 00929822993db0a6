"""Background engines: studio (procedural), template modes, effect, diffusion (optional)."""

"""Object extraction engines: alpha, classical (backdrop model + matting), optional neural.

``registry.build_cutout_engine(settings.cutout)`` picks one by name; ``registry.needs_cutout``
decides whether an input is cut out at all. ``synthetic`` renders product photos with exact
ground-truth alpha for tests and benchmarks.
"""

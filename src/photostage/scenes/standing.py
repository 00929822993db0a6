"""Standing the product on a template's surface (see :mod:`photostage.imaging.analysis`).

How ``position`` and ``view`` meet a detected surface — the rule, also in the README:

* ``view: top``, or a template with no surface edge (a flat lay, a close texture): the product
  goes exactly where the request puts it.
* ``view: front`` / ``auto`` on a template with a floor or table:

  - no ``position`` in the request: the product stands centred, its base on the support row
    (a little in front of the surface's far edge);
  - a ``position`` (or an ``original``/``padding`` placement): its x is kept, and so is its
    height when the product's base then lands on the surface (between the far edge and the
    surface's near edge) — the user chose a spot on the floor; otherwise it would float in
    front of the wall, so its base is moved down (or up) onto the support row.
  - a product that would then leave the frame is scaled down about its base until it fits.
"""

from __future__ import annotations

import numpy as np

from photostage.imaging import compose
from photostage.imaging.analysis import SceneFacts
from photostage.scenes.base import PlacedObject

_MARGIN = 0.02  # of the canvas height kept free above a product that had to be scaled to fit


def _box_of(alpha: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(alpha)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def base_row(product: PlacedObject) -> int:
    """The product's lowest opaque row (exclusive end of the opaque box)."""
    opaque = product.alpha >= 128
    rows = np.flatnonzero(opaque.any(axis=1))
    return int(rows[-1]) + 1 if rows.size else product.box[3]


def target_base(product: PlacedObject, facts: SceneFacts, height: int, position_given: bool) -> int | None:
    """The row the product's base should stand on, or None to leave it where it is."""
    if facts.edge_row is None:
        return None
    support = round(facts.support_row * height)
    if not position_given:
        return support
    base = base_row(product)
    on_surface = facts.edge_row * height + 0.01 * height <= base <= facts.near_row * height
    return None if on_surface else support


def stand_on_surface(product: PlacedObject, facts: SceneFacts | None, view: str, position_given: bool) -> PlacedObject:
    """``product`` moved (and if need be shrunk) so that its base stands on the template's surface."""
    if facts is None or view == "top":
        return product
    height, width = product.rgba.shape[:2]
    target = target_base(product, facts, height, position_given)
    if target is None:
        return product
    x0, y0, x1, y1 = product.box
    layer = compose.crop(product.rgba, product.box)
    base_offset = base_row(product) - y0  # rows from the box top to the opaque base
    top = target - base_offset
    limit = round(_MARGIN * height)
    shrink = 1.0
    if top < limit:  # too tall to stand there: shrink about the base
        factor = max(0.05, (target - limit) / max(base_offset, 1))
        new_w, new_h = max(1, round((x1 - x0) * factor)), max(1, round((y1 - y0) * factor))
        layer = compose.resize(layer, new_w, new_h)
        shrink = new_w / max(x1 - x0, 1)
        base_offset = round(base_offset * factor)
        top = target - base_offset
        x0 = round((x0 + x1) / 2 - new_w / 2)
    placed = compose.place(layer, width, height, x0, top)
    if not placed[..., 3].any():
        return product
    return PlacedObject(rgba=placed, box=_box_of(placed[..., 3]), source_size=product.source_size,
                        enlargement=product.enlargement * shrink)

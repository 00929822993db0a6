"""Real photographs without a studio backdrop are refused, not cut out at random.

A held-out set may hold photos "in the wild": a product on a table in a room, a cup on a cafe
counter, a motorbike in a workshop. The default engine cannot cut those out from its backdrop
model, and a 200 with a wrong cut-out would be a silent failure, so its quality gate must refuse
them. The synthetic busy scenes of test_cutout_classical.py are one check; these are real
photographs (scikit-image's CC0/public-domain sample photos, read in place where the package is
installed): the coffee cup and the motorbike are products photographed where they stand, the rest
are scenes, textures and several objects at once.
"""

from __future__ import annotations

import numpy as np
import pytest

from photostage.config import CutoutSettings
from photostage.cutout.classical import ClassicalEngine
from photostage.cutout.quality import assess

from ..scenes.test_studio_real_templates import PHOTOS, _photo  # noqa: TID252

pytestmark = pytest.mark.skipif(PHOTOS is None, reason="scikit-image's sample photos are not installed")

IN_THE_WILD = ("coffee.png", "motorcycle_left.png", "rocket.jpg", "astronaut.png", "chelsea.png", "camera.png",
               "coins.png", "ihc.png", "grass.png", "gravel.png", "brick.png")


@pytest.mark.parametrize("name", IN_THE_WILD)
def test_a_photo_without_a_studio_backdrop_is_refused(name: str) -> None:
    rgb = _photo(name)
    alpha = ClassicalEngine().extract(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])).rgba[..., 3]
    confidence = assess(rgb, alpha)
    assert confidence.score < CutoutSettings().min_confidence, (name, confidence.summary())
    assert confidence.reasons, "a refusal names its reasons"

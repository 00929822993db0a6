"""The small-input notice: how much the product's own pixels are enlarged, and when to say so."""

from __future__ import annotations

import pytest

from photostage.pipeline.enlargement import NOTICE_ABOVE, enlargement, enlargement_notice


def test_enlargement_is_the_larger_linear_factor() -> None:
    assert enlargement((198, 198), (792, 792)) == pytest.approx(4.0)
    assert enlargement((400, 200), (600, 500)) == pytest.approx(2.5)
    assert enlargement((2000, 1000), (800, 400)) == pytest.approx(0.4)
    assert enlargement((0, 0), (10, 10)) == pytest.approx(10.0)  # never a division by zero


def test_notice_only_past_the_threshold_and_says_what_to_do() -> None:
    assert enlargement_notice(1.0, (500, 500)) is None
    assert enlargement_notice(NOTICE_ABOVE, (500, 500)) is None
    text = enlargement_notice(4.0, (198, 150))
    assert text is not None
    assert "4.0x" in text and "198x150" in text and "792x600" in text
    assert "larger photo" in text

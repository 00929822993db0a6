"""Engine selection by configuration, and the rule for when to cut out."""

from __future__ import annotations

from pathlib import Path

import pytest

from photostage.config import CutoutSettings
from photostage.cutout.alpha import AlphaEngine
from photostage.cutout.classical import ClassicalEngine
from photostage.cutout.registry import build_cutout_engine, needs_cutout


@pytest.mark.parametrize(
    ("has_alpha", "mode", "requested", "expected"),
    [
        (False, "auto", None, True),
        (True, "auto", None, False),
        (True, "always", None, True),
        (False, "never", None, False),
        (True, "never", True, True),  # an explicit request wins
        (False, "always", False, False),
        (True, "auto", True, True),
        (False, "auto", False, False),
    ],
)
def test_needs_cutout(has_alpha: bool, mode: str, requested: bool | None, expected: bool) -> None:
    assert needs_cutout(has_alpha, mode, requested) is expected  # type: ignore[arg-type]


def test_builds_engines_by_name() -> None:
    assert isinstance(build_cutout_engine(CutoutSettings()), ClassicalEngine)
    assert isinstance(build_cutout_engine(CutoutSettings(engine="alpha")), AlphaEngine)


def test_unknown_engine_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown cutout engine 'magic'.*classical, neural, alpha"):
        build_cutout_engine(CutoutSettings(engine="magic"))


def test_unavailable_neural_engine_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'neural' is unavailable.*neural_model_path"):
        build_cutout_engine(CutoutSettings(engine="neural"))
    with pytest.raises(ValueError, match="does not exist"):
        build_cutout_engine(CutoutSettings(engine="neural", neural_model_path=tmp_path / "none.onnx"))

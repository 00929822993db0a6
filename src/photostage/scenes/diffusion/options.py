"""The diffusion engine's knobs, read from the model table (``engines.models.<name>.options``).

Several model names may map to the one diffusion engine with different settings (say ``v2`` with
30 steps, ``v2-beta`` with 12 and another scheduler). The options are a typed settings model
(``photostage.config.DiffusionOptions``), so a misspelt or out-of-range option fails the server's
start; ``parse_options`` reads them again from a scene's ``model_options`` (tools and tests build
scenes by hand), with the same checks.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from photostage.config import DiffusionOptions, InitSource, TemplateCall, describe_option_errors

__all__ = ["DiffusionOptions", "InitSource", "TemplateCall", "parse_options"]


def parse_options(raw: Mapping[str, object]) -> DiffusionOptions:
    """Validated options from a model entry's ``options`` mapping; unknown keys are errors."""
    try:
        return DiffusionOptions.model_validate(dict(raw))
    except ValidationError as error:
        raise ValueError(describe_option_errors(error.errors())) from None

"""Reading inputs: https/http (SSRF-guarded at connect time, size-capped), data:, storage://."""

from photostage.sources.addresses import is_forbidden_address
from photostage.sources.guard import Resolver
from photostage.sources.policy import SourcePolicy
from photostage.sources.reader import SourceReader

__all__ = ["Resolver", "SourcePolicy", "SourceReader", "is_forbidden_address"]

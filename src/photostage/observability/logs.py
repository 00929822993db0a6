"""Logging: plain text (the default) or one JSON object per line (``PHOTOSTAGE_LOG__FORMAT=json``),
each line of a request carrying its ``request_id`` (the ``x-request-id`` the client sees), each line
of a job its ``job_id``.

The ids travel in context variables: the request middleware sets ``REQUEST_ID`` and the job
executor ``JOB_ID``; threads started with the request's context (FastAPI's sync routes) see them.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

REQUEST_ID: ContextVar[str | None] = ContextVar("photostage_request_id", default=None)
JOB_ID: ContextVar[str | None] = ContextVar("photostage_job_id", default=None)
# Attributes every LogRecord has; anything else passed with ``extra=`` goes into the JSON object.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class ContextFilter(logging.Filter):
    """Adds ``request_id``/``job_id`` of the current context to every record (None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        if not hasattr(record, "job_id"):
            record.job_id = JOB_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and value is not None:
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(ids)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = [f"{name}={value}" for name in ("request_id", "job_id") if (value := getattr(record, name, None))]
        record.ids = f" [{' '.join(ids)}]" if ids else ""
        return super().format(record)


def configure_logging(format: str = "text", level: str = "INFO") -> None:  # noqa: A002 - the setting's name
    """One handler on the root logger (stderr); uvicorn's and Celery's loggers propagate to it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_photostage", False):
            root.removeHandler(existing)
    handler._photostage = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True

"""Runs an API process for the fleet tests: ``python -m tests.jobs.slow_api PORT`` with the
settings in the environment (PHOTOSTAGE_*), every model rendering through the test's slow engine
(tests/jobs/test_jobs_slow_engine.py), so a test can kill it in the middle of a request."""

from __future__ import annotations

import sys

import uvicorn

from photostage.api.app import create_app
from photostage.config import Settings
from photostage.services import build_services

from .test_jobs_slow_engine import install


def main() -> None:
    settings = Settings()
    services = build_services(settings)
    install(services)
    uvicorn.run(create_app(services=services), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")


if __name__ == "__main__":
    main()

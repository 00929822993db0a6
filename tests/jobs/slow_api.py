"""Runs an API process for the fleet tests: ``python -m tests.jobs.slow_api PORT [PORT_FILE]`` with
the settings in the environment (PHOTOSTAGE_*), every model rendering through the test's slow
engine (tests/jobs/test_jobs_slow_engine.py), so a test can kill it in the middle of a request.
PORT 0 binds a port the kernel picks and keeps it (no race with another suite for a "free" port);
the port is written to PORT_FILE once listening is certain."""

from __future__ import annotations

import os
import socket
import sys

import uvicorn

from photostage.api.app import create_app
from photostage.config import Settings
from photostage.services import build_services

from .test_jobs_slow_engine import install


def main() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", int(sys.argv[1])))
    if len(sys.argv) > 2:
        part = f"{sys.argv[2]}.part"
        with open(part, "w") as handle:
            handle.write(str(listener.getsockname()[1]))
        os.replace(part, sys.argv[2])  # never read half-written
    settings = Settings()
    services = build_services(settings)
    install(services)
    server = uvicorn.Server(uvicorn.Config(create_app(services=services), log_level="warning"))
    server.run(sockets=[listener])


if __name__ == "__main__":
    main()

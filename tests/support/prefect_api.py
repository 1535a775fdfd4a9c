"""Pointing this test process at one real Prefect server after another.

Prefect's events worker is a per-process singleton whose cache key leaves out the API URL: once started
against one server it keeps sending every task-run state event to that server's address, even after the
tests have moved on to another. Events then go nowhere and run history (retries included) stays empty.
Stopping the background services when the server changes makes the next event start a worker for the new one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker

_ENV = ("PREFECT_API_URL", "PREFECT_SERVER_EPHEMERAL_ENABLED")


def restart_prefect_services(timeout: float = 60) -> None:
    """Send what this process still holds to the current server, then stop the workers (they restart on use)."""
    EventsWorker.drain_all(timeout=timeout)
    APILogWorker.drain_all(timeout=timeout)


@contextmanager
def using_server(api_url: str) -> Iterator[None]:
    """Make `api_url` this process's Prefect API (settings and environment), and restore both afterwards.

    The environment is set too, for child processes and anything that reads it; the events and log workers
    are restarted on the way in and drained on the way out, while the server still listens.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    previous = {key: os.environ.get(key) for key in _ENV}
    os.environ["PREFECT_API_URL"] = api_url
    os.environ["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "false"
    try:
        with temporary_settings({PREFECT_API_URL: api_url}):
            restart_prefect_services()
            try:
                yield
            finally:
                restart_prefect_services()
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

"""Pointing this test process at one real Prefect server after another.

Prefect's events worker is a per-process singleton whose cache key leaves out the API URL: once started
against one server it keeps sending every task-run state event to that server's address, even after the
tests have moved on to another. Events then go nowhere and run history (retries included) stays empty.
Stopping the background services when the server changes makes the next event start a worker for the new one.
"""

from __future__ import annotations

from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker


def restart_prefect_services(timeout: float = 60) -> None:
    """Send what this process still holds to the current server, then stop the workers (they restart on use)."""
    EventsWorker.drain_all(timeout=timeout)
    APILogWorker.drain_all(timeout=timeout)

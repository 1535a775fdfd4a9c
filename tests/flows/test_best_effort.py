"""Calls a run can do without (issue 17 item 3): against a Prefect API where nothing listens, an artifact is a
WARNING and `None`, never an exception, and the wait for the API gives up when its bound runs out."""

from __future__ import annotations

import logging

import pytest
from prefect.artifacts import acreate_markdown_artifact
from prefect.settings import PREFECT_API_URL, temporary_settings

from ecsync.processes import free_port
from flows.best_effort import Throttled, best_effort, wait_for_api


@pytest.fixture()
def api_nobody_answers():
    with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{free_port()}/api"}):
        yield


async def test_an_artifact_the_api_does_not_take_is_a_warning(api_nobody_answers, caplog) -> None:
    caplog.set_level(logging.WARNING)
    made = await best_effort("write the status artifact", lambda: acreate_markdown_artifact(markdown="# x", key="x"))
    assert made is None
    said = [r.getMessage() for r in caplog.records]
    assert any("Could not write the status artifact" in line and "ConnectError" in line for line in said), said


async def test_progress_updates_pause_after_a_failure(api_nobody_answers, caplog) -> None:
    caplog.set_level(logging.WARNING)
    now = [0.0]
    calls = []

    def update():
        calls.append(now[0])
        return acreate_markdown_artifact(markdown="# progress", key="progress")

    attempt = Throttled(quiet_seconds=60, clock=lambda: now[0])
    assert await attempt("update the progress artifact", update) is None
    now[0] = 30.0
    assert await attempt("update the progress artifact", update) is None  # paused: not even tried
    now[0] = 61.0
    assert await attempt("update the progress artifact", update) is None
    assert calls == [0.0, 61.0]
    assert sum("Could not update the progress artifact" in r.getMessage() for r in caplog.records) == 2


async def test_the_wait_for_the_api_is_bounded(api_nobody_answers) -> None:
    assert await wait_for_api(1.0, first_delay=0.2) is False

"""`serve` that outlives Prefect API outages: a runner that keeps polling, restarted with backoff if it fails.

Prefect's runner (what `prefect.serve` starts) gives up when its poll of the API fails three times in a row
(with the client's retries, about two and a half minutes of outage): its poll loop raises, the runner stops, it
kills the flow runs it had started (their processes, mid-work) and the process exits, so no scheduled or
requested run starts again until someone restarts it. Two layers keep it serving:

- `PatientRunner` polls through an outage: a poll the API does not answer is logged (once per outage, as a
  WARNING) and tried again at the next interval, so the runner never gives up and the runs it started go on;
- `supervise` starts the runner again whenever it stops by itself or fails (for example when `serve` starts
  before the Prefect server, or the API refuses to register a deployment), after a pause that doubles up to
  `MAX_DELAY_SECONDS` and once the API answers its health check, each restart logged as a WARNING. Only a
  signal (Ctrl-C, SIGTERM) ends the loop.

This keeps one `serve` alive across outages of the API; the process itself still wants a supervisor that starts
it at boot and after a crash of the machine or of Python (README: "Keeping serve running").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment
    from prefect.runner import Runner

log = logging.getLogger("ecsync.serve")

FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 60.0
STABLE_SECONDS = 300.0
"""A runner that lived this long before giving up starts the backoff from the beginning again."""


def _unreachable(exc: BaseException) -> bool:
    """A failure that says the API is away (no connection, a time-out, a 5xx), not that the request was wrong."""
    import httpx

    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code >= 500


def patient_runner(limit: int) -> Runner:
    """A Prefect runner whose poll for scheduled runs rides out an API outage instead of giving up."""
    from prefect.runner import Runner

    class PatientRunner(Runner):
        async def __aenter__(self) -> PatientRunner:
            await super().__aenter__()
            poller = self._scheduled_run_poller
            poll = poller._get_and_submit_flow_runs
            failed = 0

            async def patient_poll() -> None:
                nonlocal failed
                try:
                    await poll()
                except Exception as exc:
                    if not _unreachable(exc):
                        raise
                    failed += 1
                    if failed == 1:
                        log.warning(
                            "serve: the Prefect API does not answer (%s: %s); still serving, polling again every %s s",
                            type(exc).__name__,
                            exc,
                            poller._query_seconds,
                        )
                    return
                if failed:
                    log.warning("serve: the Prefect API answers again after %d failed polls", failed)
                    failed = 0

            poller._get_and_submit_flow_runs = patient_poll  # type: ignore[method-assign]
            return self

    return PatientRunner(pause_on_shutdown=False, limit=limit)


class Stopped(Exception):
    """The runner was told to stop (a signal): the supervising loop ends."""


async def _run_once(deployments: list[RunnerDeployment], limit: int) -> None:
    """One life of Prefect's runner: as `prefect.serve` does, minus the banner; raises Stopped after a signal."""
    from prefect.exceptions import TerminationSignal

    runner = patient_runner(limit)
    try:
        for deployment in deployments:
            await runner.aadd_deployment(deployment)
        await runner.start()
    except (KeyboardInterrupt, TerminationSignal) as exc:
        raise Stopped from exc
    if runner.stopping:
        raise Stopped


def _describe(exc: BaseException) -> str:
    """The first real failure inside task-group wrappers ("unhandled errors in a TaskGroup" says nothing)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def _api_answers() -> bool:
    from flows.best_effort import api_is_up

    return asyncio.run(api_is_up())


def supervise(
    build: Callable[[], list[RunnerDeployment]],
    limit: int,
    *,
    first_delay: float = FIRST_DELAY_SECONDS,
    max_delay: float = MAX_DELAY_SECONDS,
) -> int:
    """Serve `build()`'s deployments until a signal; restart the runner whenever it gives up or fails.

    Returns how many times the runner was restarted.
    """
    restarts = 0
    delay = first_delay
    while True:
        started = time.monotonic()
        try:
            asyncio.run(_run_once(build(), limit))
            reason = "the runner stopped polling the Prefect API (it gave up after repeated failures)"
        except (Stopped, KeyboardInterrupt):
            log.info("serve stopped by a signal after %d restart(s)", restarts)
            return restarts
        except Exception as exc:
            reason = f"the runner failed: {_describe(exc)}"
        if time.monotonic() - started >= STABLE_SECONDS:
            delay = first_delay
        restarts += 1
        try:
            log.warning("serve: %s; restart %d in %.0f s, once the Prefect API answers", reason, restarts, delay)
            time.sleep(delay)
            while not _api_answers():
                delay = min(delay * 2, max_delay)
                log.warning("serve: the Prefect API does not answer; trying again in %.0f s", delay)
                time.sleep(delay)
        except KeyboardInterrupt:
            log.info("serve stopped by a signal after %d restart(s)", restarts)
            return restarts
        delay = min(delay * 2, max_delay)
        log.warning("serve: the Prefect API answers; starting the runner again (restart %d)", restarts)

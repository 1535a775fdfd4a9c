"""Calls to the Prefect API that a run can do without: artifacts, progress, tags.

The work of a run (the repositories and the sync state) does not need the Prefect API; its record does. A
Prefect server that goes away for a minute (a restart, an upgrade, a failover) must not abort a reconcile half
way, so every call that only decorates the run's record goes through `best_effort`: it logs one WARNING and
the run carries on. Before its final artifacts and state, a run waits for the API to come back
(`wait_for_api`, bounded by `ECSYNC_API_WAIT_SECONDS`), so that work done during an outage is recorded as done.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tasks.run_log import run_logger

T = TypeVar("T")

QUIET_SECONDS = 60.0
"""After a failed progress update, later ones are skipped for this long: each would wait out the client's retries."""


async def best_effort(what: str, call: Callable[[], Awaitable[T]], *, timeout: float | None = None) -> T | None:
    """`await call()`; on any failure (or after `timeout` seconds) log a WARNING naming `what` and return None."""
    try:
        if timeout is None:
            return await call()
        return await asyncio.wait_for(call(), timeout)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        run_logger().warning("Could not %s (the Prefect API: %s); the run carries on without it", what, _reason(exc, timeout))
        return None


def _reason(exc: BaseException, timeout: float | None) -> str:
    if isinstance(exc, TimeoutError) and timeout is not None:
        return f"no answer within {timeout:.0f} s"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


async def api_is_up(timeout: float = 10.0) -> bool:
    """True when the Prefect API answers its health check."""
    from prefect.client.orchestration import get_client

    try:
        async with get_client() as client:
            failure = await asyncio.wait_for(client.api_healthcheck(), timeout)
    except Exception:
        return False
    return failure is None


async def wait_for_api(max_seconds: float, *, first_delay: float = 1.0, max_delay: float = 30.0) -> bool:
    """Wait, with doubling pauses, until the Prefect API answers; at most `max_seconds`. True when it answers.

    Called before a run writes its final artifacts and its final state: without it, a run that finished its
    work during an outage would be recorded Crashed, without its task runs.
    """
    if await api_is_up():
        return True
    log = run_logger()
    log.warning("The Prefect API does not answer; waiting up to %.0f s for it so this run's record is complete", max_seconds)
    deadline = time.monotonic() + max_seconds
    delay = first_delay
    while time.monotonic() < deadline:
        await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0.0)))
        if await api_is_up():
            log.warning("The Prefect API answers again; recording this run")
            return True
        delay = min(delay * 2, max_delay)
    log.warning("The Prefect API still does not answer after %.0f s; this run's record may be incomplete", max_seconds)
    return False


class Throttled:
    """Best-effort calls, one at a time, that pause for `QUIET_SECONDS` after a failure (progress updates: a
    call made while another is under way, or during the pause, is skipped)."""

    def __init__(self, quiet_seconds: float = QUIET_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet_seconds = quiet_seconds
        self.clock = clock
        self.failed_at: float | None = None
        self.busy = False

    async def __call__(self, what: str, call: Callable[[], Awaitable[T]], *, timeout: float | None = None) -> T | None:
        if self.busy or (self.failed_at is not None and self.clock() - self.failed_at < self.quiet_seconds):
            return None
        self.busy = True
        try:
            result = await (call() if timeout is None else asyncio.wait_for(call(), timeout))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failed_at = self.clock()
            run_logger().warning(
                "Could not %s (the Prefect API: %s); the run carries on, the next try in %.0f s",
                what,
                _reason(exc, timeout),
                self.quiet_seconds,
            )
            return None
        finally:
            self.busy = False
        self.failed_at = None
        return result

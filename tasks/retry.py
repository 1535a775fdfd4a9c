"""Retry only what a retry can fix: transient failures (5xx, 429, time-outs, dropped connections).

A 403, a name clash or a quota error will fail the same way on every attempt; retrying them only delays
the member's failure and hides it from the user.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prefect.tasks import exponential_backoff

from connectors.errors import RepositoryError

T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, RepositoryError) and exc.retryable


def retry_transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """`retry_condition_fn` for side-effecting tasks: True only when the failure is transient.

    Prefect hands over a Failed state whose data is the exception. `state.result()` is not used to get at
    it: in an async task it returns an awaitable instead of raising, and nothing would ever be retried.
    """
    data = getattr(state, "data", None)
    return isinstance(data, BaseException) and is_transient(data)


def retry_options(retries: int, backoff_seconds: float) -> dict[str, Any]:
    """Task options for exponential backoff with jitter, retrying transient failures only."""
    return {
        "retries": retries,
        "retry_delay_seconds": exponential_backoff(backoff_factor=backoff_seconds) if backoff_seconds else 0,
        "retry_jitter_factor": 0.5 if backoff_seconds else None,
        "retry_condition_fn": retry_transient_only,
    }


async def call_with_retries(call: Callable[[], Awaitable[T]], retries: int, backoff_seconds: float, what: str = "call") -> T:
    """Await `call()`, again after a transient failure, at most `retries` more times with doubling delays.

    For the few repository calls a run makes outside task runs (validation at setup, `whoami`, reading the
    direct members, adopting a half-done create): without this, one 503 there fails or blinds the whole run,
    where the same fault inside a task run is retried.
    """
    delay = backoff_seconds
    for attempt in range(retries + 1):
        try:
            return await call()
        except Exception as exc:
            if attempt >= retries or not is_transient(exc):
                raise
            logging.getLogger("ecsync").info("%s failed transiently (attempt %d), retrying: %s", what, attempt + 1, exc)
        await asyncio.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover

"""The one retry policy: retry only what a retry can fix, with doubling delays and jitter.

A 403, a name clash or a quota error fails the same way on every attempt; retrying it only delays the
member's failure and hides it from the user. Transient failures (5xx, 429, time-outs, dropped connections:
`RepositoryError.retryable`) are retried, in exactly these places, all with one `RetryPolicy`:

1. `transfer` task runs (one repository action each): Prefect retries them (`RetryPolicy.task_options`),
   so every retry is a task-run state (AwaitingRetry, Retrying) in run history.
2. `transfer-batch` task runs do not retry: an action that failed transiently in a batch is handed to a
   `transfer` task run of its own (1), so only the actions that met a fault pay for a task run each.
3. `compare` task runs (hashing content to tell a change from a touch): Prefect retries, as (1).
4. `scan-folders` task runs (a chunk of folders): each folder is retried on its own inside the chunk
   (`RetryPolicy.call`), so the folders already listed are not listed again; each retry is a WARNING line.
5. Calls a run makes outside task runs: setup validation and the cloud folders it creates, `whoami`,
   reading the direct members, adopting a half-done create (`RetryPolicy.call`); one 503 there would
   otherwise fail or blind the whole run.
6. Whatever is still transient after that fails the member as TRANSIENT ("Temporary sync error"), and the
   next scheduled run tries it again.

Not retries: the Alfresco client renews an expired ticket once and re-sends the request (a 401 is not a
fault of the request), and the local connector re-walks its tree once when a node moved (a stale index).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from prefect.tasks import exponential_backoff

from connectors.errors import RepositoryError

T = TypeVar("T")
JITTER = 0.5
"""Each delay varies by up to half its length, so runs that failed together do not retry together."""


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, RepositoryError) and exc.retryable


def retry_transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's `retry_condition_fn`: True only when the failed state carries a transient error.

    Prefect hands over a Failed state whose data is the exception. `state.result()` is not used to get at
    it: in an async task it returns an awaitable instead of raising, and nothing would ever be retried.
    """
    data = getattr(state, "data", None)
    return isinstance(data, BaseException) and is_transient(data)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times a transient failure is tried again, and how long to wait first (doubling each time)."""

    retries: int = 3
    backoff_seconds: float = 1.0

    @classmethod
    def from_settings(cls, settings: Any) -> RetryPolicy:
        return cls(retries=settings.task_retries, backoff_seconds=settings.retry_backoff_seconds)

    def task_options(self) -> dict[str, Any]:
        """Options for a side-effecting Prefect task: exponential backoff with jitter, transient failures only."""
        return {
            "retries": self.retries,
            "retry_delay_seconds": exponential_backoff(backoff_factor=self.backoff_seconds) if self.backoff_seconds else 0,
            "retry_jitter_factor": JITTER if self.backoff_seconds else None,
            "retry_condition_fn": retry_transient_only,
        }

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1, 2, ...), jittered as Prefect jitters task retries."""
        base = self.backoff_seconds * (2 ** (attempt - 1))
        return max(0.0, base * (1 + random.uniform(-JITTER, JITTER))) if base else 0.0

    async def call(
        self, call: Callable[[], Awaitable[T]], what: str, *, log: logging.Logger | logging.LoggerAdapter[Any] | None = None
    ) -> T:
        """Await `call()`, again after a transient failure, at most `retries` more times.

        For calls made outside task runs (see the module docstring). Each retry is logged (at WARNING on
        `log` when given, the run's logger, else at INFO on the product's logger).
        """
        for attempt in range(self.retries + 1):
            try:
                return await call()
            except Exception as exc:
                if attempt >= self.retries or not is_transient(exc):
                    raise
                if log is not None:
                    log.warning("%s failed transiently (attempt %d), retrying: %s", what, attempt + 1, exc)
                else:
                    logging.getLogger("ecsync").info("%s failed transiently (attempt %d), retrying: %s", what, attempt + 1, exc)
            await asyncio.sleep(self.delay(attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

"""The one retry policy (`tasks.retry`): what is retried, how often, and that Prefect sees it the same way."""

from __future__ import annotations

import pytest
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, Failed, exception_to_failed_state

from connectors.errors import (
    AccessDeniedError,
    NameClashError,
    NodeLockedError,
    QuotaExceededError,
    TechnicalReport,
    TransientError,
)
from tasks.retry import RetryPolicy, is_transient, retry_transient_only
from tasks.scan import scan_folders
from tasks.transfer import compare_content, transfer, transfer_batch

REPORT = TechnicalReport(operation="test")
PERMANENT = [
    AccessDeniedError("403", REPORT),
    NameClashError("409", REPORT),
    NodeLockedError("409 locked", REPORT),
    QuotaExceededError("507", REPORT),
    ValueError("a bug, not a fault"),
]


def _engine_state(exc: Exception) -> Failed:  # type: ignore[type-arg]
    """The state Prefect's AsyncTaskRunEngine.can_retry hands to `retry_condition_fn` for a raised exception."""
    return Failed(data=exc, message=f"Task run encountered unexpected exception: {exc!r}")


def test_a_transient_failure_is_retried_in_the_state_prefects_task_engine_builds() -> None:
    assert retry_transient_only(None, None, _engine_state(TransientError("503", REPORT)))


@pytest.mark.parametrize("exc", PERMANENT, ids=lambda e: type(e).__name__)
def test_a_permanent_failure_is_not_retried(exc: Exception) -> None:
    assert not retry_transient_only(None, None, _engine_state(exc))
    assert not is_transient(exc)


async def test_the_failed_state_of_a_raised_exception_carries_it_when_results_are_not_persisted() -> None:
    state = await exception_to_failed_state(TransientError("dropped connection", REPORT))
    assert retry_transient_only(None, None, state)
    assert not retry_transient_only(None, None, Completed(data=None))


def test_side_effecting_tasks_never_cache_nor_persist_results() -> None:
    """With persisted results the state's data would be a result record, the condition would never see the
    exception, and a cached transfer would silently skip a later transfer of the same path."""
    for task in (transfer, transfer_batch, compare_content, scan_folders):
        assert task.cache_policy is NO_CACHE, task.name
        assert task.persist_result is False, task.name


def test_task_options_retry_transient_failures_with_doubling_jittered_delays() -> None:
    options = RetryPolicy(retries=4, backoff_seconds=2.0).task_options()
    assert options["retries"] == 4
    assert options["retry_condition_fn"] is retry_transient_only
    assert options["retry_jitter_factor"] == 0.5
    delays = options["retry_delay_seconds"]
    assert list(delays(4)) == [2.0, 4.0, 8.0, 16.0]
    no_wait = RetryPolicy(retries=2, backoff_seconds=0).task_options()["retry_delay_seconds"]
    assert no_wait == 0


def test_delays_double_and_stay_within_the_jitter() -> None:
    policy = RetryPolicy(retries=3, backoff_seconds=1.0)
    for attempt, base in ((1, 1.0), (2, 2.0), (3, 4.0)):
        for _ in range(50):
            assert base * 0.5 <= policy.delay(attempt) <= base * 1.5


async def test_call_retries_a_transient_failure_then_gives_up() -> None:
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise TransientError("503", REPORT)
        return "done"

    twice = RetryPolicy(retries=2, backoff_seconds=0)
    assert await twice.call(flaky, "flaky") == "done"
    assert len(attempts) == 3

    async def always() -> str:
        attempts.append(1)
        raise TransientError("503", REPORT)

    attempts.clear()
    with pytest.raises(TransientError):
        await RetryPolicy(retries=2, backoff_seconds=0).call(always, "always")
    assert len(attempts) == 3


async def test_call_does_not_retry_a_permanent_failure() -> None:
    attempts: list[int] = []

    async def denied() -> str:
        attempts.append(1)
        raise AccessDeniedError("403", REPORT)

    with pytest.raises(AccessDeniedError):
        await RetryPolicy(retries=5, backoff_seconds=0).call(denied, "denied")
    assert attempts == [1]

"""The transport of one run (Unison's transport.ml): carry out repository actions.

Which functions do the work is one choice, `TaskCalls`: Prefect task runs in production (`task_runs`), so
every transfer, retry and failure is in run history; or the same functions called directly (`plain_calls`),
so the whole run works without Prefect or its API (the property tests, embedding programs).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prefect.utilities.annotations import quote

from connectors.base import Node, Repository
from connectors.errors import TransientError
from sync.model import Action, ActionKind
from tasks.batching import Batcher, Report
from tasks.retry import RetryPolicy
from tasks.scan import scan_folders
from tasks.transfer import BATCH_MAX_BYTES, RunContext, action_label, compare_content, transfer, transfer_batch

K = ActionKind
BATCHED_KINDS = frozenset(
    {K.CREATE_FOLDER, K.UPDATE_METADATA, K.RENAME, K.MOVE, K.DELETE, K.LOCK, K.UNLOCK, K.ENSURE_VERSIONABLE}
)
"""Actions that move no content: always small enough for a batch."""


@dataclass(frozen=True)
class TaskCalls:
    """The four functions a run's work goes through."""

    transfer: Callable[[RunContext, Action, str], Awaitable[Node | None]]
    transfer_batch: Callable[[RunContext, Sequence[Action], str, asyncio.Semaphore, Report | None], Awaitable[Sequence[Any]]]
    scan_folders: Callable[..., Awaitable[Any]]
    compare: Callable[[Repository, str, str], Awaitable[str]]


def task_runs(policy: RetryPolicy) -> TaskCalls:
    """Each call a Prefect task run; `transfer` and `compare` retried by Prefect (see `tasks.retry`).

    Arguments go through `quote()`: Prefect walks task arguments looking for futures, twice per task run,
    and through 100 dataclass actions that walk cost more than the task run itself (bench/RESULTS.md).
    """
    single = transfer.with_options(**policy.task_options())
    compare = compare_content.with_options(**policy.task_options())

    async def one(context: RunContext, action: Action, label: str) -> Node | None:
        return await single(context, quote(action), label)  # type: ignore[call-overload]  # quote() is unwrapped by Prefect

    async def batch(
        context: RunContext, actions: Sequence[Action], label: str, slots: asyncio.Semaphore, report: Report | None
    ) -> Sequence[Any]:
        return await transfer_batch(context, quote(list(actions)), label, slots, report)  # type: ignore[call-overload]

    return TaskCalls(transfer=one, transfer_batch=batch, scan_folders=scan_folders, compare=compare)


def plain_calls() -> TaskCalls:
    """The same functions called directly: no task runs, no Prefect API, no retries of transfers."""
    return TaskCalls(
        transfer=transfer.fn,
        transfer_batch=transfer_batch.fn,
        scan_folders=scan_folders.fn,
        compare=compare_content.fn,
    )


class Transport:
    """Carries out the repository actions of one run: small ones in batches, the rest one task run each.

    At most `slots` repository calls are in flight across the run. A batch tries each of its actions once;
    an action that failed transiently there gets a `transfer` of its own, whose retries (transient failures
    only) are task-run states in run history: only the actions that met a fault pay for a task run each.
    """

    def __init__(
        self,
        context: RunContext,
        calls: TaskCalls,
        slots: int,
        *,
        describe: Callable[[Action], str] = action_label,
        log: Any = None,
    ) -> None:
        self.context = context
        self.calls = calls
        self.describe = describe
        self.slots = asyncio.Semaphore(slots)
        self.log = log
        self.batcher = Batcher(self._batch, slots, describe)

    async def _batch(self, actions: Sequence[Action], label: str, report: Report) -> Sequence[Node | Exception | None]:
        return await self.calls.transfer_batch(self.context, actions, label, self.slots, report)

    def batchable(self, action: Action) -> bool:
        """No content, or content of a known size up to BATCH_MAX_BYTES."""
        if action.kind in BATCHED_KINDS:
            return True
        if action.kind in (K.UPLOAD, K.UPDATE_CONTENT) and action.source is not None and action.source.node_id:
            source = self.context.observed[action.source.side].get(action.source.node_id)
            return source is not None and source.size is not None and source.size <= BATCH_MAX_BYTES
        return False

    async def run(self, action: Action) -> Node | None:
        """The node the action made or changed (None for a delete); its `RepositoryError` raised."""
        if self.batchable(action):
            try:
                return await self.batcher.submit(action)
            except TransientError as exc:
                if self.log is not None:
                    self.log.warning("%s failed transiently in its batch, retried on its own: %s", self.describe(action), exc)
        async with self.slots:
            return await self.calls.transfer(self.context, action, self.describe(action))

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
from connectors.errors import RepositoryError
from sync.model import Action, ActionKind
from tasks.batching import Batcher, Report
from tasks.retry import RetryPolicy
from tasks.scan import scan_folders
from tasks.transfer import (
    BATCH_MAX_BYTES,
    RunContext,
    carry_out_batch,
    compare_content,
    item_not_synced,
    transfer,
    transfer_batch,
)

K = ActionKind
BATCHED_KINDS = frozenset(
    {K.CREATE_FOLDER, K.UPDATE_METADATA, K.RENAME, K.MOVE, K.DELETE, K.LOCK, K.UNLOCK, K.ENSURE_VERSIONABLE}
)
"""Actions that move no content: always small enough for a batch."""


BatchCall = Callable[[RunContext, Sequence[Action], Sequence[str], str, asyncio.Semaphore, Report], Awaitable[Sequence[Any]]]


@dataclass(frozen=True)
class TaskCalls:
    """The functions a run's work goes through."""

    transfer: Callable[[RunContext, Action, str], Awaitable[Node | None]]
    transfer_batch: BatchCall
    """(context, actions, their labels, the batch's label, slots, report) -> each action's node or exception."""
    scan_folders: Callable[..., Awaitable[Any]]
    compare: Callable[[Repository, str, str], Awaitable[str]]
    item_not_synced: Callable[[str, str], Awaitable[None]]
    """(label, message): a failure the plan decided, recorded as a Failed task run (never raises)."""


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
        context: RunContext,
        actions: Sequence[Action],
        labels: Sequence[str],
        label: str,
        slots: asyncio.Semaphore,
        report: Report,
    ) -> Sequence[Any]:
        # An async task called with return_state=True is awaited for its final state (Prefect's overloads say
        # otherwise); the batch returns a Completed state carrying the results, read back here.
        state: Any = await transfer_batch(  # type: ignore[call-overload, misc]
            context, quote(list(actions)), quote(list(labels)), label, slots, report, return_state=True
        )
        return await state.result()  # type: ignore[no-any-return]  # the batch's failure itself is raised here

    async def not_synced(label: str, message: str) -> None:
        await item_not_synced(label, message, return_state=True)  # type: ignore[misc]  # its Failed state is the record

    return TaskCalls(transfer=one, transfer_batch=batch, scan_folders=scan_folders, compare=compare, item_not_synced=not_synced)


def plain_calls() -> TaskCalls:
    """The same functions called directly: no task runs, no Prefect API, no retries of transfers."""

    async def batch(
        context: RunContext,
        actions: Sequence[Action],
        labels: Sequence[str],
        label: str,
        slots: asyncio.Semaphore,
        report: Report,
    ) -> Sequence[Any]:
        results, _message = await carry_out_batch(context, actions, labels, slots, report)
        return results

    async def not_synced(label: str, message: str) -> None:
        return None

    return TaskCalls(
        transfer=transfer.fn,
        transfer_batch=batch,
        scan_folders=scan_folders.fn,
        compare=compare_content.fn,
        item_not_synced=not_synced,
    )


class Transport:
    """Carries out the repository actions of one run: small ones in batches, the rest one task run each.

    At most `slots` repository calls are in flight across the run. A batch tries each of its actions once;
    an action that failed there goes on to a `transfer` task run of its own, named after the item: a
    transient failure is retried there (task-run states in run history), and an item that cannot be synced
    ends there as a Failed task run whose message carries its error code and technical report. Only the
    actions that met a fault pay for a task run each.
    """

    def __init__(
        self,
        context: RunContext,
        calls: TaskCalls,
        slots: int,
        *,
        describe: Callable[[Action], str],
        log: Any = None,
    ) -> None:
        self.context = context
        self.calls = calls
        self.describe = describe
        self.slots = asyncio.Semaphore(slots)
        self.log = log
        self.batcher = Batcher(self._batch, slots, describe)

    async def _batch(self, actions: Sequence[Action], label: str, report: Report) -> Sequence[Node | Exception | None]:
        labels = [self.describe(action) for action in actions]
        return await self.calls.transfer_batch(self.context, actions, labels, label, self.slots, report)

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
            except RepositoryError as exc:
                if self.log is not None:
                    self.log.warning(
                        "%s failed in its batch, tried again in a task run of its own: %s", self.describe(action), exc
                    )
        async with self.slots:
            return await self.calls.transfer(self.context, action, self.describe(action))

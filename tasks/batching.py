"""Micro-batching: small actions that become ready at about the same time share one `transfer-batch` call.

Prefect's machinery costs ~3-7 ms per task run, more than a small file's own work (bench/RESULTS.md); a
batch of up to `BATCH_SIZE` actions pays it once. The batcher knows nothing of Prefect: it calls whatever
batch function it is given (a task in production, a plain function without Prefect).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from connectors.base import Node
from sync.model import Action

BATCH_SIZE = 100
BATCH_WAIT_SECONDS = 0.005
"""How long the first action of a batch waits for others to become ready before the batch starts."""
BACKLOG_PER_SLOT = 2
"""While running batches hold this many unfinished actions per transfer slot, new actions gather instead."""

Report = Callable[[int, Node | Exception | None], None]
BatchCall = Callable[[Sequence[Action], str, Report], Awaitable[Sequence[Node | Exception | None]]]
"""(actions, label, report) -> each action's node or exception, in order; `report(i, result)` as each ends."""


def batch_label(actions: Sequence[Action], describe: Callable[[Action], str]) -> str:
    """The batch's task-run name: how many actions, and the first of them."""
    more = f" and {len(actions) - 1} more" if len(actions) > 1 else ""
    return f"transfer-batch of {len(actions)}: {describe(actions[0])}{more}"


class Batcher:
    """Gathers small actions into batches.

    An action is submitted only once its dependencies are done, so the actions of a batch never depend on
    each other. A batch starts when it holds `BATCH_SIZE` actions, or `BATCH_WAIT_SECONDS` after its first
    while the running batches are short of work. While they hold a backlog (`BACKLOG_PER_SLOT` unfinished
    actions per slot) new actions gather into the next batch instead, which starts as soon as the backlog
    runs low: a busy run makes few, large batches; a sparse one starts each action within milliseconds.
    Each action's result is handed back as the action ends, not when its whole batch does, so what waits for
    it (a folder's children) starts at once.
    """

    def __init__(self, call: BatchCall, slot_count: int, describe: Callable[[Action], str]) -> None:
        self._call = call
        self._describe = describe
        self._low_water = max(1, BACKLOG_PER_SLOT * slot_count)
        self._pending: list[tuple[Action, asyncio.Future[Node | None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._active = 0
        """Actions in running batches that have not ended yet."""
        self.batches = 0
        self.submitted = 0

    async def submit(self, action: Action) -> Node | None:
        """The action's node once its batch ran it; its exception re-raised here."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Node | None] = loop.create_future()
        self.submitted += 1
        self._pending.append((action, future))
        if len(self._pending) >= BATCH_SIZE:
            self._flush()
        elif self._active < self._low_water and self._timer is None:
            self._timer = loop.call_later(BATCH_WAIT_SECONDS, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            self._active += len(batch)
            self.batches += 1
            runner = asyncio.create_task(self._run(batch))
            self._running.add(runner)
            runner.add_done_callback(self._running.discard)

    def _settle(self, future: asyncio.Future[Node | None], result: Node | BaseException | None) -> None:
        if future.done():
            return
        self._active -= 1
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
        if self._pending and self._active < self._low_water and self._timer is None:
            self._flush()

    async def _run(self, batch: list[tuple[Action, asyncio.Future[Node | None]]]) -> None:
        actions = [action for action, _ in batch]
        futures = [future for _, future in batch]

        def report(index: int, result: Node | Exception | None) -> None:
            self._settle(futures[index], result)

        try:
            results = await self._call(actions, batch_label(actions, self._describe), report)
        except BaseException as exc:  # the batch itself failed: every action of it not settled yet did
            for future in futures:
                self._settle(future, exc)
            if not isinstance(exc, Exception):
                raise
            return
        for future, result in zip(futures, results, strict=True):
            self._settle(future, result)

"""Group commit for the member writes of one run.

A run writes up to three rows per file it carries (the intent before the call, the node made, the base
after). Made one short transaction each on the event loop thread, they were the largest cost of a run after
HTTP itself (a fifth of the CPU of a 1,000-file push): every transfer in flight waited while a commit ran.

The writer queues the writes and commits whatever has queued up in one transaction, in a worker thread,
while the event loop keeps carrying transfers. Consecutive updates of the same columns go as one
executemany. Callers choose per write:

- `await writer.update(...)` / `await writer.insert(...)`: returns once the write is committed. The intent
  written before a side-effecting call must be durable before the call is sent, so those writes wait.
- `writer.post(...)`: queued, not waited for (a base recorded after a call, a failure, an intent cleared).
  A run killed before it commits leaves the intent that preceded the call, which the next run's recovery
  resolves exactly as if the run had been killed during the call.

Writes are applied in the order they were made, so a later write of a member never lands before an earlier
one. `drain()` waits until everything queued is committed and re-raises the first error of a posted write.

`barriers` run in the worker thread before each commit: a repository that leaves its writes' durability to
one flush per group (`connectors.local.LocalRepository.defer_durability`) makes them durable there, so no
base is ever committed for bytes the disk could still lose.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, update
from sqlalchemy.sql.dml import Update

from models.db import engine_for
from models.tables import Member

MEMBER: Table = Member.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class MemberUpdate:
    member_id: int
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class MemberInsert:
    """A new member: a `Member`, or its column values (columns left out take their defaults); a dict skips
    the ORM object, whose construction cost more than the insert itself."""

    member: Member | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class MemberDelete:
    member_ids: tuple[int, ...]


Write = MemberUpdate | MemberInsert | MemberDelete


@lru_cache(maxsize=256)
def _update_statement(columns: tuple[str, ...]) -> Update:
    """UPDATE member SET <columns> WHERE id = :member_id, with bind names apart from column names."""
    return (
        update(MEMBER)
        .where(MEMBER.c.id == bindparam("member_id_"))
        .values({name: bindparam(f"{name}_", type_=MEMBER.c[name].type) for name in columns})
    )


def _row_values(member: Member | Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(member, Member):
        return member
    return {column.key: getattr(member, column.key) for column in MEMBER.columns if column.key != "id"}


def apply_writes(url: str, writes: Sequence[Write]) -> list[int | None]:
    """Apply the writes in order in one transaction; the id of each insert at its position, else None."""
    results: list[int | None] = [None] * len(writes)
    with engine_for(url).begin() as connection:
        index = 0
        while index < len(writes):
            write = writes[index]
            if isinstance(write, MemberUpdate):
                columns = tuple(sorted(write.values))
                params: list[dict[str, Any]] = []
                while index < len(writes):
                    current = writes[index]
                    if not isinstance(current, MemberUpdate) or tuple(sorted(current.values)) != columns:
                        break
                    params.append({"member_id_": current.member_id, **{f"{k}_": v for k, v in current.values.items()}})
                    index += 1
                connection.execute(_update_statement(columns), params)
                continue
            if isinstance(write, MemberInsert):
                result = connection.execute(insert(MEMBER).values(_row_values(write.member)))
                key = result.inserted_primary_key
                assert key is not None
                results[index] = int(key[0])
            else:
                connection.execute(delete(MEMBER).where(MEMBER.c.id.in_(write.member_ids)))
            index += 1
    return results


@dataclass
class _Queued:
    write: Write
    future: asyncio.Future[int | None] | None


@dataclass
class StateWriter:
    """The member writes of one run, committed in groups by one worker thread (see the module docstring)."""

    url: str
    _queue: list[_Queued] = field(default_factory=list)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)
    _worker: asyncio.Task[None] | None = None
    _error: BaseException | None = None
    commits: int = 0
    """Transactions committed, for the benchmarks."""
    barriers: list[Callable[[], None]] = field(default_factory=list)
    """Called (in the worker thread, in order) before each commit; an exception fails that commit's writes."""

    def _enqueue(self, write: Write, wait: bool) -> asyncio.Future[int | None] | None:
        if self._error is not None:
            raise self._error
        future = asyncio.get_running_loop().create_future() if wait else None
        self._queue.append(_Queued(write, future))
        self._idle.clear()
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run())
        return future

    def post(self, member_id: int, **values: Any) -> None:
        """Queue an update of one member without waiting for its commit."""
        self._enqueue(MemberUpdate(member_id, values), wait=False)

    def post_delete(self, member_ids: Sequence[int]) -> None:
        if member_ids:
            self._enqueue(MemberDelete(tuple(member_ids)), wait=False)

    async def update(self, member_id: int, **values: Any) -> None:
        """Update one member; returns once the update is committed."""
        future = self._enqueue(MemberUpdate(member_id, values), wait=True)
        assert future is not None
        await future

    async def insert(self, member: Member | Mapping[str, Any]) -> int:
        """Insert a member; returns its id once the insert is committed."""
        future = self._enqueue(MemberInsert(member), wait=True)
        assert future is not None
        member_id = await future
        assert member_id is not None
        return member_id

    async def drain(self) -> None:
        """Wait until every queued write is committed; re-raise the first failure of a posted write."""
        while self._queue or (self._worker is not None and not self._worker.done() and not self._idle.is_set()):
            await self._idle.wait()
        if self._error is not None:
            raise self._error

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, self._queue = self._queue, []
            try:
                ids = await asyncio.to_thread(self._commit, [queued.write for queued in batch])
            except BaseException as exc:
                for queued in batch:
                    if queued.future is None:
                        self._error = self._error or exc  # nobody waits for it: drain() reports it
                    elif not queued.future.done():
                        queued.future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            self.commits += 1
            for queued, member_id in zip(batch, ids, strict=True):
                if queued.future is not None and not queued.future.done():
                    queued.future.set_result(member_id)

    def _commit(self, writes: Sequence[Write]) -> list[int | None]:
        for barrier in self.barriers:
            barrier()
        return apply_writes(self.url, writes)

    async def close(self) -> None:
        """Drain, then stop the worker."""
        try:
            await self.drain()
        finally:
            if self._worker is not None:
                self._worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._worker

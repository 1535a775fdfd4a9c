"""The lease: at most one run changes a sync set at a time, and a dead run's hold ends by itself.

The lease is a row in the sync state (`models.store.acquire_lease`), not a Prefect concurrency slot: it
works the same for served deployments, work-pool workers and runs started from Python, and only a live
run renews it. A run killed with SIGKILL blocks its sync set for at most `lease_seconds`; a holder Prefect
reports as finished (Crashed, Failed, Cancelled, Completed) is taken over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable

from prefect.client.schemas.objects import TERMINAL_STATES
from prefect.exceptions import MissingContextError

from flows.database_errors import database_problem
from flows.settings import Settings
from models import store
from models.tables import SyncSet
from tasks.run_log import run_logger
from vocabulary import SyncSetState


class SyncBusy(RuntimeError):
    """Another run holds the sync set; this run changed nothing."""


class SyncSetGone(SyncBusy):
    """The sync set was unsynced (or removed) while this run waited for its lease; this run changed nothing."""


def current_run_id() -> str:
    """This flow run's id (what the lease records as its holder), or a unique id outside Prefect."""
    try:
        from prefect.runtime import flow_run

        run_id = flow_run.get_id()
    except (ImportError, MissingContextError):
        run_id = None
    return str(run_id) if run_id else f"local-{uuid.uuid4()}"


async def holder_is_dead(holder: str | None) -> bool:
    """True when Prefect says the lease holder's flow run is over (a worker marks a killed child Crashed).

    Only a holder that is a flow run id Prefect knows can be judged; anything else (a local run, an
    unreachable API) is presumed alive and its lease runs out by expiry instead.
    """
    if not holder:
        return False
    try:
        run_id = uuid.UUID(holder)
    except ValueError:
        return False
    try:
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound

        async with get_client() as client:
            try:
                run = await client.read_flow_run(run_id)
            except ObjectNotFound:
                return True
    except Exception:
        return False
    return run.state is not None and run.state.type in TERMINAL_STATES


async def _renew(what: str, renew: Callable[[], bool], seconds: int, database_url: str) -> None:
    """The heartbeat: push the lease's expiry forward every third of its length while the run lives."""
    log = run_logger()
    while True:
        await asyncio.sleep(max(seconds / 3, 1.0))
        try:
            renewed = await asyncio.to_thread(renew)
        except Exception as exc:  # a database hiccup: the next beat tries again before expiry
            log.warning("Could not renew the lease of %s: %s", what, database_problem(exc, database_url) or exc)
            continue
        if not renewed:
            log.error("Lost the lease of %s to another run", what)
            return


async def _stop(heartbeat: asyncio.Task[None]) -> None:
    heartbeat.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await heartbeat


@contextlib.asynccontextmanager
async def leased(database_url: str, sync_set: SyncSet, run_id: str, settings: Settings) -> AsyncIterator[None]:
    """Hold the sync set for this run; wait up to `lease_wait_seconds` for another run to finish."""
    assert sync_set.id is not None
    seconds = settings.lease_seconds
    deadline = asyncio.get_running_loop().time() + settings.lease_wait_seconds
    waiting = False
    while not store.acquire_lease(database_url, sync_set.id, run_id, seconds):
        holder, until = store.lease_holder(database_url, sync_set.id)
        if not waiting and settings.lease_wait_seconds > 0:
            waiting = True
            run_logger().info("Waiting for sync set %r: run %s is changing it (lease until %s)", sync_set.slug, holder, until)
        if holder is not None and await holder_is_dead(holder):
            if store.take_over_lease(database_url, sync_set.id, run_id, holder, seconds):
                run_logger().warning("Took over sync set %r from run %s, which is no longer running", sync_set.slug, holder)
                break
            continue
        if asyncio.get_running_loop().time() >= deadline:
            raise SyncBusy(
                f"Sync set {sync_set.slug!r} is being changed by run {holder} (lease until {until}); "
                "this run changed nothing and the next one will pick up"
            )
        await asyncio.sleep(1.0)
    sync_set_id = sync_set.id

    def renew() -> bool:
        return store.acquire_lease(database_url, sync_set_id, run_id, seconds)

    heartbeat = asyncio.create_task(_renew(f"sync set {sync_set.slug!r}", renew, seconds, database_url))
    try:
        # What was read before the lease may be stale: an unsync that held it may have ended the set.
        now = store.get_sync_set(database_url, sync_set.slug)
        if now is None or now.id != sync_set.id or now.state != SyncSetState.ACTIVE.value:
            raise SyncSetGone(f"Sync set {sync_set.slug!r} was unsynced while this run waited for it; this run changed nothing")
        yield
    finally:
        await _stop(heartbeat)
        store.release_lease(database_url, sync_set.id, run_id)


@contextlib.asynccontextmanager
async def run_leased(database_url: str, name: str, run_id: str, settings: Settings) -> AsyncIterator[str | None]:
    """Hold the lease `name` (e.g. `sweep`) for this run; yields None when held, else why not (do nothing then).

    Never waits: the holder is a live run doing the same job. A holder Prefect reports as finished is taken
    over at once; a killed one nobody marked (its run left Running) lapses after `lease_seconds`.
    """
    seconds = settings.lease_seconds
    held = store.acquire_run_lease(database_url, name, run_id, seconds)
    if not held:
        holder, until = store.run_lease_holder(database_url, name)
        if holder is not None and await holder_is_dead(holder):
            held = store.acquire_run_lease(database_url, name, run_id, seconds, dead_holder=holder)
            if held:
                run_logger().warning("Took over the %s lease from run %s, which is no longer running", name, holder)
        if not held:
            yield (
                f"run {holder} holds the {name} lease (until {until:%Y-%m-%d %H:%M:%S} UTC)"
                if until
                else f"run {holder} holds the {name} lease"
            )
            return

    def renew() -> bool:
        return store.acquire_run_lease(database_url, name, run_id, seconds)

    heartbeat = asyncio.create_task(_renew(f"the {name}", renew, seconds, database_url))
    try:
        yield None
    finally:
        await _stop(heartbeat)
        store.release_run_lease(database_url, name, run_id)

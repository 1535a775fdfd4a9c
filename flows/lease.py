"""The lease: at most one run changes a sync set at a time, and a dead run's hold ends by itself.

The lease is a row in the sync state (`models.store.acquire_lease`), not a Prefect concurrency slot: it
works the same for served deployments, work-pool workers and runs started from Python, and only a live
run renews it. A run killed with SIGKILL blocks its sync set for at most `lease_seconds`; a holder Prefect
reports as finished (Crashed, Failed, Cancelled, Completed) is taken over at once.

The lease is also the watcher of dead runs (a process killed with nobody left to report it: SIGKILL of `serve`,
of a worker's machine, of a bare flow process), so run history tells the truth:

- the lease names its holder's flow run and its process (`lease_owner_id`: host, boot, pid, start time); a run on
  the same machine that finds that process gone takes the sync set over at once, without waiting for the lease to
  lapse, and marks the dead run Crashed ("its process ... is gone");
- a run that takes over a lease that lapsed unrenewed (a holder on another machine, or a hung process) marks the
  holder Crashed, saying when its process stopped renewing the lease.

Either way only a run Prefect still shows unfinished is marked, and the taker finishes what the dead run left.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

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


@functools.lru_cache(maxsize=1)
def _boot_id() -> str:
    """This kernel's boot and this process's pid namespace: a pid means the same process only where both match
    (two containers with one host name see different processes under one pid)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as file:
            boot = file.read().strip()
        namespace = os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        return ""
    return f"{boot}~{namespace}"


def _process_start(pid: int) -> tuple[str, str] | None:
    """(state letter, start time in clock ticks since boot) of a live process, from /proc; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            stat = file.read()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after "pid (comm)": state is field 3, starttime field 22
    return (fields[0], fields[19]) if len(fields) > 19 else None


def _host() -> str:
    return socket.gethostname()[:64]  # the lease column holds 255 characters


def lease_owner_id(run_id: str) -> str:
    """What the lease records as its holder: the run, and the process that runs it (so that a run on the same
    machine can tell at once that it is gone). Outside Linux, the run alone."""
    me = _process_start(os.getpid())
    if not _boot_id() or me is None:
        return run_id
    return f"{run_id} pid:{_host()}/{_boot_id()}/{os.getpid()}/{me[1]}"


def run_of(holder: str) -> str:
    """The flow run id (or local run id) in a lease holder."""
    return holder.split(" ", 1)[0]


def gone_process(holder: str) -> str | None:
    """ "pid N on HOST" when the holder's process ran on this machine since its last boot and is gone (exited,
    killed, a zombie, or its pid now another process's); None when it lives or this machine cannot tell."""
    _, _, process = holder.partition(" pid:")
    parts = process.split("/")
    if len(parts) != 4 or not parts[2].isdigit():
        return None
    host, boot, pid, start = parts
    if host != _host() or not boot or boot != _boot_id():
        return None
    now = _process_start(int(pid))
    if now is not None and now[0] not in ("Z", "X") and now[1] == start:
        return None
    return f"pid {pid} on {host}"


def gone_message(slug: str, process: str, taken_by: str) -> str:
    """The Crashed message of a run whose process is gone while it held its sync set."""
    return (
        f"Its process ({process}) is gone: it was killed while it held sync set {slug!r}, with nobody left to "
        f"report it. Run {taken_by} took the sync set over at once and finishes what this run left."
    )


def gone_lease_message(name: str, process: str, taken_by: str) -> str:
    """The Crashed message of a run whose process is gone while it held the lease `name` (the sweep's)."""
    return (
        f"Its process ({process}) is gone: it was killed while it held the {name} lease, with nobody left to report "
        f"it. Run {taken_by} took the {name} over at once."
    )


async def holder_is_dead(holder: str | None) -> bool:
    """True when Prefect says the lease holder's flow run is over (a worker marks a killed child Crashed).

    Only a holder that is a flow run id Prefect knows can be judged; anything else (a local run, an
    unreachable API) is presumed alive and its lease runs out by expiry instead.
    """
    if not holder:
        return False
    try:
        run_id = uuid.UUID(run_of(holder))
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


def _utc(moment: datetime) -> datetime:
    """A database timestamp as an aware UTC time (SQLite hands them back naive)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def lapse_message(slug: str, lapsed_at: datetime | None, seconds: int, taken_by: str) -> str:
    """The Crashed message of a run whose lease lapsed: when its process stopped renewing it, and who took over."""
    if lapsed_at is None:
        when = "before its lease lapsed"
    else:
        last = _utc(lapsed_at) - timedelta(seconds=seconds)
        when = f"at {last:%Y-%m-%d %H:%M:%S} UTC (its lease lapsed at {_utc(lapsed_at):%H:%M:%S} UTC)"
    return (
        f"Its process stopped renewing the lease of sync set {slug!r} {when}: it was killed or hung with nobody left "
        f"to report it. Run {taken_by} took the sync set over and finishes what this run left."
    )


MARK_TIMEOUT_SECONDS = 30.0
"""How long taking over a sync set may wait for Prefect to mark the dead holder (the take-over stands anyway)."""


async def mark_dead_holder_crashed(holder: str, message: str) -> bool:
    """Mark the flow run of `holder` Crashed with `message` if Prefect still shows it unfinished (best effort).

    Returns True when it was marked. A holder that is not a Prefect flow run id (a run outside Prefect), a run
    already finished, or an API that does not answer leaves history as it is: the lease was taken over anyway.
    """
    try:
        run_id = uuid.UUID(run_of(holder))
    except ValueError:
        return False
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Crashed

    log = run_logger()

    async def mark() -> bool:
        async with get_client() as client:
            try:
                run = await client.read_flow_run(run_id)
            except ObjectNotFound:
                return False
            if run.state is None or run.state.type in TERMINAL_STATES:
                return False
            await client.set_flow_run_state(run_id, Crashed(message=message), force=True)
            return True

    try:
        if not await asyncio.wait_for(mark(), MARK_TIMEOUT_SECONDS):  # an API that does not answer: history waits
            return False
    except Exception as exc:
        log.warning("Could not mark run %s Crashed: %s", run_id, exc)
        return False
    log.warning("Marked run %s Crashed: %s", run_id, message)
    return True


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
    owner = lease_owner_id(run_id)
    seconds = settings.lease_seconds
    deadline = asyncio.get_running_loop().time() + settings.lease_wait_seconds
    waiting = False
    while True:
        holder, until = store.lease_holder(database_url, sync_set.id)
        if (
            holder is not None
            and holder != owner
            and store.take_over_lapsed_lease(database_url, sync_set.id, owner, holder, seconds)
        ):
            run_logger().warning("Took over sync set %r from run %s, whose lease lapsed unrenewed", sync_set.slug, run_of(holder))
            await mark_dead_holder_crashed(holder, lapse_message(sync_set.slug, until, seconds, run_id))
            break
        if store.acquire_lease(database_url, sync_set.id, owner, seconds):
            break
        holder, until = store.lease_holder(database_url, sync_set.id)
        if holder is not None and (process := gone_process(holder)) is not None:
            if store.take_over_lease(database_url, sync_set.id, owner, holder, seconds):
                dead = run_of(holder)
                run_logger().warning("Took over sync set %r from run %s: its process (%s) is gone", sync_set.slug, dead, process)
                await mark_dead_holder_crashed(holder, gone_message(sync_set.slug, process, run_id))
                break
            continue
        if not waiting and settings.lease_wait_seconds > 0:
            waiting = True
            run_logger().info(
                "Waiting for sync set %r: run %s is changing it (lease until %s)", sync_set.slug, run_of(holder or "?"), until
            )
        if holder is not None and await holder_is_dead(holder):
            if store.take_over_lease(database_url, sync_set.id, owner, holder, seconds):
                dead = run_of(holder)
                run_logger().warning("Took over sync set %r from run %s, which is no longer running", sync_set.slug, dead)
                break
            continue
        if asyncio.get_running_loop().time() >= deadline:
            raise SyncBusy(
                f"Sync set {sync_set.slug!r} is being changed by run {run_of(holder or '?')} (lease until {until}); "
                "this run changed nothing and the next one will pick up"
            )
        await asyncio.sleep(1.0)
    sync_set_id = sync_set.id

    def renew() -> bool:
        return store.acquire_lease(database_url, sync_set_id, owner, seconds)

    heartbeat = asyncio.create_task(_renew(f"sync set {sync_set.slug!r}", renew, seconds, database_url))
    try:
        # What was read before the lease may be stale: an unsync that held it may have ended the set.
        now = store.get_sync_set(database_url, sync_set.slug)
        if now is None or now.id != sync_set.id or now.state != SyncSetState.ACTIVE.value:
            raise SyncSetGone(f"Sync set {sync_set.slug!r} was unsynced while this run waited for it; this run changed nothing")
        yield
    finally:
        await _stop(heartbeat)
        store.release_lease(database_url, sync_set.id, owner)


@contextlib.asynccontextmanager
async def run_leased(database_url: str, name: str, run_id: str, settings: Settings) -> AsyncIterator[str | None]:
    """Hold the lease `name` (e.g. `sweep`) for this run; yields None when held, else why not (do nothing then).

    Never waits: the holder is a live run doing the same job. Like a sync set's lease, the holder names its
    process: a holder whose process is gone from this machine, or whose run Prefect reports finished, is taken
    over at once (and a gone one marked Crashed); a killed one elsewhere lapses after `lease_seconds`.
    """
    seconds = settings.lease_seconds
    owner = lease_owner_id(run_id)
    held = store.acquire_run_lease(database_url, name, owner, seconds)
    if not held:
        holder, until = store.run_lease_holder(database_url, name)
        process = gone_process(holder) if holder is not None else None
        if holder is not None and (process is not None or await holder_is_dead(holder)):
            held = store.acquire_run_lease(database_url, name, owner, seconds, dead_holder=holder)
            if held and process is not None:
                dead = run_of(holder)
                run_logger().warning("Took over the %s lease from run %s: its process (%s) is gone", name, dead, process)
                await mark_dead_holder_crashed(holder, gone_lease_message(name, process, run_id))
            elif held:
                run_logger().warning("Took over the %s lease from run %s, which is no longer running", name, run_of(holder))
        if not held:
            who = run_of(holder) if holder is not None else "?"
            yield (
                f"run {who} holds the {name} lease (until {until:%Y-%m-%d %H:%M:%S} UTC)"
                if until
                else f"run {who} holds the {name} lease"
            )
            return

    def renew() -> bool:
        return store.acquire_run_lease(database_url, name, owner, seconds)

    heartbeat = asyncio.create_task(_renew(f"the {name}", renew, seconds, database_url))
    try:
        yield None
    finally:
        await _stop(heartbeat)
        store.release_run_lease(database_url, name, owner)

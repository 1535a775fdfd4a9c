"""One sync set's reconcile as a run of its own: what a reconcile of one slug, a sweep and a sweep's batch run."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.states import Completed, State

from flows.common import database_url, final_state, refused, sync_set_tag, tag_current_run
from flows.database_errors import guarded
from flows.engine import run_sync_set
from flows.lease import SyncBusy
from flows.parameters import Slug
from models import store
from vocabulary import SyncSetState

SKIPPED = "Skipped"
"""The state name (type Completed) of a sync set a sweep left alone: another run holds it, or it was unsynced."""


def skipped(message: str) -> State[Any]:
    return Completed(name=SKIPPED, message=message)


async def reconcile_one(slug: str, force: bool, *, in_sweep: bool = False) -> State[Any]:
    """Reconcile one sync set. Asked for by name, a busy or unsynced set is a refusal (Failed); in a sweep it
    is skipped (Completed, named Skipped): the run that holds it is doing the work, or there is none to do."""
    await tag_current_run(sync_set_tag(slug))
    url = database_url()
    sync_set = store.get_sync_set(url, slug)
    if sync_set is None or sync_set.state != SyncSetState.ACTIVE.value:
        message = f"No sync set named {slug!r}" if sync_set is None else f"Sync set {slug!r} was unsynced; nothing to reconcile"
        return skipped(message) if in_sweep else refused(message)
    try:
        result = await run_sync_set(url, slug, force=force)
    except SyncBusy as exc:
        return skipped(str(exc)) if in_sweep else refused(str(exc))
    return final_state(result)


@flow(name="reconcile-sync-set", flow_run_name="reconcile-{slug}")
async def reconcile_sync_set(slug: Slug, force: bool = False, in_sweep: bool = False) -> State[Any]:
    """One sync set, as a run of its own (so its history carries the `sync-set:<slug>` tag)."""
    return await guarded(reconcile_one(slug, force, in_sweep=in_sweep))

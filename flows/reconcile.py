"""`reconcile`: what the schedule runs. Carries every change since the last run, both ways."""

from __future__ import annotations

from typing import Any

from prefect import flow, tags
from prefect.states import Completed, Failed, State

from flows.common import database_url, final_state, refused, sync_set_tag, tag_current_run
from flows.database_errors import guarded
from flows.engine import run_sync_set
from flows.lease import SyncBusy
from flows.parameters import Slug
from models import store
from vocabulary import SyncSetState


def _run_name() -> str:
    from prefect.runtime import flow_run

    slug = flow_run.get_parameters().get("slug")
    return f"reconcile-{slug}" if slug else "reconcile-all"


async def _reconcile_one(slug: str, force: bool) -> State[Any]:
    await tag_current_run(sync_set_tag(slug))
    url = database_url()
    sync_set = store.get_sync_set(url, slug)
    if sync_set is None:
        return refused(f"No sync set named {slug!r}")
    if sync_set.state != SyncSetState.ACTIVE.value:
        return refused(f"Sync set {slug!r} was unsynced; nothing to reconcile")
    try:
        result = await run_sync_set(url, slug, force=force)
    except SyncBusy as exc:
        return refused(str(exc))
    return final_state(result)


@flow(name="reconcile-sync-set", flow_run_name="reconcile-{slug}")
async def reconcile_sync_set(slug: Slug, force: bool = False) -> State[Any]:
    """One sync set, as a run of its own (so its history carries the `sync-set:<slug>` tag)."""
    return await guarded(_reconcile_one(slug, force))


@flow(name="reconcile", flow_run_name=_run_name)
async def reconcile(slug: Slug | None = None, force: bool = False) -> State[Any]:
    """Carry every change since the last run, both ways: one sync set, or every active one.

    Args:
        slug: The sync set (`specs`); empty: every active sync set.
        force: Let this run through the mass-delete guard (`max_delete_percent`): only after checking that
            the deletions are wanted.
    """
    return await guarded(_reconcile(slug, force))


async def _reconcile(slug: str | None, force: bool) -> State[Any]:
    if slug is not None:
        return await _reconcile_one(slug, force)
    failures: list[str] = []
    sync_sets = store.active_sync_sets(database_url())
    for sync_set in sync_sets:
        with tags(sync_set_tag(sync_set.slug)):
            state = await reconcile_sync_set(slug=sync_set.slug, force=force, return_state=True)
        if not state.is_completed():
            failures.append(f"{sync_set.slug}: {state.message}")
    if failures:
        return Failed(message=f"{len(failures)} of {len(sync_sets)} sync sets not fully synced: " + " | ".join(failures))
    return Completed(message=f"{len(sync_sets)} sync sets reconciled")

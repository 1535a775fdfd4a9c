"""`unsync`: break the link of a direct member or a whole sync set, release the sync's locks, and
optionally remove the cloud copies (to the cloud trashcan). It changes nothing when it fails."""

from __future__ import annotations

import contextlib
from typing import Any

from prefect import flow, get_run_logger
from prefect.states import Completed, State

from connectors.base import Node, Repository
from connectors.errors import NodeNotFoundError, RepositoryError
from flows.common import database_url, refused, sync_set_tag, tag_current_run
from flows.database_errors import guarded
from flows.lease import SyncBusy, current_run_id, leased
from flows.parameters import MemberRef, Slug
from flows.reporting import Outcome, publish_artifacts
from flows.settings import get_settings
from models import store
from models.tables import Member, SyncSet, utcnow
from tasks.connections import opened_repositories
from vocabulary import SyncSetState


class UnsyncRefused(Exception):
    pass


def _sync_set_of(url: str, item: str | None, slug: str | None) -> SyncSet:
    """The sync set to unsync, read before the lease (the lease is taken on it); its members are read after."""
    if (item is None) == (slug is None):
        raise UnsyncRefused("Give either an item (a directly synced node) or a sync set slug, not both")
    if slug is not None:
        sync_set = store.get_sync_set(url, slug)
        if sync_set is None or sync_set.state != SyncSetState.ACTIVE.value:
            raise UnsyncRefused(f"No active sync set named {slug!r}")
        return sync_set
    assert item is not None
    found = store.find_member(url, item)
    if found is None:
        raise UnsyncRefused(f"{item!r} is not synced")
    return found[1]


def _scope(url: str, sync_set: SyncSet, item: str | None) -> tuple[list[Member], list[Member]]:
    """(members to unsync, their direct members), read under the lease.

    Read before it, a reconcile that held the lease meanwhile could add members (files it pulled and locked):
    the unsync then released only the locks it had read, deleted only those members, and left the new files
    locked for ever and their members orphaned in an unsynced set (issue 17 item 5).
    """
    members = store.members_of(url, sync_set.id or 0)
    direct = [m for m in members if m.direct]
    if item is None:
        return members, direct
    found = store.find_member(url, item)
    if found is None or found[1].id != sync_set.id:
        raise UnsyncRefused(f"{item!r} is not synced")
    member = found[0]
    if not member.direct:
        roots = ", ".join(m.op_name or m.onprem_id or "?" for m in direct)
        raise UnsyncRefused(
            f"{member.op_name or item!r} is synced as part of {roots}: unsync the content where you applied the sync"
        )
    if sync_set.kind == "folder" or len(direct) == 1:
        return members, direct
    return [member], [member]


async def _locked_cloud_files(cloud: Repository, members: list[Member]) -> list[Node]:
    locked = []
    for member in members:
        if member.kind != "file" or not member.cloud_id:
            continue
        try:
            node = await cloud.get(member.cloud_id)
        except NodeNotFoundError:
            continue
        if node.is_locked:
            locked.append(node)
    return locked


def _run_name() -> str:
    from prefect.runtime import flow_run

    parameters = flow_run.get_parameters()
    return f"unsync-{parameters.get('slug') or parameters.get('item') or 'nothing'}"


@flow(name="unsync", flow_run_name=_run_name)
async def unsync(item: MemberRef | None = None, slug: Slug | None = None, remove_from_cloud: bool = False) -> State[Any]:
    """Stop syncing a direct member (or a whole sync set); the history stays in the run log."""
    return await guarded(_unsync(item, slug, remove_from_cloud))


async def _unsync(item: str | None, slug: str | None, remove_from_cloud: bool) -> State[Any]:
    log = get_run_logger()
    url = database_url()
    try:
        sync_set = _sync_set_of(url, item, slug)
    except UnsyncRefused as exc:
        return refused(str(exc))
    await tag_current_run(sync_set_tag(sync_set.slug))
    outcomes: list[Outcome] = []
    run_id = current_run_id()
    try:
        async with (
            leased(url, sync_set, run_id, get_settings()),
            opened_repositories(sync_set.onprem_connection, sync_set.cloud_connection, sync_set.target_network) as (
                onprem,
                cloud,
            ),
        ):
            try:
                members, direct = _scope(url, sync_set, item)
            except UnsyncRefused as exc:
                return refused(str(exc))
            if remove_from_cloud:
                locked = await _locked_cloud_files(cloud, members)
                if locked:
                    names = ", ".join(node.name for node in locked[:10])
                    return refused(f"Could not remove sync: {len(locked)} cloud files are locked ({names})")
            unlocked: list[Member] = []
            try:
                for member in members:
                    if member.locked_by_sync and member.onprem_id:
                        with contextlib.suppress(NodeNotFoundError):
                            await onprem.unlock(member.onprem_id)
                        unlocked.append(member)
                        outcomes.append(Outcome("unlock", member.op_name or "", "on-prem", "done"))
                if remove_from_cloud:
                    for member in direct:
                        if member.cloud_id:
                            try:
                                await cloud.delete(member.cloud_id)
                            except NodeNotFoundError:
                                continue
                            outcomes.append(Outcome("delete", member.cl_name or "", "to cloud", "done", None, "trashcan"))
            except RepositoryError as exc:
                for member in unlocked:  # put back what this run released: unsync changes nothing when it fails
                    if member.onprem_id:
                        try:
                            await onprem.lock(member.onprem_id)
                        except RepositoryError as relock_error:
                            log.error("Could not restore the lock of %s: %s", member.onprem_id, relock_error)
                log.error("Unsync failed: %s. Technical report: %s", exc.code.value, exc.report)
                return refused(f"Could not remove sync: {exc.code.value}: {exc.message}")
            # Still under the lease: a run waiting for it must find the set unsynced, not its members half gone.
            store.delete_members(url, [m.id for m in members if m.id is not None])
            remaining = store.members_of(url, sync_set.id or 0)
            with store.session_scope(url) as session:
                row = session.get(SyncSet, sync_set.id)
                if row is not None:
                    if not any(m.direct for m in remaining):
                        row.state = SyncSetState.UNSYNCED.value
                    row.updated_at = utcnow()
                    session.add(row)
                    sync_set = row
    except SyncBusy as exc:
        return refused(str(exc))

    await publish_artifacts(sync_set, remaining, outcomes, None)
    what = "sync set" if slug else "item"
    log.info("Unsynced %s %s: %d members, %d locks released", what, item or slug, len(members), len(outcomes))
    return Completed(
        message=f"Unsynced {len(members)} items of {sync_set.slug}"
        + (" and removed the cloud copies" if remove_from_cloud else "")
    )

"""`request-sync`: SPEC.md's "Request Sync": sync one member (a folder with its subtree) now."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.states import State

from flows.common import database_url, final_state, refused, sync_set_tag, tag_current_run
from flows.database_errors import guarded
from flows.engine import run_sync_set
from flows.lease import SyncBusy
from flows.parameters import MemberRef
from models import store


@flow(name="request-sync", flow_run_name="request-sync-{item}")
async def request_sync(item: MemberRef) -> State[Any]:
    """Sync one item now, whatever the schedule (a folder with its subtree): the remedy after a failure.

    Args:
        item: The item: its on-prem or cloud node id, or `<slug>:<path in the sync set>` such as
            `specs:Drafts/plan.docx` (`specs:` alone for the synced folder itself).
    """
    return await guarded(_request_sync(item))


async def _request_sync(item: str) -> State[Any]:
    url = database_url()
    found = store.find_member(url, item)
    if found is None:
        return refused(f"{item!r} is not synced: no active sync set has it as a member")
    member, sync_set = found
    await tag_current_run(sync_set_tag(sync_set.slug))
    assert member.id is not None
    store.mark_requested(url, [member.id])
    try:
        result = await run_sync_set(url, sync_set.slug, scope_member_id=member.id)
    except SyncBusy as exc:
        return refused(str(exc))
    return final_state(result)

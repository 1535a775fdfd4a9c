"""Sync Info for one item: SPEC.md's status box, read from the sync state and Prefect's run history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from models.store import direct_members, find_member
from models.tables import Member, SyncSet
from vocabulary import MemberStatus


@dataclass
class RunLine:
    name: str
    state: str
    started: datetime | None
    run_id: str


@dataclass
class SyncInfo:
    item: str
    status: str
    last_success: str | None
    error_title: str | None
    error_code: str | None
    technical_report: dict[str, Any] | None
    location: str
    synced_folder: str | None
    view_in_cloud: str | None
    runs: list[RunLine] = field(default_factory=list)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def describe(
    member: Member, sync_set: SyncSet, runs: list[RunLine], cloud_url: str | None = None, root_name: str | None = None
) -> SyncInfo:
    """SPEC.md's fields for one member, without any I/O (so it is easy to test and to render anywhere)."""
    name = member.op_name or member.cl_name or member.onprem_id or "?"
    if member.status == MemberStatus.PENDING.value or member.requested:
        status = "Sync Pending"
    elif member.status == MemberStatus.SYNCED.value:
        status = f"Synced {_when(member.last_synced_at)}, by {sync_set.owner}"
    else:
        status = f"Sync attempted {_when(member.last_attempt_at or member.error_at)}, by {sync_set.owner}"
    last_success = None
    if member.status != MemberStatus.SYNCED.value and member.last_synced_at:
        last_success = f"Last successful sync {_when(member.last_synced_at)}"
    error_title = None
    if member.status == MemberStatus.FAILED.value:
        error_title = "Last sync failed"
    elif member.status == MemberStatus.TEMPORARY_ERROR.value:
        error_title = "Temporary sync error"
    folder_path = "/" + sync_set.target_folder_path.strip("/") if sync_set.target_folder_path.strip("/") else "/"
    if member.cloud_id:
        relative = (member.rel_path or member.cl_name or name).strip("/")
        if root_name and not member.direct:  # an indirect member lives inside the synced folder's copy
            relative = f"{root_name}/{relative}"
        location = f"{sync_set.target_network} › {sync_set.target_site} › {folder_path} › {relative}"
    else:
        location = f"The content will be synced to: {sync_set.target_network} › {sync_set.target_site} › {folder_path}"
    synced_folder = None
    if not member.direct and sync_set.kind == "folder":
        synced_folder = sync_set.items[0] if sync_set.items else None
    report = dict(member.error_report or {}) if error_title else None
    if report is not None and member.last_run_id:
        report.setdefault("run", member.last_run_id)
    return SyncInfo(
        item=name,
        status=status,
        last_success=last_success,
        error_title=error_title,
        error_code=member.error_code if error_title else None,
        technical_report=report,
        location=location,
        synced_folder=synced_folder,
        view_in_cloud=cloud_url,
        runs=runs,
    )


def render(info: SyncInfo) -> str:
    lines = [f"Sync Info: {info.item}", f"  Status: {info.status}"]
    if info.last_success:
        lines.append(f"  {info.last_success}")
    if info.error_title:
        lines.append(f"  {info.error_title}: {info.error_code}")
        lines.append("  Technical Report:")
        for key, value in (info.technical_report or {}).items():
            if value not in (None, ""):
                lines.append(f"    {key}: {value}")
    lines.append(f"  Location in the cloud: {info.location}")
    if info.synced_folder:
        lines.append(f"  Synced folder: {info.synced_folder}")
    if info.view_in_cloud:
        lines.append(f"  View in Cloud: {info.view_in_cloud}")
    if info.runs:
        lines.append("  Runs (newest first):")
        for run in info.runs:
            lines.append(f"    {_when(run.started)}  {run.state:<10} {run.name}  ({run.run_id})")
    return "\n".join(lines)


async def runs_of(slug: str, limit: int = 20) -> list[RunLine]:
    """The sync set's runs, newest first, from Prefect's run history (tag `sync-set:<slug>`)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.client.schemas.sorting import FlowRunSort

    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"sync-set:{slug}"])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=limit,
        )
    return [RunLine(name=run.name, state=run.state_name or "", started=run.start_time, run_id=str(run.id)) for run in runs]


async def sync_info(database_url: str, item: str, *, with_runs: bool = True) -> SyncInfo | None:
    """Sync Info for an on-prem or cloud node id, or `slug:relative/path`; None when it is not synced."""
    found = find_member(database_url, item)
    if found is None:
        return None
    member, sync_set = found
    runs = await runs_of(sync_set.slug) if with_runs else []
    root_name = None
    if not member.direct and sync_set.kind == "folder":
        roots = direct_members(database_url, sync_set.id or 0)
        root_name = roots[0].cl_name or roots[0].op_name if roots else None
    return describe(member, sync_set, runs, root_name=root_name)

"""Turn database rows into planner inputs, attribute by attribute.

Takes anything with the attributes of `models.tables.Member` / `SyncSet` (rows, or test doubles), so the
planner never holds SQLModel objects (memory) and needs no session.
"""

from __future__ import annotations

from typing import Any

from connectors.errors import ErrorCode
from models.tables import ConflictPolicy, MemberKind, MemberStatus
from sync.model import BaseRecord, Options, SideBase


def options_from_sync_set(sync_set: Any, *, force: bool = False) -> Options:
    return Options(
        include_subfolders=bool(sync_set.include_subfolders),
        lock_on_premise=bool(sync_set.lock_on_premise),
        allow_cloud_delete=bool(sync_set.allow_cloud_delete),
        delete_on_premise=bool(sync_set.delete_on_premise),
        conflict_policy=ConflictPolicy(sync_set.conflict_policy),
        max_delete_percent=int(sync_set.max_delete_percent),
        force=force,
    )


def _side(member: Any, prefix: str, node_id: str | None) -> SideBase | None:
    if not node_id:
        return None
    return SideBase(
        node_id=node_id,
        name=getattr(member, f"{prefix}_name"),
        parent_id=getattr(member, f"{prefix}_parent_id"),
        size=getattr(member, f"{prefix}_size"),
        modified_at=getattr(member, f"{prefix}_modified_at"),
        version=getattr(member, f"{prefix}_version"),
        sha256=getattr(member, f"{prefix}_sha256"),
        meta=getattr(member, f"{prefix}_meta"),
    )


def base_from_member(member: Any) -> BaseRecord:
    """A `BaseRecord` from a `Member` row.

    The failure fingerprint is read from a `failed_fingerprint` attribute when the table has one, else
    from `error_report["fingerprint"]` (where the propagator stores it until the column exists).
    """
    report = getattr(member, "error_report", None) or {}
    fp = getattr(member, "failed_fingerprint", None) or report.get("fingerprint")
    code = member.error_code
    return BaseRecord(
        member_id=int(member.id),
        kind=MemberKind(member.kind),
        direct=bool(member.direct),
        onprem=_side(member, "op", member.onprem_id),
        cloud=_side(member, "cl", member.cloud_id),
        status=MemberStatus(member.status),
        error_code=ErrorCode(code) if code else None,
        requested=bool(member.requested),
        locked_by_sync=bool(member.locked_by_sync),
        failed_fingerprint=fp,
        error_at=getattr(member, "error_at", None),
    )

"""Turn database rows into planner inputs, attribute by attribute.

Takes anything with the attributes of `models.tables.Member` / `SyncSet` (rows, or test doubles), so the
planner never holds SQLModel objects (memory) and needs no session.
"""

from __future__ import annotations

from typing import Any

from sync.model import BaseRecord, Options, SideBase
from vocabulary import ConflictPolicy, ErrorCode, MemberKind, MemberStatus


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


def _side(member: Any, prefix: str, node_id: str | None, shared: dict[str, str] | None) -> SideBase | None:
    if not node_id:
        return None

    def keep(value: str | None) -> str | None:
        return value if shared is None or value is None else shared.setdefault(value, value)

    return SideBase(
        node_id=node_id,
        name=getattr(member, f"{prefix}_name"),
        parent_id=keep(getattr(member, f"{prefix}_parent_id")),
        size=getattr(member, f"{prefix}_size"),
        modified_at=getattr(member, f"{prefix}_modified_at"),
        version=keep(getattr(member, f"{prefix}_version")),
        sha256=keep(getattr(member, f"{prefix}_sha256")),
        meta=keep(getattr(member, f"{prefix}_meta")),
    )


def base_from_member(member: Any, shared: dict[str, str] | None = None) -> BaseRecord:
    """A `BaseRecord` from a `Member` row.

    The failure fingerprint is read from a `failed_fingerprint` attribute when the table has one, else
    from `error_report["fingerprint"]` (where the propagator stores it until the column exists).

    `shared`, when given, makes equal strings one object across the records made with it: the database
    returns a new string for every value, and a parent id repeats for every sibling, a metadata digest for
    nearly every member, the same hash on both sides (a fifth of a 100k-member run's memory).
    """
    report = getattr(member, "error_report", None) or {}
    fp = getattr(member, "failed_fingerprint", None) or report.get("fingerprint")
    code = member.error_code
    return BaseRecord(
        member_id=int(member.id),
        kind=MemberKind(member.kind),
        direct=bool(member.direct),
        onprem=_side(member, "op", member.onprem_id, shared),
        cloud=_side(member, "cl", member.cloud_id, shared),
        status=MemberStatus(member.status),
        error_code=ErrorCode(code) if code else None,
        requested=bool(member.requested),
        locked_by_sync=bool(member.locked_by_sync),
        failed_fingerprint=fp,
        error_at=getattr(member, "error_at", None),
    )

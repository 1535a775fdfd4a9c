"""The sync state: what the user chose (`SyncSet`) and each pair of nodes with its base (`Member`).

The base of each side is what that node looked like at the last successful sync; the planner tells a
change from a difference by comparing a fresh scan against it. The `intent_*` columns hold the action in
flight so that a run killed mid-call can be finished or adopted by the next one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from vocabulary import ConflictPolicy, MemberStatus, SyncSetState


def _nullable_json() -> Column[Any]:
    """A JSON column where Python None is SQL NULL (so "no intent" can be queried with IS NULL)."""
    return Column(JSON(none_as_null=True), nullable=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


class SyncSet(SQLModel, table=True):
    """One "Sync to Cloud" request: items, destination, options, and who owns it."""

    __tablename__ = "sync_set"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(index=True, unique=True, max_length=64)
    owner: str = Field(max_length=255)
    onprem_connection: str = Field(max_length=255)
    cloud_connection: str = Field(max_length=255)
    kind: str = Field(max_length=16)
    items: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """The items as the user gave them (node ids or site paths)."""

    target_network: str = Field(max_length=255)
    target_site: str = Field(max_length=255)
    target_folder_id: str = Field(max_length=255)
    target_folder_path: str = Field(max_length=1024)

    include_subfolders: bool = True
    lock_on_premise: bool = False
    allow_cloud_delete: bool = True
    delete_on_premise: bool = False
    conflict_policy: str = Field(default=ConflictPolicy.CLOUD_WINS.value, max_length=16)
    max_delete_percent: int = 50

    state: str = Field(default=SyncSetState.ACTIVE.value, max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    lease_owner: str | None = Field(default=None, max_length=255)
    """The run that currently changes this sync set; at most one at a time."""
    lease_expires_at: datetime | None = None


class Member(SQLModel, table=True):
    """One on-prem node paired with its cloud copy, and the base both had at their last sync."""

    __tablename__ = "member"
    __table_args__ = (
        UniqueConstraint("sync_set_id", "onprem_id", name="uq_member_set_onprem"),
        Index("ix_member_set_cloud", "sync_set_id", "cloud_id"),
        Index("ix_member_set_status", "sync_set_id", "status"),
        Index("ix_member_set_op_parent", "sync_set_id", "op_parent_id"),
        Index("ix_member_set_cl_parent", "sync_set_id", "cl_parent_id"),
        # What every run reads whatever changed (flows/changes.py): without these a run with nothing to do walks
        # every member of the sync set to find its direct ones, its retries and its unfinished intents.
        Index("ix_member_set_direct", "sync_set_id", "direct"),
        Index("ix_member_set_requested", "sync_set_id", "requested"),
        Index(
            "ix_member_set_intent",
            "sync_set_id",
            sqlite_where=text("intent IS NOT NULL"),
            postgresql_where=text("intent IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    sync_set_id: int = Field(foreign_key="sync_set.id", index=True)
    onprem_id: str | None = Field(default=None, max_length=255, index=True)
    cloud_id: str | None = Field(default=None, max_length=255, index=True)
    kind: str = Field(max_length=16)
    direct: bool = False
    rel_path: str = Field(default="", max_length=4096)
    """Path below the sync set's root ("" for a direct member), for display and request-sync by path."""

    # Base of the on-prem side.
    op_name: str | None = Field(default=None, max_length=1024)
    op_parent_id: str | None = Field(default=None, max_length=255)
    op_size: int | None = None
    op_modified_at: datetime | None = None
    op_version: str | None = Field(default=None, max_length=64)
    op_sha256: str | None = Field(default=None, max_length=64)
    op_meta: str | None = Field(default=None, max_length=64)
    """Digest of the common metadata (title, description, author)."""

    # Base of the cloud side.
    cl_name: str | None = Field(default=None, max_length=1024)
    cl_parent_id: str | None = Field(default=None, max_length=255)
    cl_size: int | None = None
    cl_modified_at: datetime | None = None
    cl_version: str | None = Field(default=None, max_length=64)
    cl_sha256: str | None = Field(default=None, max_length=64)
    cl_meta: str | None = Field(default=None, max_length=64)

    status: str = Field(default=MemberStatus.PENDING.value, max_length=32)
    error_code: str | None = Field(default=None, max_length=64)
    error_report: dict[str, Any] | None = Field(default=None, sa_column=_nullable_json())
    error_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_synced_at: datetime | None = None
    last_run_id: str | None = Field(default=None, max_length=64)
    failed_fingerprint: str | None = Field(default=None, max_length=64)
    """Digest of both nodes when the member failed: the schedule retries it only once they change."""
    requested: bool = False
    """A user asked for this member to sync now (Request Sync); shows as "Sync Pending"."""

    locked_by_sync: bool = False
    """True only for locks this sync placed; unsync releases exactly these."""

    intent: dict[str, Any] | None = Field(default=None, sa_column=_nullable_json())
    """The side-effecting action in flight (kind, side, target parent, name, started), cleared after it."""
    intent_at: datetime | None = None


class ScanState(SQLModel, table=True):
    """How each side of a sync set was last scanned: where the next incremental scan starts, and when the
    last full scan (the safety net) ran and what it found that the incremental scans had missed."""

    __tablename__ = "scan_state"

    sync_set_id: int = Field(foreign_key="sync_set.id", primary_key=True)
    onprem_since: datetime | None = None
    """The on-prem server's clock when the last complete scan of that side began (its search answered)."""
    cloud_since: datetime | None = None
    runs_since_full: int = 0
    last_full_at: datetime | None = None
    last_missed: int | None = None
    """Changes the last full scan found that an incremental scan would not have found (should be 0)."""
    last_kind: str | None = Field(default=None, max_length=255)
    """How the last run scanned, as people read it ("incremental: 3 changes, 1 folder listed")."""


class RunLease(SQLModel, table=True):
    """A lease on a job bigger than one sync set: `sweep`, held by the sweep of every sync set that runs now.

    Like a sync set's lease, only a live run renews it and a dead holder's lease lapses by itself, so nothing
    depends on a slot that only a live process can free (a Prefect deployment concurrency slot can stay taken
    after its process died with the server restarted).
    """

    __tablename__ = "run_lease"

    name: str = Field(primary_key=True, max_length=64)
    owner: str | None = Field(default=None, max_length=255)
    expires_at: datetime | None = None

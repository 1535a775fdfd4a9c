"""The few database operations the flows need, each one short transaction.

Kept apart from the flows so that every write of the sync state (base, status, intent, lease) is in one
place and works the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models.db import session_scope
from models.tables import Member, RunLease, ScanState, SyncSet, utcnow
from vocabulary import MemberKind, MemberStatus, SyncSetState


def acquire_lease(url: str, sync_set_id: int, run_id: str, seconds: int) -> bool:
    """Take the sync set for `run_id` unless a live lease of another run holds it (one atomic UPDATE)."""
    now = utcnow()
    with session_scope(url) as session:
        result = session.execute(
            update(SyncSet)
            .where(col(SyncSet.id) == sync_set_id)
            .where(
                or_(
                    col(SyncSet.lease_owner).is_(None),
                    col(SyncSet.lease_owner) == run_id,
                    col(SyncSet.lease_expires_at) < now,
                )
            )
            .values(lease_owner=run_id, lease_expires_at=now + timedelta(seconds=seconds))
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


def take_over_lease(url: str, sync_set_id: int, run_id: str, dead_holder: str, seconds: int) -> bool:
    """Take the sync set from a holder known to be dead, unless it changed hands meanwhile (one atomic UPDATE)."""
    with session_scope(url) as session:
        result = session.execute(
            update(SyncSet)
            .where(col(SyncSet.id) == sync_set_id)
            .where(col(SyncSet.lease_owner) == dead_holder)
            .values(lease_owner=run_id, lease_expires_at=utcnow() + timedelta(seconds=seconds))
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


def take_over_lapsed_lease(url: str, sync_set_id: int, run_id: str, lapsed_holder: str, seconds: int) -> bool:
    """Take the sync set from `lapsed_holder` when its lease has run out unrenewed, unless it changed hands or
    was renewed meanwhile (one atomic UPDATE): the taker then knows whose lease lapsed."""
    now = utcnow()
    with session_scope(url) as session:
        result = session.execute(
            update(SyncSet)
            .where(col(SyncSet.id) == sync_set_id)
            .where(col(SyncSet.lease_owner) == lapsed_holder)
            .where(col(SyncSet.lease_expires_at) < now)
            .values(lease_owner=run_id, lease_expires_at=now + timedelta(seconds=seconds))
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


def release_lease(url: str, sync_set_id: int, run_id: str) -> None:
    with session_scope(url) as session:
        session.execute(
            update(SyncSet)
            .where(col(SyncSet.id) == sync_set_id)
            .where(col(SyncSet.lease_owner) == run_id)
            .values(lease_owner=None, lease_expires_at=None)
        )


def lease_holder(url: str, sync_set_id: int) -> tuple[str | None, datetime | None]:
    with session_scope(url) as session:
        sync_set = session.get(SyncSet, sync_set_id)
        if sync_set is None:
            return None, None
        return sync_set.lease_owner, sync_set.lease_expires_at


def acquire_run_lease(url: str, name: str, run_id: str, seconds: int, *, dead_holder: str | None = None) -> bool:
    """Take the lease `name` (e.g. `sweep`) for `run_id` unless a live lease of another run holds it.

    `dead_holder`: also take it from that holder, known to be dead, whatever its expiry says.
    """
    now = utcnow()
    if run_lease_holder(url, name) == (None, None):
        try:
            with session_scope(url) as session:
                session.add(RunLease(name=name, owner=run_id, expires_at=now + timedelta(seconds=seconds)))
            return True
        except IntegrityError:  # the row exists (made just now by another run, or free): compete for it below
            pass
    with session_scope(url) as session:
        free = [col(RunLease.owner).is_(None), col(RunLease.owner) == run_id, col(RunLease.expires_at) < now]
        if dead_holder is not None:
            free.append(col(RunLease.owner) == dead_holder)
        result = session.execute(
            update(RunLease)
            .where(col(RunLease.name) == name)
            .where(or_(*free))
            .values(owner=run_id, expires_at=now + timedelta(seconds=seconds))
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


def release_run_lease(url: str, name: str, run_id: str) -> None:
    with session_scope(url) as session:
        session.execute(
            update(RunLease)
            .where(col(RunLease.name) == name)
            .where(col(RunLease.owner) == run_id)
            .values(owner=None, expires_at=None)
        )


def run_lease_holder(url: str, name: str) -> tuple[str | None, datetime | None]:
    with session_scope(url) as session:
        lease = session.get(RunLease, name)
        if lease is None:
            return None, None
        return lease.owner, lease.expires_at


def leased_now(url: str, slugs: Iterable[str]) -> bool:
    """True when one of these sync sets is held under a lease that has not expired (a live run renews it)."""
    with session_scope(url) as session:
        statement = (
            select(func.count())
            .select_from(SyncSet)
            .where(col(SyncSet.slug).in_(list(slugs)))
            .where(col(SyncSet.lease_owner).is_not(None))
            .where(col(SyncSet.lease_expires_at) > utcnow())
        )
        return int(session.exec(statement).one()) > 0


def get_sync_set(url: str, slug: str) -> SyncSet | None:
    with session_scope(url) as session:
        return session.exec(select(SyncSet).where(SyncSet.slug == slug)).first()


def active_sync_sets(url: str) -> list[SyncSet]:
    with session_scope(url) as session:
        statement = select(SyncSet).where(SyncSet.state == SyncSetState.ACTIVE.value).order_by(SyncSet.slug)
        return list(session.exec(statement))


def members_of(url: str, sync_set_id: int) -> list[Member]:
    with session_scope(url) as session:
        statement = select(Member).where(Member.sync_set_id == sync_set_id).order_by(col(Member.id))
        return list(session.exec(statement))


@dataclass(frozen=True, slots=True)
class MemberRow:
    """The columns of a member that scan, plan and the base cache read, without an ORM object around them.

    `sync.convert.base_from_member` takes it as it takes a `Member`. A run reads every member of its sync
    set; as ORM objects (identity map, instance state, change tracking) 100k of them cost ~25 s and ~1 GiB,
    as slotted rows a fraction of that. The intent and the long texts are left out: recovery reads the few
    members with an intent as full rows (`pending_intents`).
    """

    id: int
    kind: str
    direct: bool
    onprem_id: str | None
    cloud_id: str | None
    op_name: str | None
    op_parent_id: str | None
    op_size: int | None
    op_modified_at: datetime | None
    op_version: str | None
    op_sha256: str | None
    op_meta: str | None
    cl_name: str | None
    cl_parent_id: str | None
    cl_size: int | None
    cl_modified_at: datetime | None
    cl_version: str | None
    cl_sha256: str | None
    cl_meta: str | None
    status: str
    error_code: str | None
    error_report: dict[str, Any] | None
    error_at: datetime | None
    failed_fingerprint: str | None
    requested: bool
    locked_by_sync: bool


_ROW_COLUMNS = [getattr(Member, name) for name in MemberRow.__slots__]


def iter_member_rows(url: str, sync_set_id: int, batch: int = 2000) -> Iterator[MemberRow]:
    """Every member of a sync set as a light `MemberRow`, in id order, fetched `batch` rows at a time for a
    caller that converts and drops each row (what a run plans from)."""
    with session_scope(url) as session:
        statement = select(*_ROW_COLUMNS).where(Member.sync_set_id == sync_set_id).order_by(col(Member.id))
        for row in session.execute(statement.execution_options(yield_per=batch)):
            yield MemberRow(*row)


_CHUNK = 500
"""Ids per IN (...) list: well under every database's limit on bound parameters."""


def _rows_where(url: str, sync_set_id: int, column: Any, values: Iterable[str]) -> list[MemberRow]:
    wanted = sorted(set(values))
    rows: list[MemberRow] = []
    with session_scope(url) as session:
        for start in range(0, len(wanted), _CHUNK):
            statement = (
                select(*_ROW_COLUMNS)
                .where(Member.sync_set_id == sync_set_id)
                .where(col(column).in_(wanted[start : start + _CHUNK]))
            )
            rows.extend(MemberRow(*row) for row in session.execute(statement))
    return rows


def member_rows_for_nodes(url: str, sync_set_id: int, side: str, node_ids: Iterable[str]) -> list[MemberRow]:
    """The members whose node on `side` is one of `node_ids` (an incremental scan plans only these)."""
    return _rows_where(url, sync_set_id, Member.onprem_id if side == "onprem" else Member.cloud_id, node_ids)


def member_rows_under(url: str, sync_set_id: int, side: str, parent_ids: Iterable[str]) -> list[MemberRow]:
    """The members whose base parent on `side` is one of `parent_ids` (what a listed folder held)."""
    return _rows_where(url, sync_set_id, Member.op_parent_id if side == "onprem" else Member.cl_parent_id, parent_ids)


def direct_member_rows(url: str, sync_set_id: int) -> list[MemberRow]:
    """The members the user chose, as light rows."""
    with session_scope(url) as session:
        statement = select(*_ROW_COLUMNS).where(Member.sync_set_id == sync_set_id).where(col(Member.direct).is_(True))
        return [MemberRow(*row) for row in session.execute(statement.order_by(col(Member.id)))]


def member_rows_to_retry(url: str, sync_set_id: int) -> list[MemberRow]:
    """Members the schedule tries again whatever changed: direct ones, pending ones, temporary errors, requests."""
    retried = (MemberStatus.PENDING.value, MemberStatus.TEMPORARY_ERROR.value)
    found: dict[int, MemberRow] = {}
    with session_scope(url) as session:
        # Three indexed look-ups rather than one OR, which SQLite answers by reading every member of the set.
        for condition in (col(Member.direct).is_(True), col(Member.status).in_(retried), col(Member.requested).is_(True)):
            statement = select(*_ROW_COLUMNS).where(Member.sync_set_id == sync_set_id).where(condition)
            for row in session.execute(statement):
                member = MemberRow(*row)
                found.setdefault(member.id, member)
    return sorted(found.values(), key=lambda member: member.id)


def member_count(url: str, sync_set_id: int) -> int:
    with session_scope(url) as session:
        return int(session.execute(select(func.count()).where(Member.sync_set_id == sync_set_id)).scalar_one())


def scan_state(url: str, sync_set_id: int) -> ScanState:
    """How the sync set was last scanned (a fresh record when it never was)."""
    with session_scope(url) as session:
        return session.get(ScanState, sync_set_id) or ScanState(sync_set_id=sync_set_id)


def save_scan_state(url: str, state: ScanState) -> None:
    with session_scope(url) as session:
        session.merge(state)


def get_member(url: str, member_id: int) -> Member | None:
    """One member as a full row (intent included)."""
    with session_scope(url) as session:
        return session.get(Member, member_id)


FAILING = (MemberStatus.FAILED.value, MemberStatus.TEMPORARY_ERROR.value)


@dataclass
class MemberSummary:
    """What the end of a run reports about a sync set's members: counts, and the first failing rows."""

    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    failing_by_code: dict[str, int] = field(default_factory=dict)
    failing: list[Member] = field(default_factory=list)
    """At most `limit` failing members, full rows, for the status table."""

    @classmethod
    def of(cls, members: Sequence[Any], limit: int = 200) -> MemberSummary:
        """The same summary from members already in memory (unsync, tests)."""
        summary = cls(total=len(members))
        for member in members:
            summary.by_status[member.status] = summary.by_status.get(member.status, 0) + 1
            if member.status in FAILING:
                code = member.error_code or "UNKNOWN"
                summary.failing_by_code[code] = summary.failing_by_code.get(code, 0) + 1
                if len(summary.failing) < limit:
                    summary.failing.append(member)
        return summary


def member_summary(url: str, sync_set_id: int, limit: int = 200) -> MemberSummary:
    """Counts by status and by failing error code in two aggregate queries, and the first `limit` failing
    rows: the end-of-run report without loading every member again."""
    summary = MemberSummary()
    with session_scope(url) as session:
        by_status = select(Member.status, func.count()).where(Member.sync_set_id == sync_set_id).group_by(Member.status)
        for status, count in session.execute(by_status):
            summary.by_status[status] = count
            summary.total += count
        failing = select(Member).where(Member.sync_set_id == sync_set_id).where(col(Member.status).in_(FAILING))
        by_code = (
            select(Member.error_code, func.count())
            .where(Member.sync_set_id == sync_set_id)
            .where(col(Member.status).in_(FAILING))
            .group_by(Member.error_code)
        )
        for code, count in session.execute(by_code):
            key = code or "UNKNOWN"
            summary.failing_by_code[key] = summary.failing_by_code.get(key, 0) + count
        # Ordered by `id + 0`: ordering by the bare id leads SQLite to walk the sync set's whole id index in order
        # rather than use the status index for the (few) failing rows and sort those.
        summary.failing = list(session.exec(failing.order_by(col(Member.id) + 0).limit(limit)))
    return summary


def direct_members(url: str, sync_set_id: int) -> list[Member]:
    """The members the user chose (the synced folder of a folder sync set)."""
    with session_scope(url) as session:
        statement = select(Member).where(Member.sync_set_id == sync_set_id).where(col(Member.direct).is_(True))
        return list(session.exec(statement.order_by(col(Member.id))))


def active_member_for_onprem(session: Session, onprem_ids: Sequence[str]) -> list[tuple[Member, SyncSet]]:
    """Members of active sync sets that pair any of these on-prem nodes."""
    if not onprem_ids:
        return []
    statement = (
        select(Member, SyncSet)
        .join(SyncSet, col(SyncSet.id) == col(Member.sync_set_id))
        .where(col(Member.onprem_id).in_(list(onprem_ids)))
        .where(SyncSet.state == SyncSetState.ACTIVE.value)
    )
    return [(member, sync_set) for member, sync_set in session.exec(statement)]


def active_member_for_cloud(session: Session, cloud_ids: Sequence[str]) -> list[tuple[Member, SyncSet]]:
    """Members of active sync sets whose cloud copy is any of these nodes."""
    if not cloud_ids:
        return []
    statement = (
        select(Member, SyncSet)
        .join(SyncSet, col(SyncSet.id) == col(Member.sync_set_id))
        .where(col(Member.cloud_id).in_(list(cloud_ids)))
        .where(SyncSet.state == SyncSetState.ACTIVE.value)
    )
    return [(member, sync_set) for member, sync_set in session.exec(statement)]


def find_member(url: str, item: str) -> tuple[Member, SyncSet] | None:
    """The member of an active sync set whose on-prem or cloud id is `item`, or that `slug:path` names.

    The path is the item's path in the sync set as runs print it (`specs:Specs/Drafts/a.txt`, the synced folder's
    name first), or the part below the synced folder (`specs:Drafts/a.txt`); `specs:` alone or `specs:Specs` is
    the synced folder itself, and a directly synced file is named by its own name (`specs:plan.docx`).
    """
    with session_scope(url) as session:
        for finder in (active_member_for_onprem, active_member_for_cloud):
            found = finder(session, [item])
            if found:
                return found[0]
        if ":" not in item:
            return None
        slug, _, path = item.partition(":")
        sync_set = session.exec(select(SyncSet).where(SyncSet.slug == slug)).first()
        if sync_set is None:
            return None
        path = path.strip().strip("/")
        direct = list(session.exec(select(Member).where(Member.sync_set_id == sync_set.id).where(col(Member.direct).is_(True))))
        first, _, rest = path.partition("/")
        for member in direct:
            if path == "" or member.op_name == path or member.cl_name == path:
                return member, sync_set
        roots = [m for m in direct if m.kind == MemberKind.FOLDER.value and first in (m.op_name, m.cl_name)]
        for below in ([rest] if roots and rest else []) + [path]:
            inside = session.exec(select(Member).where(Member.sync_set_id == sync_set.id).where(Member.rel_path == below)).first()
            if inside is not None:
                return inside, sync_set
    return None


def delete_members(url: str, member_ids: Iterable[int]) -> None:
    ids = list(member_ids)
    if not ids:
        return
    with session_scope(url) as session:
        for member in session.exec(select(Member).where(col(Member.id).in_(ids))):
            session.delete(member)


def mark_requested(url: str, member_ids: Iterable[int]) -> None:
    ids = list(member_ids)
    if not ids:
        return
    with session_scope(url) as session:
        session.execute(update(Member).where(col(Member.id).in_(ids)).values(requested=True))


def pending_intents(url: str, sync_set_id: int) -> list[Member]:
    """The members of the sync set with an unfinished intent, by id.

    Read through the partial index of the members holding an intent (few: the actions in flight, across every
    sync set), then narrowed here: with `sync_set_id` in the query SQLite, which keeps no statistics, may as well
    pick the sync set's own index and read every member of it.
    """
    with session_scope(url) as session:
        statement = select(Member).where(col(Member.intent).is_not(None))
        return sorted((m for m in session.exec(statement) if m.sync_set_id == sync_set_id), key=lambda m: m.id or 0)


def update_member(url: str, member_id: int, **values: Any) -> None:
    """Set columns of one member in one short transaction."""
    with session_scope(url) as session:
        session.execute(update(Member).where(col(Member.id) == member_id).values(**values))


def insert_member(url: str, member: Member) -> int:
    with session_scope(url) as session:
        session.add(member)
        session.flush()
        assert member.id is not None
        return member.id


def create_sync_set(url: str, sync_set: SyncSet, direct_nodes: Iterable[Any]) -> None:
    """A new sync set and its direct members (the on-prem nodes the user chose: anything with `id`,
    `parent_id`, `is_folder` and `name`), in one transaction; an unsynced set of that slug is renamed."""
    slug = sync_set.slug
    existing = get_sync_set(url, slug)
    with session_scope(url) as session:
        if existing is not None:  # an unsynced set of that name: its slug is taken over by the new one
            existing.slug = f"{slug}-unsynced-{existing.id}"
            session.add(existing)
            session.flush()
        session.add(sync_set)
        session.flush()
        assert sync_set.id is not None
        for node in direct_nodes:
            session.add(
                Member(
                    sync_set_id=sync_set.id,
                    onprem_id=node.id,
                    op_parent_id=node.parent_id,
                    kind="folder" if node.is_folder else "file",
                    direct=True,
                    rel_path="",
                    op_name=node.name,
                    status=MemberStatus.PENDING.value,
                )
            )

"""The sync-state tables behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from models import Member, SyncSet, session_scope
from vocabulary import ConflictPolicy, MemberKind, MemberStatus, SyncSetKind


def new_sync_set(slug: str = "specs", **overrides: object) -> SyncSet:
    values: dict[str, object] = {
        "slug": slug,
        "owner": "alice",
        "onprem_connection": "onprem",
        "cloud_connection": "cloud",
        "kind": SyncSetKind.FOLDER.value,
        "items": ["site:engineering/Specs"],
        "target_network": "acme.com",
        "target_site": "partners",
        "target_folder_id": "cloud-folder-1",
        "target_folder_path": "/Shared/Specs",
    }
    values.update(overrides)
    return SyncSet(**values)


def new_member(sync_set_id: int, onprem_id: str, cloud_id: str | None = None, **overrides: object) -> Member:
    values: dict[str, object] = {"kind": MemberKind.FILE.value, **overrides}
    return Member(sync_set_id=sync_set_id, onprem_id=onprem_id, cloud_id=cloud_id, **values)


def saved_set(engine: Engine, slug: str = "specs", **overrides: object) -> int:
    with Session(engine) as session:
        sync_set = new_sync_set(slug, **overrides)
        session.add(sync_set)
        session.commit()
        assert sync_set.id is not None
        return sync_set.id


def test_sync_set_and_members_round_trip(engine: Engine) -> None:
    set_id = saved_set(engine, conflict_policy=ConflictPolicy.KEEP_BOTH.value, lock_on_premise=True)
    with Session(engine) as session:
        session.add(new_member(set_id, "op-1", "cl-1", direct=True, kind=MemberKind.FOLDER.value))
        session.add(new_member(set_id, "op-2", "cl-2", rel_path="Specs/plan.txt", op_size=12))
        session.commit()
    with Session(engine) as session:
        sync_set = session.exec(select(SyncSet).where(SyncSet.slug == "specs")).one()
        assert sync_set.owner == "alice" and sync_set.lock_on_premise is True
        assert sync_set.conflict_policy == "keep-both" and sync_set.include_subfolders is True
        assert sync_set.state == "active" and sync_set.max_delete_percent == 50
        members = session.exec(select(Member).where(Member.sync_set_id == set_id).order_by(Member.onprem_id)).all()
        assert [(m.onprem_id, m.cloud_id, m.direct, m.kind) for m in members] == [
            ("op-1", "cl-1", True, "folder"),
            ("op-2", "cl-2", False, "file"),
        ]
        assert members[1].rel_path == "Specs/plan.txt" and members[1].op_size == 12
        assert all(m.status == MemberStatus.PENDING.value for m in members)


def test_json_columns_round_trip(engine: Engine) -> None:
    items = ["site:engineering/Specs", "node-ä/ü", "with \"quotes\" and 'apostrophes'"]
    report = {"operation": "upload", "status": 409, "error_key": None, "nested": {"list": [1, 2.5, True]}}
    intent = {"kind": "create", "side": "cloud", "target_parent": "cl-9", "name": "Plan (v2).txt"}
    set_id = saved_set(engine, items=items)
    with Session(engine) as session:
        session.add(new_member(set_id, "op-1", error_report=report, intent=intent))
        session.add(new_member(set_id, "op-2"))
        session.commit()
    with Session(engine) as session:
        assert session.exec(select(SyncSet)).one().items == items
        first = session.exec(select(Member).where(Member.onprem_id == "op-1")).one()
        assert first.error_report == report and first.intent == intent
        second = session.exec(select(Member).where(Member.onprem_id == "op-2")).one()
        assert second.error_report is None and second.intent is None
        # "No intent" is SQL NULL (not JSON null), so pending intents can be found with IS NULL.
        nulls = session.exec(text("SELECT onprem_id FROM member WHERE intent IS NULL")).all()  # type: ignore[call-overload]
        assert [row[0] for row in nulls] == ["op-2"]


def test_json_change_is_saved_when_reassigned(engine: Engine) -> None:
    set_id = saved_set(engine)
    with Session(engine) as session:
        member = new_member(set_id, "op-1", intent={"kind": "create"})
        session.add(member)
        session.commit()
        member.intent = {**(member.intent or {}), "started": "2026-11-27T14:05:00Z"}
        session.add(member)
        session.commit()
    with Session(engine) as session:
        assert session.exec(select(Member)).one().intent == {"kind": "create", "started": "2026-11-27T14:05:00Z"}


def test_unique_onprem_node_per_sync_set(engine: Engine) -> None:
    set_id = saved_set(engine)
    other_id = saved_set(engine, "other")
    with Session(engine) as session:
        session.add(new_member(set_id, "op-1"))
        session.commit()
    with Session(engine) as session:
        session.add(new_member(set_id, "op-1", "cl-other"))
        with pytest.raises(IntegrityError):
            session.commit()
    with Session(engine) as session:
        session.add(new_member(other_id, "op-1"))  # the constraint is per sync set
        session.commit()
        assert len(session.exec(select(Member).where(Member.onprem_id == "op-1")).all()) == 2


def test_slug_is_unique_and_members_need_their_sync_set(engine: Engine) -> None:
    saved_set(engine)
    with Session(engine) as session:
        session.add(new_sync_set("specs"))
        with pytest.raises(IntegrityError):
            session.commit()
    with Session(engine) as session:
        session.add(new_member(999_999, "op-orphan"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_lookups_by_onprem_and_cloud_id_are_index_backed(engine: Engine) -> None:
    indexed = {tuple(ix["column_names"]) for ix in inspect(engine).get_indexes("member")}
    assert ("onprem_id",) in indexed and ("cloud_id",) in indexed
    assert ("sync_set_id", "cloud_id") in indexed
    set_id = saved_set(engine)
    with Session(engine) as session:
        session.add_all(new_member(set_id, f"op-{i}", f"cl-{i}") for i in range(50))
        session.commit()
    with Session(engine) as session:
        assert session.exec(select(Member).where(Member.onprem_id == "op-7")).one().cloud_id == "cl-7"
        assert session.exec(select(Member).where(Member.cloud_id == "cl-42")).one().onprem_id == "op-42"
        assert session.exec(select(Member).where(Member.cloud_id == "cl-missing")).first() is None
    with engine.connect() as conn:
        for column in ("onprem_id", "cloud_id"):
            if engine.dialect.name == "sqlite":
                plan = conn.execute(text(f"EXPLAIN QUERY PLAN SELECT * FROM member WHERE {column} = 'x'"))
            else:
                conn.execute(text("SET enable_seqscan = off"))  # tiny tables: make the planner show its index
                plan = conn.execute(text(f"EXPLAIN SELECT * FROM member WHERE {column} = 'x'"))
            described = " ".join(str(part) for row in plan for part in row)
            assert "index" in described.lower(), described


def test_status_updates_persist(engine: Engine) -> None:
    set_id = saved_set(engine)
    with Session(engine) as session:
        session.add(new_member(set_id, "op-1", "cl-1"))
        session.commit()
    failed_at = datetime(2026, 11, 27, 14, 5, 1, 123000, tzinfo=UTC)
    with Session(engine) as session:
        member = session.exec(select(Member)).one()
        member.status = MemberStatus.FAILED.value
        member.error_code = "TARGET_FOLDER_NAME_CLASH"
        member.error_report = {"operation": "upload", "status": 409}
        member.error_at = failed_at
        session.add(member)
        session.commit()
    with Session(engine) as session:
        member = session.exec(select(Member).where(Member.status == "failed")).one()
        assert member.error_code == "TARGET_FOLDER_NAME_CLASH" and member.error_report == {
            "operation": "upload",
            "status": 409,
        }
        stored = member.error_at
        assert stored is not None
        # Either backend may hand back a naive value; it must still be the same UTC instant.
        assert (stored if stored.tzinfo else stored.replace(tzinfo=UTC)) == failed_at
        member.status = MemberStatus.SYNCED.value
        member.error_code = None
        member.error_report = None
        session.add(member)
        session.commit()
    with Session(engine) as session:
        member = session.exec(select(Member)).one()
        assert (member.status, member.error_code, member.error_report) == ("synced", None, None)
        assert session.exec(select(Member).where(Member.status == "failed")).first() is None


def test_session_scope_commits_and_rolls_back(db_url: str, engine: Engine) -> None:
    with session_scope(db_url) as session:
        session.add(new_sync_set("kept"))
    with pytest.raises(RuntimeError), session_scope(db_url) as session:
        session.add(new_sync_set("dropped"))
        session.flush()
        raise RuntimeError("boom")
    with Session(engine) as session:
        assert [s.slug for s in session.exec(select(SyncSet)).all()] == ["kept"]


def test_sqlite_runs_in_wal_mode(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("WAL is a SQLite journal mode")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


@pytest.mark.postgres
def test_timestamps_survive_a_non_utc_postgres_server(pg_database: str) -> None:
    """Columns are WITHOUT TIME ZONE; an aware UTC value must not be shifted by the server's TimeZone."""
    from urllib.parse import quote

    from sqlmodel import SQLModel

    from models import make_engine

    url = f"{pg_database}?options={quote('-c timezone=America/New_York')}"
    engine = make_engine(url)
    try:
        SQLModel.metadata.drop_all(engine)
        SQLModel.metadata.create_all(engine)
        synced_at = datetime(2026, 11, 27, 14, 5, 1, tzinfo=UTC)
        set_id = saved_set(engine)
        with Session(engine) as session:
            session.add(new_member(set_id, "op-1", last_synced_at=synced_at))
            session.commit()
        with Session(engine) as session:
            stored = session.exec(select(Member)).one().last_synced_at
        assert stored is not None
        assert (stored if stored.tzinfo else stored.replace(tzinfo=UTC)) == synced_at
    finally:
        SQLModel.metadata.drop_all(engine)
        engine.dispose()


def test_find_member_takes_the_paths_runs_print(engine: Engine, db_url: str) -> None:
    """`slug:` names an item by its path in the sync set as runs and Sync Info print it (the synced folder's
    name first), by the part below the synced folder, or the synced folder itself (`slug:` or `slug:<name>`)."""
    from models import store

    sync_set = SyncSet(
        slug="specs",
        owner="sync",
        onprem_connection="onprem",
        cloud_connection="cloud",
        kind="folder",
        items=["site:engineering/Specs"],
        target_network="acme.com",
        target_site="partners",
        target_folder_id="t",
        target_folder_path="Shared",
    )
    with session_scope(db_url) as session:
        session.add(sync_set)
        session.flush()
        root = Member(sync_set_id=sync_set.id, kind="folder", direct=True, rel_path="", onprem_id="o-root", op_name="Specs")
        inner = Member(sync_set_id=sync_set.id, kind="file", rel_path="Drafts/a.txt", onprem_id="o-a", op_name="a.txt")
        session.add_all([root, inner])
    for item, expected in (
        ("specs:", "o-root"),
        ("specs:Specs", "o-root"),
        ("specs:Specs/", "o-root"),
        ("specs:Specs/Drafts/a.txt", "o-a"),
        ("specs:Drafts/a.txt", "o-a"),
        ("o-a", "o-a"),
    ):
        found = store.find_member(db_url, item)
        assert found is not None and found[0].onprem_id == expected, item
    assert store.find_member(db_url, "specs:Nope/a.txt") is None
    assert store.find_member(db_url, "other:Specs") is None


def test_what_every_run_reads_is_found_through_indexes(db_url: str, engine: Engine) -> None:
    """The direct members, the retries and the unfinished intents are read by every run, a quiet one included:
    found through indexes, never by reading every member of the sync set (a 100k-member set: 300 ms against 20)."""
    from sqlalchemy import event

    from models import store
    from models.db import engine_for

    set_id = saved_set(engine)
    statuses = {"op-1": MemberStatus.PENDING, "op-2": MemberStatus.TEMPORARY_ERROR, "op-3": MemberStatus.FAILED}
    with Session(engine) as session:
        session.add(new_member(set_id, "op-root", "cl-root", direct=True, requested=True, status=MemberStatus.SYNCED.value))
        for i in range(1, 300):
            status = statuses.get(f"op-{i}", MemberStatus.SYNCED).value
            session.add(new_member(set_id, f"op-{i}", f"cl-{i}", status=status, requested=i == 4))
        session.add(new_member(set_id, "op-moving", "cl-moving", status=MemberStatus.SYNCED.value, intent={"action": "x"}))
        session.commit()
    statements: list[tuple[str, object]] = []
    listen = engine_for(db_url)

    def seen(_conn: object, _cursor: object, statement: str, parameters: object, _context: object, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM member" in statement:
            statements.append((statement, parameters))

    event.listen(listen, "before_cursor_execute", seen)
    try:
        retried = store.member_rows_to_retry(db_url, set_id)
        direct = store.direct_member_rows(db_url, set_id)
        intents = store.pending_intents(db_url, set_id)
        summary = store.member_summary(db_url, set_id)
    finally:
        event.remove(listen, "before_cursor_execute", seen)
    assert [row.onprem_id for row in retried] == ["op-root", "op-1", "op-2", "op-4"]
    assert [row.onprem_id for row in direct] == ["op-root"]
    assert [member.onprem_id for member in intents] == ["op-moving"]
    assert summary.total == 301 and [member.onprem_id for member in summary.failing] == ["op-2", "op-3"]
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL's planner chooses by table statistics; the plans below are SQLite's, which has none
    with engine.connect() as conn:
        for statement, parameters in statements:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)  # type: ignore[arg-type]
            plan = " ".join(str(row[3]) for row in rows)
            whole_set = "ix_member_sync_set_id (sync_set_id=?)" in plan and "COVERING" not in plan
            whole_table = "SCAN member" in plan.replace("SCAN member USING INDEX ix_member_set_intent", "")
            assert not whole_table and not whole_set, (statement, plan)

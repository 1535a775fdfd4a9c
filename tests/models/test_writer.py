"""The group-commit writer: order kept, waited writes durable on return, posted failures not lost."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from models import Member
from models.writer import MemberDelete, MemberInsert, MemberUpdate, StateWriter, apply_writes
from tests.models.test_tables import new_member, saved_set


def members(engine: Engine) -> dict[str, Member]:
    with Session(engine) as session:
        return {m.onprem_id or "": m for m in session.exec(select(Member)).all()}


def test_apply_writes_in_order_in_one_transaction(db_url: str, engine: Engine) -> None:
    set_id = saved_set(engine)
    ids = apply_writes(db_url, [MemberInsert(new_member(set_id, "a")), MemberInsert(new_member(set_id, "b"))])
    assert all(isinstance(i, int) for i in ids) and ids[0] != ids[1]
    a, b = ids
    assert a is not None and b is not None
    when = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
    apply_writes(
        db_url,
        [
            MemberUpdate(a, {"intent": {"kind": "upload", "side": "cloud"}, "intent_at": when}),
            MemberUpdate(b, {"intent": {"kind": "rename"}, "intent_at": when}),  # same columns: one executemany
            MemberUpdate(a, {"intent": None, "intent_at": None}),  # later write of a wins
            MemberUpdate(b, {"cl_name": "B.txt", "error_report": {"status": 409}}),
        ],
    )
    rows = members(engine)
    assert rows["a"].intent is None and rows["a"].intent_at is None
    assert rows["b"].intent == {"kind": "rename"}
    assert rows["b"].intent_at is not None and rows["b"].intent_at.replace(tzinfo=UTC) == when
    assert rows["b"].cl_name == "B.txt" and rows["b"].error_report == {"status": 409}
    apply_writes(db_url, [MemberDelete((a,))])
    assert set(members(engine)) == {"b"}


def test_a_failing_write_rolls_back_the_whole_group(db_url: str, engine: Engine) -> None:
    set_id = saved_set(engine)
    (a,) = apply_writes(db_url, [MemberInsert(new_member(set_id, "a"))])
    assert a is not None
    with pytest.raises(IntegrityError):
        apply_writes(db_url, [MemberUpdate(a, {"cl_name": "changed"}), MemberInsert(new_member(set_id, "a"))])
    assert members(engine)["a"].cl_name is None


async def test_writer_groups_commits_and_keeps_order(db_url: str, engine: Engine) -> None:
    set_id = saved_set(engine)
    writer = StateWriter(db_url)
    ids = await asyncio.gather(*(writer.insert(new_member(set_id, f"n{i}")) for i in range(40)))
    assert len(set(ids)) == 40
    for number, member_id in enumerate(ids):
        writer.post(member_id, cl_name=f"first-{number}")
        writer.post(member_id, cl_name=f"second-{number}")
    await writer.update(ids[0], op_name="waited")  # returns only once committed, after the posts before it
    with Session(engine) as session:
        first = session.get(Member, ids[0])
        assert first is not None and first.op_name == "waited" and first.cl_name == "second-0"
    await writer.close()
    rows = members(engine)
    assert {rows[f"n{i}"].cl_name for i in range(40)} == {f"second-{i}" for i in range(40)}
    assert writer.commits < 40 + 80 + 1, "writes queued together share a commit"


async def test_a_posted_write_that_fails_is_reported_by_drain(db_url: str, engine: Engine) -> None:
    set_id = saved_set(engine)
    writer = StateWriter(db_url)
    member_id = await writer.insert(new_member(set_id, "a"))
    writer.post(member_id, sync_set_id=set_id + 999)  # no such sync set: the foreign key refuses it
    with pytest.raises(IntegrityError):
        await writer.drain()
    with pytest.raises(IntegrityError):
        writer.post(member_id, cl_name="after the failure")  # nothing is written past a lost write
    await asyncio.sleep(0)
    with pytest.raises(IntegrityError):
        await writer.close()


async def test_a_waited_write_that_fails_raises_to_its_caller(db_url: str, engine: Engine) -> None:
    set_id = saved_set(engine)
    writer = StateWriter(db_url)
    await writer.insert(new_member(set_id, "a"))
    with pytest.raises(IntegrityError):
        await writer.insert(new_member(set_id, "a"))
    second = await writer.insert(new_member(set_id, "b"))
    await writer.update(second, cl_name="still writing")
    await writer.close()
    assert members(engine)["b"].cl_name == "still writing"


async def test_an_insert_of_column_values_gets_the_model_defaults(db_url: str, engine: Engine) -> None:
    set_id = saved_set(engine)
    writer = StateWriter(db_url)
    member_id = await writer.insert({"sync_set_id": set_id, "onprem_id": "v", "kind": "file", "intent": {"kind": "upload"}})
    await writer.close()
    with Session(engine) as session:
        row = session.get(Member, member_id)
        assert row is not None
        expected = Member(sync_set_id=set_id, onprem_id="v", kind="file")
        for column in ("status", "direct", "rel_path", "requested", "locked_by_sync", "cloud_id", "error_code"):
            assert getattr(row, column) == getattr(expected, column), column
        assert row.intent == {"kind": "upload"}


async def test_barriers_run_before_every_commit(db_url: str, engine: Engine) -> None:
    set_id = saved_set(engine)
    writer = StateWriter(db_url)
    seen: list[int] = []

    def barrier() -> None:  # what a commit is about to record must already be durable: nothing committed yet
        with Session(engine) as session:
            seen.append(len(session.exec(select(Member)).all()))

    writer.barriers.append(barrier)
    await writer.insert(new_member(set_id, "a"))
    await writer.insert(new_member(set_id, "b"))
    await writer.close()
    assert seen == [0, 1]


async def test_a_failing_barrier_fails_the_writes_of_its_commit(db_url: str, engine: Engine) -> None:
    set_id = saved_set(engine)
    writer = StateWriter(db_url)

    def failing() -> None:
        raise OSError(5, "Input/output error")

    writer.barriers.append(failing)
    with pytest.raises(OSError):
        await writer.insert(new_member(set_id, "a"))
    await writer.close()
    assert members(engine) == {}

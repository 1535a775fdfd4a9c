"""The sweep's lease (`run_lease`): one holder at a time, renewed by its holder, free once released or lapsed."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col

from models import store
from models.db import session_scope
from models.tables import RunLease, utcnow


def test_one_holder_at_a_time_until_released(db_url: str) -> None:
    name = f"sweep-{uuid.uuid4().hex[:8]}"
    assert store.run_lease_holder(db_url, name) == (None, None)
    assert store.acquire_run_lease(db_url, name, "first", 60)
    assert store.acquire_run_lease(db_url, name, "first", 60), "the holder renews its own lease"
    assert not store.acquire_run_lease(db_url, name, "second", 60), "a live lease keeps others out"
    holder, until = store.run_lease_holder(db_url, name)
    assert holder == "first" and until is not None
    store.release_run_lease(db_url, name, "second")  # not the holder: nothing happens
    assert store.run_lease_holder(db_url, name)[0] == "first"
    store.release_run_lease(db_url, name, "first")
    assert store.run_lease_holder(db_url, name) == (None, None)
    assert store.acquire_run_lease(db_url, name, "second", 60)


def test_a_lapsed_or_dead_holders_lease_is_taken(db_url: str) -> None:
    name = f"sweep-{uuid.uuid4().hex[:8]}"
    assert store.acquire_run_lease(db_url, name, "killed", 60)
    assert store.acquire_run_lease(db_url, name, "next", 60, dead_holder="killed"), "a holder known dead is taken over"
    with session_scope(db_url) as session:  # nobody renewed it: its expiry passed
        session.execute(update(RunLease).where(col(RunLease.name) == name).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert store.acquire_run_lease(db_url, name, "after", 60), "a lapsed lease is free"
    assert store.run_lease_holder(db_url, name)[0] == "after"

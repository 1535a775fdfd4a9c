"""A fresh, empty database per test, on SQLite (a temp file) and on the machine's PostgreSQL.

The PostgreSQL variant creates its own database (`ecsync_test_<uuid>`) for the run and drops it afterwards,
so it never touches anyone else's data; when the server is unreachable it is skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from models import make_engine

PG_ADMIN_URL = os.environ.get("ECSYNC_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
"""The maintenance database used to create and drop the per-run test database."""


def _pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One fresh PostgreSQL database for this test run, dropped (even with open connections) afterwards."""
    import psycopg

    name = f"ecsync_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}".splitlines()[0])
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _pg_url(name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("pg_database")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """Tables created from scratch for each test, so tests share nothing but the server."""
    engine = make_engine(db_url)
    SQLModel.metadata.drop_all(engine)
    SQLModel.metadata.create_all(engine)
    try:
        yield engine
    finally:
        SQLModel.metadata.drop_all(engine)
        engine.dispose()

"""One way to get a database session, whatever the backend.

SQLite (a file, in WAL mode so readers never block the one writer) is the embedded default; PostgreSQL is
for the scaled-out setup where several workers share the state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session, SQLModel, create_engine

from models import tables  # noqa: F401  (registers the tables on SQLModel.metadata)


def _normalise_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use the psycopg 3 driver the project installs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


SQLITE_BUSY_SECONDS = 30.0
"""How long a SQLite write waits for another connection's lock before failing "database is locked"."""


def sqlite_busy_seconds(url: str) -> float:
    """The lock wait of a SQLite URL: its `?timeout=<seconds>` query parameter, else `SQLITE_BUSY_SECONDS`."""
    try:
        return float(make_url(_normalise_url(url)).query.get("timeout", SQLITE_BUSY_SECONDS))  # type: ignore[arg-type]
    except (ArgumentError, TypeError, ValueError):
        return SQLITE_BUSY_SECONDS


def make_engine(url: str) -> Engine:
    """An engine for `url`, with the tables created if they are missing."""
    url = _normalise_url(url)
    if url.startswith("sqlite"):
        busy = sqlite_busy_seconds(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
            cursor.close()
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    SQLModel.metadata.create_all(engine)
    for table in SQLModel.metadata.sorted_tables:  # indexes added since a database was made are created too
        for index in table.indexes:
            index.create(engine, checkfirst=True)
    return engine


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine (one connection pool) per database URL per process."""
    return make_engine(url)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine_for(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

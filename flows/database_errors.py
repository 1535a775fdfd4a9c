"""A sync-state database that fails, said in the product's words (issue 17 item 4).

A locked, full or unreachable database used to end a run with SQLAlchemy's `OperationalError`: a traceback and
the SQL statement as the run's state message, which tells an administrator neither which database nor what to
do. `guarded` runs each flow's body: such a failure ends the run Failed with one sentence (which database, what
is wrong, what to check) as its state message and an ERROR line in its log, without the SQL or a traceback.

Nothing is lost by stopping there: every side-effecting call is preceded by its intent in the database (a call
whose intent could not be written is not made), so the next run, once the database is back, recovers what this
one left half done (`flows.recovery`).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from prefect.states import Failed, State
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from flows.settings import get_settings
from models.db import sqlite_busy_seconds
from tasks.connections import ConnectionMissing
from tasks.run_log import run_logger

LOW_SPACE_BYTES = 16 * 1024 * 1024
"""Below this much free space where a SQLite file lives, a write error is reported as a full disk."""

_CAUSES: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("database is locked", "database table is locked", "lock timeout", "could not obtain lock", "deadlock detected"),
        "is locked by another process: a write waited {timeout} and the lock was never released. Check for another "
        "program holding it open in a transaction (an sqlite3 shell, a backup or copy tool, a second ecsync on the "
        "same file over a network share, which SQLite does not support)",
    ),
    (
        ("database or disk is full", "no space left", "disk full", "could not extend file", "quota exceeded"),
        "cannot be written: the disk holding it is full. Free space on that disk (or move the database, see ECSYNC_DATABASE_URL)",
    ),
    (
        ("attempt to write a readonly database", "read-only", "readonly"),
        "is read-only to this process. Check the permissions of the file and of its folder (SQLite writes a -wal and "
        "a -shm file beside it), or the database user's rights",
    ),
    (
        ("unable to open database file",),
        "cannot be opened. Check that its folder exists and that this process may create files in it",
    ),
    (
        ("file is not a database", "database disk image is malformed", "malformed"),
        "is damaged. Stop every ecsync process, restore the last backup of it (README: Backups)",
    ),
    (
        ("password authentication failed", "authentication failed", "no pg_hba.conf entry", 'role "'),
        "refused the credentials in ECSYNC_DATABASE_URL. Check the user, its password and the server's access rules",
    ),
    (
        (
            "connection refused",
            "could not connect",
            "could not translate host name",
            "name or service not known",
            "timeout expired",
            "timed out",
            "server closed the connection",
            "connection reset",
            "terminating connection",
            "network is unreachable",
            "no route to host",
        ),
        "cannot be reached. Check that the database server is running and reachable from this machine at the address "
        "in ECSYNC_DATABASE_URL",
    ),
    (
        ("disk i/o error",),
        "failed to read or write its file (an I/O error). Check the disk holding it (free space, errors in the system log)",
    ),
)


def describe_database(url: str) -> str:
    """Which database, as an administrator knows it: the file of a SQLite database, else the URL without its password."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "the sync-state database"
    if parsed.get_backend_name() == "sqlite":
        return f"the sync-state database {parsed.database or '(in memory)'}"
    return f"the sync-state database {parsed.set(password=None).render_as_string(hide_password=True)}"


def _driver_error(exc: BaseException) -> BaseException | None:
    """The database driver's own error in `exc` or its causes, or None when the failure is not the database's."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError):
            return current.orig if current.orig is not None else current
        if isinstance(current, sqlite3.Error) or type(current).__module__.startswith("psycopg"):
            return current
        current = current.__cause__ or current.__context__
    return None


def _low_on_space(url: str) -> bool:
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite" or not parsed.database:
            return False
        return shutil.disk_usage(Path(parsed.database).parent).free < LOW_SPACE_BYTES
    except (ArgumentError, OSError):
        return False


def database_problem(exc: BaseException, url: str) -> str | None:
    """The sentence for a database failure (which database, what is wrong, what to do), or None when `exc` is not one.

    The driver's own words are kept at the end, cut at their first line, so that a case this does not know is
    still said; the SQL statement and its parameters (SQLAlchemy's `[SQL: ...]`) never are.
    """
    driver = _driver_error(exc)
    if driver is None:
        return None
    text = (str(driver).strip().splitlines() or [type(driver).__name__])[0].split("[SQL:")[0].strip()
    lowered = text.lower()
    what = describe_database(url)
    timeout = f"{sqlite_busy_seconds(url):g} s" if url.startswith("sqlite") else "its lock timeout"
    for needles, cause in _CAUSES:
        if any(needle in lowered for needle in needles):
            if needles[0] == "disk i/o error" and _low_on_space(url):
                cause = _CAUSES[1][1]
            return f"{what} {cause.format(timeout=timeout)}. The database said: {text}"
    if _low_on_space(url):
        return f"{what} {_CAUSES[1][1]}. The database said: {text}"
    return f"{what} failed: {text}. Check that it is reachable and writable"


async def guarded(run: Coroutine[Any, Any, State[Any]]) -> State[Any]:
    """Await a flow's body: a database failure ends the run Failed with `database_problem`'s sentence, and a
    missing connection block with what to do about it.

    The sentence is the state message and one ERROR log line; no traceback, no SQL. Anything else propagates
    as before (Prefect records it as the run's failure). A flow calls it on its own body
    (`return await guarded(_body(...))`) rather than being decorated, so Prefect still reads the flow's own
    signature and annotations.
    """
    try:
        return await run
    except ConnectionMissing as exc:  # nothing was opened, so nothing changed: the message says what to do
        run_logger().error(str(exc))
        return Failed(message=str(exc))
    except Exception as exc:
        message = database_problem(exc, get_settings().resolved_database_url())
        if message is None:
            raise
        message = f"Run stopped: {message}. Once that is fixed, run again: a run resumes from what the database recorded"
        run_logger().error(message)
        return Failed(message=message)

"""Fixtures for the deployment tests: fresh PostgreSQL databases for the scale-out test.

Skipped with the reason when the server is unreachable, so a machine without PostgreSQL still runs the rest.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.deploy.support import PG_ADMIN_URL


def _pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture
def pg_databases() -> Iterator[dict[str, str]]:
    """Two fresh PostgreSQL databases (Prefect's server, the sync state), dropped with FORCE afterwards."""
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}".splitlines()[0])
    run = uuid.uuid4().hex[:12]
    names = {"prefect": f"ecsync_test_{run}_prefect", "state": f"ecsync_test_{run}_state"}
    with admin:
        for name in names.values():
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield {key: _pg_url(name) for key, name in names.items()}
        finally:
            for name in names.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

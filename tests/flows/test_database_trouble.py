"""Issue 17 item 4: a locked, full or unreachable sync-state database, said in the product's words.

Each case breaks a real database under a real run (a SQLite file another connection holds in a write
transaction; a SQLite file on a small tmpfs filled to the last byte; a PostgreSQL address where nothing
listens) and checks the run's state message and its log: which database, what is wrong, what to check, and
no SQL text, driver class or traceback. Then the database is given back and the next run completes.
"""

from __future__ import annotations

import asyncio
import errno
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

from ecsync.processes import free_port
from flows import settings as settings_module
from flows.reconcile import reconcile
from models import store
from models.db import engine_for
from tests.flows.conftest import make_pair

RAW = ("[SQL:", "OperationalError", "Traceback", "UPDATE sync_set", "sqlalche.me")


def use_database(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("ECSYNC_DATABASE_URL", url)
    settings_module.get_settings.cache_clear()


async def run_logs(state) -> list[str]:
    """The run's log lines as Prefect keeps them (they arrive in batches: read until the ERROR line is there)."""
    run_id = state.state_details.flow_run_id
    async with get_client() as client:
        for _ in range(60):
            logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
            lines = [log.message for log in logs]
            if any("Run stopped" in line for line in lines):
                return lines
            await asyncio.sleep(0.5)
    return lines


def assert_said_plainly(message: str, *needles: str) -> None:
    for needle in needles:
        assert needle in message, message
    for raw in RAW:
        assert raw not in message, message


async def synced_pair(onprem_api, cloud_api):
    pair = await make_pair(onprem_api, cloud_api, {"a.txt": b"a"})
    state = await pair.push()
    assert state.is_completed(), state.message
    return pair


async def test_a_locked_database_names_the_file_and_the_other_process(
    connections, database_url, onprem_api, cloud_api, monkeypatch
):
    pair = await synced_pair(onprem_api, cloud_api)
    path = database_url.removeprefix("sqlite:///")
    use_database(monkeypatch, f"{database_url}?timeout=1")  # the same file, waiting 1 s (not 30) for a lock
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's write transaction, never committed while the run goes
    try:
        state = await reconcile(slug=pair.name, return_state=True)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert state.is_failed()
    assert_said_plainly(state.message, path, "is locked by another process", "waited 1 s", "run again")
    assert any("is locked by another process" in line and "[SQL:" not in line for line in await run_logs(state))

    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_completed(), state.message


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, mounted for the test (root only; skipped where mounting is not allowed)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip()}): run as root to test a full disk")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the disk is full; returns it (delete it to give the space back)."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:  # unbuffered: nothing left to flush (and fail) on close
        try:
            while True:
                out.write(b"\0" * 512)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


async def test_a_full_disk_says_so_and_the_next_run_recovers(
    connections, database_url, onprem_api, cloud_api, monkeypatch, small_disk
):
    url = f"sqlite:///{small_disk / 'sync-state.db'}?timeout=1"
    use_database(monkeypatch, url)
    pair = await synced_pair(onprem_api, cloud_api)
    await onprem_api.put_content(pair.files["a.txt"]["id"], b"edited while the disk is full")
    filler = fill(small_disk)
    try:
        state = await reconcile(slug=pair.name, return_state=True)
    finally:
        filler.unlink()
    assert state.is_failed()
    assert_said_plainly(state.message, str(small_disk / "sync-state.db"), "the disk holding it is full", "Free space")

    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_completed(), state.message
    root = next(n for n in await cloud_api.children(pair.cloud_target["id"]) if n["name"] == pair.name)
    copy = next(n for n in await cloud_api.children(root["id"]) if n["name"] == "a.txt")
    assert await cloud_api.content(copy["id"]) == b"edited while the disk is full"
    engine_for(url).dispose()  # before the tmpfs goes


async def test_an_unreachable_database_server_says_where_without_its_password(connections, monkeypatch):
    secret = f"pw-{uuid.uuid4().hex[:8]}"
    port = free_port()  # nothing listens there
    use_database(monkeypatch, f"postgresql://ecsync:{secret}@127.0.0.1:{port}/ecsync?connect_timeout=5")
    state = await reconcile(slug="anything", return_state=True)
    assert state.is_failed()
    assert_said_plainly(state.message, f"127.0.0.1:{port}/ecsync", "cannot be reached", "ECSYNC_DATABASE_URL")
    assert secret not in state.message
    assert all(secret not in line for line in await run_logs(state))
    assert store  # the product's store, not a stand-in, is what failed

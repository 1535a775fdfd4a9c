"""A fanned-out sweep never waits for ever on a batch run whose worker died (real Prefect server, no worker).

A batch run left Running by a killed worker shows no sign of life: none of its sync sets is held under an
unexpired lease. The sweep marks it Crashed after twice `lease_seconds` and reports its sets; a run still
waiting for a worker (Scheduled) is waited for, however long.
"""

from __future__ import annotations

import asyncio

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Running

from flows import settings as settings_module
from flows.sweep import follow
from models import store
from models.tables import SyncSet


@flow(name="batch-stand-in")
def _batch_stand_in() -> None:
    """Only its runs are used (created over the API, never run)."""


def _sync_set(database_url: str, slug: str) -> None:
    store.create_sync_set(
        database_url,
        SyncSet(
            slug=slug,
            owner="test",
            onprem_connection="onprem",
            cloud_connection="cloud",
            kind="folder",
            target_network="acme.com",
            target_site="partners",
            target_folder_id="x",
            target_folder_path="Shared",
        ),
        [],
    )


async def test_a_running_batch_without_a_live_lease_is_marked_crashed_and_given_up(prefect_server, database_url) -> None:
    _sync_set(database_url, "follow-a")
    settings = settings_module.Settings.model_construct(lease_seconds=1)  # below the allowed 10 s: a 2 s limit
    async with get_client() as client:
        run = await client.create_flow_run(_batch_stand_in, parameters={})
        await client.set_flow_run_state(run.id, Running(), force=True)
    ended = await asyncio.wait_for(follow(run.id, ["follow-a"], settings), timeout=60)
    assert ended.state is not None and ended.state.type.value == "CRASHED", ended.state
    assert "No sign of life" in (ended.state.message or "")


async def test_a_batch_whose_set_is_leased_or_that_waits_for_a_worker_is_waited_for(prefect_server, database_url) -> None:
    _sync_set(database_url, "follow-b")
    sync_set = store.get_sync_set(database_url, "follow-b")
    assert sync_set is not None and sync_set.id is not None
    settings = settings_module.Settings.model_construct(lease_seconds=1)
    async with get_client() as client:
        waiting = await client.create_flow_run(_batch_stand_in, parameters={})  # Pending: no worker took it
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(follow(waiting.id, ["follow-b"], settings), timeout=6)
        working = await client.create_flow_run(_batch_stand_in, parameters={})
        await client.set_flow_run_state(working.id, Running(), force=True)
        assert store.acquire_lease(database_url, sync_set.id, "a-live-run", 60)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(follow(working.id, ["follow-b"], settings), timeout=6)
        for run in (waiting, working):
            state = (await client.read_flow_run(run.id)).state
            assert state is not None and state.type.value in ("PENDING", "RUNNING"), state

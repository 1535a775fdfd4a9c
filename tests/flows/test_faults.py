"""Transient faults are retried and converge; a permanent failure is readable from Prefect's API."""

from __future__ import annotations

import asyncio

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterTags,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)

from ecsync.info import render, sync_info
from flows.reconcile import reconcile
from flows.request_sync import request_sync
from models import store
from tests.flows.conftest import make_pair
from tests.flows.test_changes import trees_equal


async def test_transient_faults_are_retried(connections, database_url, onprem_api, cloud_api):
    pair = await make_pair(onprem_api, cloud_api, {f"t{i}.txt": f"{i}".encode() * 100 for i in range(6)})
    await cloud_api.faults({"rules": [{"method": "POST", "path": "/children$", "fail_next": 3, "status": 503}]})
    try:
        state = await pair.push()
    finally:
        await cloud_api.faults(None)
    assert state.is_completed(), state.message
    await trees_equal(onprem_api, cloud_api, pair)
    retried = 0
    from prefect.events.worker import EventsWorker

    await asyncio.to_thread(EventsWorker.drain_all, 300)  # history only has the state events this process sent
    async with get_client() as client:
        runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"sync-set:{pair.name}"])))
        for _ in range(180):  # task runs reach the server's history asynchronously (seconds behind under load): poll
            task_runs = await client.read_task_runs(
                task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[runs[0].id]))
            )
            retried = 0
            for task_run in task_runs:
                states = await client.read_task_run_states(task_run.id)
                retried += sum(1 for state in states if state.name in ("AwaitingRetry", "Retrying"))
            if retried >= 3:
                break
            await asyncio.sleep(0.5)
    assert retried >= 3, "every retry is visible in run history"


async def test_permanent_failure_then_request_sync_clears_it(connections, database_url, onprem_api, cloud_api, emulators):
    pair = await make_pair(onprem_api, cloud_api, {"ok.txt": b"fine", "big.bin": b"x" * 4096})
    root = cloud_api.base.split("/alfresco/api/")[0]
    limited = await cloud_api.client.put(f"{root}/_emulator/networks/acme.com", json={"sizeLimit": 1024})
    assert limited.status_code == 200, limited.text
    try:
        state = await pair.push()
        assert state.is_failed()
        assert state.message == f"1 of 3 items not synced: {pair.name}/big.bin CONTENT_LIMIT_VIOLATION"
        member = store.find_member(database_url, pair.files["big.bin"]["id"])[0]
        assert member.status == "failed"
        assert member.error_report["status"] == 413 and member.error_report["url"].startswith("http://127.0.0.1")
        info = await sync_info(database_url, pair.files["big.bin"]["id"])
        text = render(info)
        assert "Last sync failed: CONTENT_LIMIT_VIOLATION" in text and "status: 413" in text
        assert info.runs and info.runs[0].state == "Failed"

        again = await reconcile(slug=pair.name, return_state=True)
        assert again.is_completed(), "a parked failure does not turn every later run red (SPEC)"
        assert f"1 item waits for attention: {pair.name}/big.bin CONTENT_LIMIT_VIOLATION" in again.message, again.message
        assert store.find_member(database_url, pair.files["big.bin"]["id"])[0].error_at == member.error_at, "not retried"
    finally:
        await cloud_api.client.put(f"{root}/_emulator/networks/acme.com", json={"sizeLimit": -1})
    fixed = await request_sync(item=pair.files["big.bin"]["id"], return_state=True)
    assert fixed.is_completed(), fixed.message
    member = store.find_member(database_url, pair.files["big.bin"]["id"])[0]
    assert member.status == "synced" and member.error_code is None
    assert "Synced" in render(await sync_info(database_url, pair.files["big.bin"]["id"]))


async def test_a_transient_fault_while_reading_the_destination_is_retried(connections, database_url, onprem_api, cloud_api):
    """A 503 while the setup looks up the cloud destination is retried like any transient fault, not refused as
    "Could not read the destination" (the fault storm's soak found a setup refused so)."""
    pair = await make_pair(onprem_api, cloud_api, {"d.txt": b"d"})
    rules = [{"method": "GET", "path": "/containers/documentLibrary$", "fail_next": 2, "status": 503}]
    await cloud_api.faults({"rules": rules})
    try:
        state = await pair.push()
    finally:
        await cloud_api.faults(None)
    assert state.is_completed(), state.message
    await trees_equal(onprem_api, cloud_api, pair)

"""A Prefect API outage while a reconcile runs (issue 17 item 3).

The work of a run needs the repositories and the sync state, not Prefect; its record needs Prefect. The test
stops its own Prefect server while a reconcile (held by emulator latency) carries 60 edits, keeps it down
longer than the Prefect client's own retries (~60 s), and starts it again on the same port and home. The run
must carry on (its progress updates are best effort), wait for the API before writing its record, and end
Completed in the API, tagged, with its task runs, while both trees converge.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId, TaskRunFilter, TaskRunFilterFlowRunId

from flows.reconcile import reconcile
from tests.flows.conftest import Api, make_pair
from tests.reliability.conftest import Restartable, asave_connections
from tests.reliability.support import Tree, assert_clean_state, assert_converged, cloud_root, drain_events

OUTAGE_SECONDS = 90.0
"""Longer than the Prefect client's retries of one request (2 + 4 + 8 + 16 + 32 s)."""
FILES = 60
"""Enough actions for a progress artifact (flows.reporting.PROGRESS_FROM)."""
SLOW_READS = {
    "seed": 11,
    "rules": [{"method": "GET", "path": "/content$", "kind": "latency", "latency_ms": 1500, "rate": 1.0}],
}
"""Every on-prem download takes 1.5 s: the reconcile is still carrying edits when the server goes away."""


async def slow_reads_seen(url: str) -> int:
    async with httpx.AsyncClient(timeout=5) as client:
        rules = (await client.get(f"{url}/_emulator/faults")).json()["rules"]
    return sum(rule["matched"] for rule in rules)


async def task_runs_of(flow_run_id: uuid.UUID, at_least: int, polls: int = 120) -> list:
    """The flow run's task runs as the API has them (polled: the server records them from events)."""
    await drain_events()
    found: list = []
    async with get_client() as client:
        for _ in range(polls):
            found = await client.read_task_runs(
                task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[flow_run_id])), limit=200
            )
            if len(found) >= at_least and all(t.state is not None and t.state.is_final() for t in found):
                return found
            await asyncio.sleep(0.5)
    return found


async def test_a_reconcile_outlives_a_prefect_api_outage(
    own_prefect_server: Restartable, database_url, emulators, onprem_api: Api, cloud_api: Api
) -> None:
    from prefect.logging.handlers import APILogWorker

    names = await asave_connections(emulators, suffix="-outage")
    model: Tree = {f"f{i:02d}.txt": f"outage file {i}\n".encode() for i in range(FILES)}
    pair = await make_pair(onprem_api, cloud_api, model)
    first = await pair.push(names)
    assert first.is_completed(), first.message
    for path in model:
        model[path] = f"edited before the outage: {path}\n".encode()
        await onprem_api.put_content(pair.files[path]["id"], model[path])

    await onprem_api.faults(SLOW_READS)
    try:
        run = asyncio.create_task(reconcile(slug=pair.name, return_state=True))
        for _ in range(1200):  # bounded: the run has started carrying edits (4 downloads under way)
            if run.done() or await slow_reads_seen(emulators["onprem"].url) >= 4:
                break
            await asyncio.sleep(0.1)
        assert not run.done(), f"the run ended before the outage: {run.result().message}"
        await own_prefect_server.restart(down_for=OUTAGE_SECONDS)
        state = await asyncio.wait_for(run, 900)
    finally:
        await onprem_api.faults(None)
    assert state.is_completed(), state.message
    assert f"{FILES} actions done" in (state.message or ""), state.message

    run_id = state.state_details.flow_run_id
    async with get_client() as client:
        recorded = await client.read_flow_run(run_id)
    assert recorded.state is not None and recorded.state.is_completed(), recorded.state
    assert f"sync-set:{pair.name}" in recorded.tags, recorded.tags
    task_runs = await task_runs_of(run_id, at_least=2)
    names_seen = {t.name.rsplit("-", 1)[0] for t in task_runs}
    assert task_runs and all(t.state is not None and t.state.is_completed() for t in task_runs), [
        (t.name, t.state and t.state.type) for t in task_runs
    ]
    assert any(name.startswith("transfer") for name in names_seen), names_seen

    await asyncio.to_thread(APILogWorker.drain_all, timeout=30)
    async with get_client() as client:
        logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    warnings = [log.message for log in logs if "Prefect API" in log.message]
    assert warnings, "the run met the outage and said so"

    root = await cloud_root(cloud_api, pair.cloud_target["id"], pair.name)
    await assert_converged(onprem_api, cloud_api, pair.onprem_folder["id"], root["id"], model)
    assert_clean_state(database_url, pair.name)

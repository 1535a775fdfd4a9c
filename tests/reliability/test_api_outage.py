"""A Prefect API outage while a reconcile runs (issue 17 item 3).

The work of a run needs the repositories and the sync state, not Prefect; its record needs Prefect. The test
stops its own Prefect server while a reconcile (held by emulator latency) carries 60 edits, keeps it down
longer than the Prefect client's own retries (~60 s), and starts it again on the same port and home. The run
must carry on (its progress updates are best effort), wait for the API before writing its record, and end
Completed in the API, tagged, with its task runs, while both trees converge. `ecsync serve` must outlive an
outage long enough for Prefect's runner to give up polling, and serve the next request.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId, TaskRunFilter, TaskRunFilterFlowRunId

from flows.reconcile import reconcile
from tests.flows.conftest import Api, make_pair
from tests.reliability.conftest import asave_connections
from tests.reliability.support import Restartable, Tree, assert_clean_state, assert_converged, cloud_root, drain_events

REPO = Path(__file__).resolve().parents[2]
OUTAGE_SECONDS = 90.0
"""Longer than the Prefect client's retries of one request (2 + 4 + 8 + 16 + 32 s)."""
SERVE_OUTAGE_SECONDS = 30.0
"""With one client retry and a 2 s poll, several polls fail in this time (Prefect's runner gives up after 3)."""
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


def _log_has(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text(errors="replace")


async def _wait_for(condition, what: str, process: subprocess.Popen[bytes], log: Path, polls: int = 1200) -> None:
    """Poll `condition()` every 0.25 s (bounded); fail with serve's log if serve exits or it never holds."""
    for _ in range(polls):
        if condition():
            return
        assert process.poll() is None, f"serve exited ({process.returncode}) waiting for {what}:\n{log.read_text()[-4000:]}"
        await asyncio.sleep(0.25)
    raise AssertionError(f"no {what}:\n{log.read_text(errors='replace')[-4000:]}")


async def test_serve_outlives_a_prefect_api_outage(
    own_prefect_server: Restartable, database_url, emulators, onprem_api: Api, cloud_api: Api, tmp_path: Path
) -> None:
    """`ecsync serve` started while the API is down waits for it; then, with a reconcile in flight, the API goes
    away for longer than Prefect's runner would poll before giving up (three failed polls), and comes back.
    serve is still running, the run in flight ends Completed with its task runs, and serve runs the next request."""
    from deployments.trigger import PrefectApi, state_of

    names = await asave_connections(emulators, suffix="-serve-outage")
    model: Tree = {f"s{i:02d}.txt": f"serve outage file {i}\n".encode() for i in range(FILES)}
    pair = await make_pair(onprem_api, cloud_api, model)
    first = await pair.push(names)
    assert first.is_completed(), first.message
    api_url = own_prefect_server.child.extra["api_url"]
    log = tmp_path / "serve.log"
    # One retry per request and a 2 s poll: the runner meets the outage within seconds, not minutes.
    env = {**os.environ, "PREFECT_CLIENT_MAX_RETRIES": "1", "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    await asyncio.to_thread(own_prefect_server.child.stop)
    with log.open("ab") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", "ecsync", "serve", "--no-schedule", "--limit", "2"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api = PrefectApi(api_url)
    try:
        await _wait_for(lambda: _log_has(log, "restart 1 in"), "restart after a start without the API", serve, log)
        own_prefect_server.child = await asyncio.to_thread(own_prefect_server.start)
        await _wait_for(lambda: _log_has(log, "starting the runner again"), "runner started again", serve, log)
        deployment = (await asyncio.to_thread(api.wait_for_deployments, [("reconcile", "reconcile-now")], 120))[
            "reconcile/reconcile-now"
        ]

        for path in model:
            model[path] = f"edited before the outage: {path}\n".encode()
            await onprem_api.put_content(pair.files[path]["id"], model[path])
        await onprem_api.faults(SLOW_READS)
        in_flight = (await asyncio.to_thread(api.create_flow_run, deployment, {"slug": pair.name}))["id"]
        for _ in range(2400):  # bounded: serve started the run and it is carrying edits
            if await slow_reads_seen(emulators["onprem"].url) >= 4:
                break
            assert serve.poll() is None, log.read_text(errors="replace")[-4000:]
            await asyncio.sleep(0.25)
        else:
            raise AssertionError(f"the run never started carrying edits:\n{log.read_text(errors='replace')[-4000:]}")

        await asyncio.to_thread(own_prefect_server.child.stop)
        await _wait_for(lambda: _log_has(log, "still serving"), "serve noticing the outage", serve, log)
        await asyncio.sleep(SERVE_OUTAGE_SECONDS)  # many polls fail meanwhile (counted below, not timed)
        own_prefect_server.child = await asyncio.to_thread(own_prefect_server.start)
        await _wait_for(lambda: _log_has(log, "answers again after"), "serve polling again", serve, log)
        failed_polls = int(re.search(r"answers again after (\d+) failed polls", log.read_text()).group(1))
        assert failed_polls >= 3, f"{failed_polls} failed polls: Prefect's own runner gives up after 3"

        finished = await asyncio.to_thread(api.wait, in_flight, 900)
        await onprem_api.faults(None)
        kind, message = state_of(finished)
        assert kind == "COMPLETED", f"{kind}: {message}"
        assert f"{FILES} actions done" in message, message
        task_runs = await task_runs_of(uuid.UUID(in_flight), at_least=2)
        assert task_runs and all(t.state is not None and t.state.is_completed() for t in task_runs), task_runs

        edited = "s00.txt"
        model[edited] = b"edited after the outage\n"
        await onprem_api.put_content(pair.files[edited]["id"], model[edited])
        after = (await asyncio.to_thread(api.create_flow_run, deployment, {"slug": pair.name}))["id"]
        kind, message = state_of(await asyncio.to_thread(api.wait, after, 300))
        assert kind == "COMPLETED", f"{kind}: {message}"
        assert serve.poll() is None, "serve is still running"
        root = await cloud_root(cloud_api, pair.cloud_target["id"], pair.name)
        await assert_converged(onprem_api, cloud_api, pair.onprem_folder["id"], root["id"], model)
        assert_clean_state(database_url, pair.name)
    finally:
        await onprem_api.faults(None)
        api.close()
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGTERM)
            try:
                await asyncio.to_thread(serve.wait, 30)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)
                await asyncio.to_thread(serve.wait, 10)

"""The schedule survives `serve` killed mid-sweep with a Prefect server restart (issue 17 item 2).

The sweep deployment used to carry a deployment concurrency limit (1, CANCEL_NEW). Prefect frees such a slot
when the run's process ends it, or when the slot's lease expires; the lease lives in the server's memory, so
`serve` SIGKILLed during a sweep and the server restarted left the slot taken for ever, and every later tick
ended CANCELLED ("Deployment concurrency limit reached"): no sync set was reconciled again.

Here everything is real: a Prefect server of the test's own (own home, fixed port), `python -m ecsync serve`
as a child process with a short interval, three sync sets, on-prem listings slowed so the sweep is still at
work when `serve` and every flow-run process it started are SIGKILLed. Then the server is stopped and started on the same home
and port, an on-prem file is edited, and `serve` is started again. A later tick must run the sweep to the end
(every set reconciled, the edit in the cloud): the killed sweep's lease lapses by itself; nothing waits for a
slot. Nobody marks the killed runs (they stay Running in the history), as after a real crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort

from ecsync.processes import Child
from tests.deploy.support import clean_env, spawn
from tests.flows.conftest import Api, make_pair
from tests.reliability.conftest import asave_connections
from tests.reliability.support import Restartable, cloud_root

SETS = 3
INTERVAL_SECONDS = 4
SLOW_LISTINGS = {
    "seed": 17,
    "rules": [{"method": "GET", "path": "/children", "kind": "latency", "latency_ms": 1500, "rate": 1.0}],
}
"""Every on-prem folder listing waits 1.5 s, so a sweep of three sets is still at work when serve is killed."""


def serve_env(api_url: str, database_url: str, home: Path) -> dict[str, str]:
    return clean_env(
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(home),
        PREFECT_RUNNER_POLL_FREQUENCY="2",
        ECSYNC_DATABASE_URL=database_url,
        ECSYNC_LEASE_SECONDS="10",  # a dead holder's lease lapses after 10 s (the smallest allowed)
        ECSYNC_TASK_RETRIES="2",
        ECSYNC_RETRY_BACKOFF_SECONDS="0.05",
    )


def start_serve(env: dict[str, str], log: Path) -> Child:
    return spawn("serve", [sys.executable, "-m", "ecsync", "serve", "--interval", str(INTERVAL_SECONDS)], env, log)


async def sweep_deployment_id() -> Any:
    """The reconcile deployment with a schedule (whatever it is named)."""
    async with get_client() as client:
        for _ in range(240):  # serve registers it within a few seconds of starting
            found = await client.read_deployments(flow_filter=FlowFilter(name=FlowFilterName(any_=["reconcile"])))
            scheduled = [d for d in found if d.schedules]
            if scheduled:
                return scheduled[0].id
            await asyncio.sleep(0.5)
    raise AssertionError("serve never registered the scheduled sweep")


async def sweep_runs(deployment_id: Any, after: datetime | None = None) -> list[Any]:
    flow_runs = FlowRunFilter(expected_start_time=FlowRunFilterExpectedStartTime(after_=after)) if after else None
    async with get_client() as client:
        return await client.read_flow_runs(
            flow_run_filter=flow_runs,
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=200,
        )


async def a_set_is_being_reconciled() -> bool:
    async with get_client() as client:
        running = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["reconcile-sync-set"])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))),
        )
    return bool(running)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux: /proc/<pid>/task/<tid>/children)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += [int(child), *descendants(int(child))]
    return found


def kill_serve(child: Child) -> None:
    """SIGKILL serve and every flow-run process it started, as a crash of the machine or of its service would.

    Prefect's runner starts each flow run in a process group of its own, so killing serve's group alone would
    leave the sweep running; every descendant is killed too.
    """
    processes = [child.process.pid, *descendants(child.process.pid)]
    for pid in processes:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.process.pid, signal.SIGKILL)
    child.process.wait(timeout=10)
    assert len(processes) > 1, "serve was running a flow run when it was killed"


def states(runs: list[Any]) -> list[str]:
    return [f"{run.name}: {run.state.name if run.state else None} {run.state.message if run.state else ''}" for run in runs]


async def test_the_schedule_recovers_after_serve_is_killed_mid_sweep_and_the_server_restarts(
    own_prefect_server: Restartable, database_url: str, emulators, onprem_api: Api, cloud_api: Api, tmp_path: Path
) -> None:
    names = await asave_connections(emulators, suffix="-sweep")
    pairs = [await make_pair(onprem_api, cloud_api, {"s.txt": f"set {i}\n".encode()}) for i in range(SETS)]
    for pair in pairs:
        state = await pair.push(names)
        assert state.is_completed(), state.message
    api_url = own_prefect_server.child.extra["api_url"]
    env = serve_env(api_url, database_url, tmp_path / "serve-home")

    await onprem_api.faults(SLOW_LISTINGS)
    serve = start_serve(env, tmp_path / "serve-1.log")
    try:
        deployment_id = await sweep_deployment_id()
        for _ in range(600):  # at most ~120 s: a tick's sweep has started a sync set's run
            if await a_set_is_being_reconciled():
                break
            assert serve.process.poll() is None, serve.log_tail(60)
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"no sweep got under way:\n{serve.log_tail(60)}")
    finally:
        kill_serve(serve)
    killed = [run for run in await sweep_runs(deployment_id) if run.state and run.state.type == StateType.RUNNING]
    assert killed, "a sweep was running when serve was killed"

    await own_prefect_server.restart()
    await onprem_api.faults(None)
    restarted = datetime.now(UTC)
    await onprem_api.put_content(pairs[0].files["s.txt"]["id"], b"edited after the restart\n")

    serve = start_serve(env, tmp_path / "serve-2.log")
    try:
        finished: list[Any] = []
        for _ in range(900):  # at most ~180 s; ticks come every few seconds once the killed sweep's lease lapsed
            later = await sweep_runs(deployment_id, after=restarted)
            finished = [run for run in later if run.state is not None and run.state.is_final()]
            swept = [run for run in finished if run.state.message == f"{SETS} of {SETS} sync sets reconciled"]
            if swept:
                break
            assert serve.process.poll() is None, serve.log_tail(60)
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("no tick after the restart swept the sync sets:\n" + "\n".join(states(finished)))
    finally:
        serve.stop()

    # Ticks before the killed runs' leases lapsed end Skipped, or skip the set the killed run held: none is
    # cancelled, none fails.
    assert all(run.state.is_completed() for run in finished), states(finished)
    for run in finished:
        if run.state.name == "Skipped":
            assert "earlier sweep is still running" in (run.state.message or ""), states(finished)
    root = await cloud_root(cloud_api, pairs[0].cloud_target["id"], pairs[0].name)
    cloud = await cloud_api.tree(root["id"])
    assert await cloud_api.content(cloud["s.txt"]["id"]) == b"edited after the restart\n"

"""Restarts: the cloud emulator restarted while a run uploads, and the Prefect server restarted between runs.

A real cloud goes away and comes back (a deploy, a failover) and the orchestrator is restarted for upgrades.
Neither may cost a byte or leave a duplicate: the run that saw the outage may fail its members TRANSIENT, the
next reconcile must finish the work (trees equal byte for byte, no stuck intent, every member synced), and a
restarted Prefect server must still hold the run history from before the restart (it is how an administrator
finds out what a sync did).

Both tests start their own processes on fixed loopback ports so the restart comes back where the clients
(the connection block, PREFECT_API_URL) expect it; the suite's emulators and server are left alone.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags, LogFilter, LogFilterFlowRunId

from ecsync.processes import SYNC_ACCOUNTS, Child, free_port, start_emulator
from flows import settings as settings_module
from flows.reconcile import reconcile
from flows.sync_to_cloud import sync_to_cloud
from tests.flows.conftest import Api, make_pair
from tests.reliability.conftest import asave_connections
from tests.reliability.support import Restartable, Tree, assert_clean_state, assert_converged, cloud_root, reconcile_until_quiet

UPLOAD_LATENCY = {
    "seed": 7,
    "rules": [{"method": "POST", "path": "/children$", "kind": "latency", "latency_ms": 300, "rate": 1.0}],
}
"""Slow creates, so the run is still uploading when the emulator goes away (a rule does not survive a restart)."""
STOP_AFTER_CREATES = 8
"""Creates the emulator has received (folders and files) before it is stopped: well inside the upload phase."""


def restart_layout(rng: random.Random, files: int) -> Tree:
    """Three folders and `files` small seeded files, parents first (as `make_pair` needs them)."""
    tree: Tree = {"a": None, "a/b": None, "c": None}
    folders = ["", "a/", "a/b/", "c/"]
    for i in range(files):
        tree[f"{rng.choice(folders)}r{i}.txt"] = f"restart file {i} {rng.random()}\n".encode()
    return dict(sorted(tree.items(), key=lambda item: item[0].count("/")))


async def creates_seen(url: str) -> int:
    """How many requests the upload-latency rule has matched (0 while the emulator is down)."""
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            rules = (await client.get(f"{url}/_emulator/faults")).json()["rules"]
    except httpx.HTTPError:
        return 0
    return sum(rule["matched"] for rule in rules)


@pytest.fixture()
def own_cloud(tmp_path: Path) -> Iterator[Restartable]:
    """A persistent cloud emulator (`--data`) on a fixed port of its own."""
    port, data = free_port(), tmp_path / "cloud-data"
    data.mkdir()

    def start() -> Child:
        return start_emulator("cloud", data, tmp_path / "cloud.log", port)

    emulator = Restartable(start, start())
    yield emulator
    emulator.child.stop()


@pytest.mark.parametrize(
    ("seed", "crash"),
    [(4711, False), (4712, True)],
    ids=["stopped-and-back-within-the-retries", "crashed-and-down-until-the-run-ends"],
)
async def test_cloud_emulator_restarted_mid_upload(
    connections,
    database_url,
    emulators,
    onprem_api: Api,
    own_cloud: Restartable,
    seed: int,
    crash: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Back within the retries the run completes; crashed and down for the rest of the run it fails TRANSIENT.

    Either way the next reconcile converges: equal trees, no duplicate (a create cut by the crash, if the
    emulator had committed it, must be adopted, not made again as a second copy), no stuck intent.
    """
    if crash:  # the outage outlasts the run anyway: fewer retries only make the run give up sooner
        monkeypatch.setenv("ECSYNC_TASK_RETRIES", "2")
        settings_module.get_settings.cache_clear()
    rng = random.Random(seed)
    model = restart_layout(rng, 24)
    names = await asave_connections({"onprem": emulators["onprem"], "cloud": own_cloud.child}, suffix="-restart")
    cloud_api = Api(own_cloud.child.url, "acme.com", SYNC_ACCOUNTS["cloud"].user, SYNC_ACCOUNTS["cloud"].password)
    try:
        pair = await make_pair(onprem_api, cloud_api, model)
        await cloud_api.faults(UPLOAD_LATENCY)
        run = asyncio.create_task(
            sync_to_cloud(
                items=[pair.site_path],
                destination=pair.destination,
                slug=pair.name,
                onprem_connection=names["onprem"],
                cloud_connection=names["cloud"],
                return_state=True,
            )
        )
        for _ in range(600):  # bounded: 60 s of polling
            if run.done() or await creates_seen(own_cloud.child.url) >= STOP_AFTER_CREATES:
                break
            await asyncio.sleep(0.1)
        assert not run.done(), f"the run ended before the restart: {run.result().message}"
        await own_cloud.restart(kill=crash, down_until=run if crash else None)
        state = await asyncio.wait_for(run, 120)
        if crash:
            assert state.is_failed() and "TRANSIENT" in (state.message or ""), state.message
        else:  # the retries ride the outage out, or (on a slow machine) some members fail TRANSIENT
            assert state.is_completed() or "TRANSIENT" in (state.message or ""), state.message
        assert await creates_seen(own_cloud.child.url) == 0, "the restarted emulator answers, with no fault rule"

        await reconcile_until_quiet(pair.name)
        root = await cloud_root(cloud_api, pair.cloud_target["id"], pair.name)
        await assert_converged(onprem_api, cloud_api, pair.onprem_folder["id"], root["id"], model)
        assert_clean_state(database_url, pair.name)
    finally:
        await cloud_api.aclose()


async def history(slug: str) -> dict[Any, Any]:
    """The flow runs tagged with the sync set, by id."""
    async with get_client() as client:
        runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"sync-set:{slug}"])))
    return {run.id: run for run in runs}


async def test_prefect_server_restarted_between_runs(
    own_prefect_server: Restartable, database_url, emulators, onprem_api: Api, cloud_api: Api
) -> None:
    from prefect.logging.handlers import APILogWorker

    names = await asave_connections(emulators, suffix="-own-server")
    model: Tree = {"d": None, "d/one.txt": b"one\n", "two.txt": b"two\n"}
    pair = await make_pair(onprem_api, cloud_api, model)
    first = await pair.push(names)
    assert first.is_completed(), first.message
    first_id = first.state_details.flow_run_id
    await asyncio.to_thread(APILogWorker.drain_all, timeout=10)  # the first run's logs are on the server
    assert first_id in await history(pair.name)

    api_url = own_prefect_server.child.extra["api_url"]
    await own_prefect_server.restart()
    assert own_prefect_server.child.extra["api_url"] == api_url, "same port: PREFECT_API_URL still right"

    await onprem_api.put_content(pair.files["d/one.txt"]["id"], b"edited after the restart\n")
    model["d/one.txt"] = b"edited after the restart\n"
    second = await reconcile(slug=pair.name, return_state=True)
    assert second.is_completed(), second.message
    root = await cloud_root(cloud_api, pair.cloud_target["id"], pair.name)
    await assert_converged(onprem_api, cloud_api, pair.onprem_folder["id"], root["id"], model)
    assert_clean_state(database_url, pair.name)

    runs = await history(pair.name)
    second_id = second.state_details.flow_run_id
    assert set(runs) == {first_id, second_id}, f"run history after the restart: {sorted(map(str, runs))}"
    assert runs[first_id].state is not None and runs[first_id].state.is_completed(), runs[first_id].state
    async with get_client() as client:
        logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[first_id])))
    assert logs, "the first run's logs survived the restart"

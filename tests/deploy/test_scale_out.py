"""Scale-out on PostgreSQL: two process workers reconcile 20 sync sets at once, and no set is changed twice at once.

Everything is what README.md's "Scale-out" section tells an operator to run: a Prefect server on PostgreSQL,
the sync state on PostgreSQL, `prefect work-pool create`, `prefect --no-prompt deploy --all` of the repository's
own `prefect.yaml`, and two `prefect worker start --pool` processes. Each sync set is one small file, edited
on-prem before the reconciles. Two sweeps (reconcile without a slug: every sync set, fanned out in batch runs of
the pool's `reconcile-sync-sets` deployment, each set a subflow run of its batch) start together on the two
workers (the sweep lease lets one through, the other ends Skipped), and a few per-set reconcile runs are thrown
in, so runs race for the same sync sets all the time; the per-sync-set lease must turn every loser away before
it changes anything.

"Changed at once" is judged from what the runs did, not from their Running intervals: a run's state turns
Completed a moment after it has released its lease, so the next run may legitimately start before that. All
changes are made by task runs, so the task runs of two runs of one sync set must never overlap in time, and a
run the lease turned away must have no task runs at all.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from deployments.definitions import by_name
from deployments.trigger import FINAL_STATES, PrefectApi, state_of
from ecsync.processes import Child, start_emulator, start_prefect_server
from flows import settings as settings_module
from models import store
from tests.deploy.support import PROJECT_ROOT, Rest, clean_env, prefect_cli, save_blocks, spawn

pytestmark = pytest.mark.postgres

SETS = 20
SWEEPS = 2
"""Reconcile runs of every sync set, started together."""
SINGLES = 4
"""Per-set reconcile runs submitted alongside the sweeps (of the first sets, which the sweeps reach first)."""
WORK_POOL = "ecsync"  # the pool named in prefect.yaml
LEASE_REFUSAL = "is being changed by run"


@pytest.fixture
def cluster(tmp_path: Path, pg_databases: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A Prefect server on PostgreSQL and the two emulators; the test adds its workers to `children`."""
    prefect_db = pg_databases["prefect"].replace("postgresql://", "postgresql+asyncpg://", 1)
    monkeypatch.setenv("ECSYNC_PREFECT_DATABASE_URL", prefect_db)
    monkeypatch.setenv("PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS", "2")
    children: list[Child] = []
    try:
        children.append(start_prefect_server(tmp_path / "prefect", timeout=180))
        monkeypatch.delenv("ECSYNC_PREFECT_DATABASE_URL")
        children.append(start_emulator("onprem", None, tmp_path / "onprem.log"))
        children.append(start_emulator("cloud", None, tmp_path / "cloud.log"))
        server, onprem, cloud = children
        yield {"server": server, "onprem": onprem, "cloud": cloud, "children": children, "state_db": pg_databases["state"]}
    finally:
        for child in reversed(children):
            child.stop()


def _create_sync_sets(api_url: str, state_db: str, folder: str, names: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """One single-file sync set per file, set up in this process (the workers are for the reconciles)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.sync_to_cloud import sync_to_cloud

    async def set_up() -> None:
        for index, name in enumerate(names):
            state = await sync_to_cloud(
                items=[f"site:engineering/{folder}/{name}"],
                destination={"network": "acme.com", "site": "partners", "folder": f"Shared/{folder}"},
                slug=f"{folder}-{index:02d}",
                return_state=True,
            )
            assert state.is_completed(), state.message

    monkeypatch.setenv("ECSYNC_DATABASE_URL", state_db)
    settings_module.get_settings.cache_clear()
    try:
        with temporary_settings({PREFECT_API_URL: api_url}):
            from tests.support.prefect_api import restart_prefect_services

            restart_prefect_services()
            asyncio.run(set_up())
            restart_prefect_services()  # nothing of this server's may linger in the process's event worker
    finally:
        settings_module.get_settings.cache_clear()


def _start_workers(api_url: str, state_db: str, tmp_path: Path, children: list[Child]) -> None:
    """The README's scale-out commands: a process pool, `prefect deploy --all`, two workers."""
    env = clean_env(
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(tmp_path / "prefect-client"),
        PREFECT_WORKER_QUERY_SECONDS="1",
        ECSYNC_DATABASE_URL=state_db,
        ECSYNC_PROJECT_DIR=str(PROJECT_ROOT),
        ECSYNC_RETRY_BACKOFF_SECONDS="0.2",
        ECSYNC_LEASE_WAIT_SECONDS="0",
    )
    prefect_cli("work-pool", "create", WORK_POOL, "--type", "process", env=env)
    prefect_cli("--no-prompt", "deploy", "--all", env=env, timeout=180)
    for number in (1, 2):
        argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", WORK_POOL, "--name", f"worker-{number}"]
        children.append(spawn(f"worker-{number}", [*argv, "--limit", "3"], env, tmp_path / f"worker-{number}.log"))


def _settled_task_runs(api: PrefectApi, flow_run_ids: list[str], timeout: float = 60) -> list[dict[str, Any]]:
    """The runs' task runs once the recorder has caught up (the count stops growing, all in a final state)."""
    body = {"flow_runs": {"id": {"any_": flow_run_ids}}}
    deadline = time.monotonic() + timeout
    previous = -1
    while True:
        rows = api.read_task_runs(body)
        settled = all((row.get("state") or {}).get("type") in FINAL_STATES for row in rows)
        if (len(rows) == previous and settled) or time.monotonic() > deadline:
            return rows
        previous = len(rows)
        time.sleep(1.5)


def _moment(value: str | None) -> datetime:
    assert value, "a finished task run has start and end times"
    return datetime.fromisoformat(value)


def test_two_workers_reconcile_many_sync_sets(cluster: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server, state_db = cluster["server"], cluster["state_db"]
    api_url = server.extra["api_url"]
    save_blocks(api_url, cluster["onprem"].url, cluster["cloud"].url)
    folder = f"scale-{uuid.uuid4().hex[:6]}"
    slugs = [f"{folder}-{index:02d}" for index in range(SETS)]
    names = [f"file-{index:02d}.txt" for index in range(SETS)]
    onprem, cloud = Rest(cluster["onprem"].url, "-default-"), Rest(cluster["cloud"].url, "acme.com")
    try:
        source = onprem.create_folder(onprem.by_path("engineering", "")["id"], folder)
        files = {name: onprem.upload(source["id"], name, f"first version of {name}\n".encode()) for name in names}
        target = cloud.create_folder(cloud.by_path("partners", "Shared")["id"], folder)
        _create_sync_sets(api_url, state_db, folder, names, monkeypatch)
        _start_workers(api_url, state_db, tmp_path, cluster["children"])

        edited = {name: f"second version of {name}, edited on-prem\n".encode() for name in names}
        for name, node in files.items():
            onprem.put_content(node["id"], edited[name])

        with PrefectApi(api_url) as api:
            on_demand = by_name("reconcile-now").pool_name
            reconcile_id = api.wait_for_deployments([("reconcile", on_demand)])[f"reconcile/{on_demand}"]
            sweeps = [api.create_flow_run(reconcile_id, {})["id"] for _ in range(SWEEPS)]
            singles = [api.create_flow_run(reconcile_id, {"slug": slug})["id"] for slug in slugs[:SINGLES]]
            for run_id in sweeps + singles:
                api.wait(run_id, timeout=240, interval=1.0)
            for run_id in sweeps:  # a sweep fails only by naming the sync sets a lease kept it from
                kind, message = state_of(api.flow_run(run_id))
                failures = message.partition(": ")[2].split(" | ") if kind == "FAILED" else []
                assert kind == "COMPLETED" or all(LEASE_REFUSAL in part for part in failures), (kind, message)
            # The sweeps fanned out: batch runs of the pool's reconcile-sync-sets deployment, started by a sweep.
            batches = api.read_flow_runs({"flows": {"name": {"any_": ["reconcile-sync-sets"]}}})
            assert batches and all(state_of(run)[0] == "COMPLETED" for run in batches), [state_of(r) for r in batches]
            runs = {slug: api.read_flow_runs({"flow_runs": {"tags": {"all_": [f"sync-set:{slug}"]}}}) for slug in slugs}
            task_runs = _settled_task_runs(api, [run["id"] for set_runs in runs.values() for run in set_runs])

        tasks_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in task_runs:
            tasks_of[str(row["flow_run_id"])].append(row)
        refused = 0
        for slug, set_runs in runs.items():
            windows = []
            for run in set_runs:
                kind, message = state_of(run)
                if kind == "COMPLETED":
                    rows = tasks_of[run["id"]]
                    if rows:
                        windows.append((min(_moment(r["start_time"]) for r in rows), max(_moment(r["end_time"]) for r in rows)))
                else:
                    # The lease turned it away before it changed anything.
                    assert kind == "FAILED" and LEASE_REFUSAL in message, (slug, run["name"], kind, message)
                    assert not tasks_of[run["id"]], (slug, run["name"], "a refused run must not have done anything")
                    refused += 1
            done = [r for r in set_runs if state_of(r)[0] == "COMPLETED" and (r.get("state") or {}).get("name") != "Skipped"]
            assert any(r["name"].startswith("reconcile") for r in done), slug
            for (_start, end), (next_start, _end) in itertools.pairwise(sorted(windows)):
                assert end <= next_start, f"two runs changed {slug} at once"

        # Every set converged, and nothing was duplicated on either side.
        cloud_files = {node["name"]: node for node in cloud.children(target["id"])}
        assert sorted(cloud_files) == names
        assert sorted(node["name"] for node in onprem.children(source["id"])) == names
        for name in names:
            assert cloud.content(cloud_files[name]["id"]) == edited[name], name
        for slug, name in zip(slugs, names, strict=True):
            sync_set = store.get_sync_set(state_db, slug)
            assert sync_set is not None and sync_set.id is not None
            assert sync_set.lease_owner is None, "a finished run must release its lease"
            assert [(m.op_name, m.status) for m in store.members_of(state_db, sync_set.id)] == [(name, "synced")]

        for number in (1, 2):  # both workers took part
            log = (tmp_path / f"worker-{number}.log").read_text(errors="replace")
            assert "Beginning flow run" in log, log[-3000:]
        print(f"{SWEEPS} sweeps and {SINGLES} single reconciles over {SETS} sync sets; {refused} runs turned away by a lease")
    finally:
        onprem.close()
        cloud.close()

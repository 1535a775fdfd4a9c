"""`python -m bench sweep`: a sweep of many small sync sets through a work pool, fanned out or in one run.

Everything as README.md's "Scale-out" section sets it up: a Prefect server on PostgreSQL, the sync state on
PostgreSQL (fresh databases, dropped afterwards), `prefect work-pool create`, `prefect --no-prompt deploy --all`
of the repository's `prefect.yaml`, `prefect worker start` processes, two emulators with added latency. Each
sync set is one small file; before every sweep every file is edited on-prem, so each set has one update to
carry. A sweep is `reconcile/reconcile-now-pool` without a slug, started over REST; its time is from creating
the run to its final state (worker pick-up included).

Rows: the sweep in its own run (`ECSYNC_SWEEP_BATCH_SIZE=0`, the sweep as it was before fanning out; one
worker), then for each batch size the fanned-out sweep with 1 and 2 workers. Ratios: against the in-process
sweep, and 2 workers against 1. For the batch runs: how long a run waited from its creation to Running
(worker pick-up plus a new Python process importing Prefect and the flows) and how long it ran.

    python -m bench sweep [--sets 200] [--latency-ms 20] [--batch-sizes 1 10 25] [--workers 1 2] [--worker-limit 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import ROOT, load_now, machine, print_table, scratch, write_results

PG_ADMIN_URL = os.environ.get("ECSYNC_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
WORK_POOL = "ecsync"
WORKER_LIMIT = 2
"""Flow runs each worker runs at once (`prefect worker start --limit`) unless `--worker-limit` says otherwise:
the sweep takes one slot, so one worker runs one batch at a time beside it and two run three."""


@contextmanager
def pg_databases() -> Iterator[dict[str, str]]:
    """Two fresh PostgreSQL databases (Prefect's, the sync state's), dropped with FORCE afterwards."""
    import psycopg

    base = PG_ADMIN_URL.rpartition("/")[0]
    run = uuid.uuid4().hex[:10]
    names = {"prefect": f"ecsync_bench_{run}_prefect", "state": f"ecsync_bench_{run}_state"}
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        for name in names.values():
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield {key: f"{base}/{name}" for key, name in names.items()}
        finally:
            for name in names.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def child_env(api_url: str, state_db: str, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECSYNC_", "PREFECT_"))}
    env.update(
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(home),
        PREFECT_SERVER_EPHEMERAL_ENABLED="false",
        PREFECT_WORKER_QUERY_SECONDS="1",
        ECSYNC_DATABASE_URL=state_db,
        ECSYNC_PROJECT_DIR=str(ROOT),
        ECSYNC_RETRY_BACKOFF_SECONDS="0.2",
    )
    env.update(extra)
    return env


def prefect(*args: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "prefect", *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"prefect {' '.join(args)}: {done.stdout[-2000:]}{done.stderr[-2000:]}")


# ---------------------------------------------------------------------------------------------- set-up (child process)


async def _set_up(onprem_url: str, cloud_url: str, sets: int, folder: str) -> None:
    """Blocks, one on-prem file per sync set, and `sync-to-cloud` of each (8 at once), on the bench's server."""
    from bench.emulators import Rest
    from bench.measure import save_blocks
    from flows.sync_to_cloud import sync_to_cloud

    await asyncio.to_thread(save_blocks, onprem_url, cloud_url)
    onprem, cloud = Rest(onprem_url, "-default-"), Rest(cloud_url, "acme.com")
    try:
        source = await onprem.create_folder((await onprem.by_path("engineering", ""))["id"], folder)
        await cloud.create_folder((await cloud.by_path("partners", "Shared"))["id"], folder)
        gate = asyncio.Semaphore(8)

        async def one(index: int) -> None:
            async with gate:
                name = f"file-{index:04d}.txt"
                await onprem.upload(source["id"], name, f"first version of {name}\n".encode())
                state = await sync_to_cloud(
                    items=[f"site:engineering/{folder}/{name}"],
                    destination={"network": "acme.com", "site": "partners", "folder": f"Shared/{folder}"},
                    slug=f"{folder}-{index:04d}",
                    return_state=True,
                )
                if not state.is_completed():
                    raise RuntimeError(f"set-up of {name} failed: {state.message}")

        await asyncio.gather(*(one(index) for index in range(sets)))
    finally:
        await onprem.aclose()
        await cloud.aclose()


# ---------------------------------------------------------------------------------------------- driver


class Cluster:
    """The processes of one benchmark run; every one is stopped on exit."""

    def __init__(self, work: Path, dbs: dict[str, str]) -> None:
        self.work = work
        self.dbs = dbs
        self.children: list[Any] = []
        self.workers: list[Any] = []

    def start(self) -> None:
        from bench.emulators import two_emulators  # noqa: F401  (same start-up as the other benchmarks)
        from ecsync.processes import start_emulator, start_prefect_server

        os.environ["ECSYNC_PREFECT_DATABASE_URL"] = self.dbs["prefect"].replace("postgresql://", "postgresql+asyncpg://", 1)
        try:
            self.server = start_prefect_server(self.work / "prefect", timeout=180)
        finally:
            del os.environ["ECSYNC_PREFECT_DATABASE_URL"]
        self.children.append(self.server)
        self.onprem = start_emulator("onprem", None, self.work / "onprem.log")
        self.children.append(self.onprem)
        self.cloud = start_emulator("cloud", None, self.work / "cloud.log")
        self.children.append(self.cloud)
        self.api_url = self.server.extra["api_url"]

    def env(self, **extra: str) -> dict[str, str]:
        return child_env(self.api_url, self.dbs["state"], self.work / "client", **extra)

    def start_workers(self, count: int, limit: int, **extra: str) -> None:
        from ecsync.processes import Child

        for number in range(1, count + 1):
            log = self.work / f"worker-{number}.log"
            argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", WORK_POOL]
            argv += ["--name", f"bench-worker-{number}", "--limit", str(limit)]
            with log.open("ab") as out:
                process = subprocess.Popen(
                    argv,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.env(**extra),
                    cwd=ROOT,
                    start_new_session=True,
                )
            self.workers.append(Child(name=f"worker-{number}", process=process, url="", log_path=log))

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers = []

    def stop(self) -> None:
        self.stop_workers()
        for child in reversed(self.children):
            child.stop()


def set_latency(url: str, latency_ms: int) -> None:
    rules = [{"method": "*", "path": ".*", "kind": "latency", "latency_ms": latency_ms, "rate": 1.0}] if latency_ms else []
    httpx.put(f"{url}/_emulator/faults", json={"seed": 1, "rules": rules}, timeout=30).raise_for_status()


def edit_all(onprem_url: str, folder: str, generation: int) -> None:
    """Every file of the benchmark edited on-prem (latency off meanwhile): each sync set has one update to carry."""
    from ecsync.processes import SYNC_ACCOUNTS

    account = SYNC_ACCOUNTS["onprem"]
    core = f"{onprem_url}/alfresco/api/-default-/public/alfresco/versions/1"
    with httpx.Client(auth=(account.user, account.password), timeout=60) as client:
        library = client.get(f"{core}/sites/engineering/containers/documentLibrary").json()["entry"]["id"]
        source = client.get(f"{core}/nodes/{library}", params={"relativePath": folder}).json()["entry"]["id"]
        entries = client.get(f"{core}/nodes/{source}/children", params={"maxItems": 10_000}).json()["list"]["entries"]
        for entry in entries:
            node = entry["entry"]
            data = f"version {generation} of {node['name']}\n".encode()
            headers = {"Content-Type": "application/octet-stream"}
            client.put(f"{core}/nodes/{node['id']}/content", content=data, headers=headers).raise_for_status()


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def sweep_once(cluster: Cluster, sets: int) -> dict[str, Any]:
    """Start the on-demand reconcile without a slug (a sweep) and wait; figures of it and of its batch runs."""
    from deployments.trigger import PrefectApi, state_of

    with PrefectApi(cluster.api_url) as api:
        deployment = api.wait_for_deployments([("reconcile", "reconcile-now-pool")])["reconcile/reconcile-now-pool"]
        started = time.perf_counter()
        run = api.create_flow_run(deployment, {})
        final = api.wait(run["id"], timeout=7200, interval=1.0)
        seconds = time.perf_counter() - started
        kind, message = state_of(final)
        batches = api.read_flow_runs(
            {"flows": {"name": {"any_": ["reconcile-sync-sets"]}}, "flow_runs": {"parent_flow_run_id": {"any_": [run["id"]]}}}
        )
    waits, runs = [], []
    for batch in batches:
        created, start, end = _moment(batch.get("created")), _moment(batch.get("start_time")), _moment(batch.get("end_time"))
        if created and start:
            waits.append((start - created).total_seconds())
        if start and end:
            runs.append((end - start).total_seconds())
    if kind != "COMPLETED" or not message.startswith(f"{sets} of {sets} sync sets reconciled"):
        print(f"  sweep ended {kind}: {message[:500]}", flush=True)
    return {
        "seconds": round(seconds, 1),
        "state": kind,
        "message": message[:300],
        "batch_runs": len(batches),
        "batch_wait_s": round(statistics.mean(waits), 1) if waits else None,
        "batch_run_s": round(statistics.mean(runs), 1) if runs else None,
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[10])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--worker-limit", type=int, default=WORKER_LIMIT, help="prefect worker start --limit")
    parser.add_argument("--concurrency", type=int, default=None, help="ECSYNC_SWEEP_CONCURRENCY (default: the setting's)")
    parser.add_argument("--no-in-process", action="store_true", help="leave out the in-process sweep")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--setup-only", nargs=4, metavar=("ONPREM", "CLOUD", "SETS", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.setup_only:
        onprem_url, cloud_url, sets, folder = args.setup_only
        asyncio.run(_set_up(onprem_url, cloud_url, int(sets), folder))
        return

    info = machine()
    print(f"machine: {json.dumps(info)}", flush=True)
    rows: list[dict[str, Any]] = []
    folder = f"sweep-{uuid.uuid4().hex[:6]}"
    with scratch("sweep", args.keep) as work, pg_databases() as dbs:
        cluster = Cluster(work, dbs)
        try:
            cluster.start()
            setup = time.perf_counter()
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench",
                    "sweep",
                    "--setup-only",
                    cluster.onprem.url,
                    cluster.cloud.url,
                    str(args.sets),
                    folder,
                ],
                env=cluster.env(),
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"set-up failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
            print(f"set up {args.sets} sync sets in {time.perf_counter() - setup:.0f} s", flush=True)
            prefect("work-pool", "create", WORK_POOL, "--type", "process", env=cluster.env())
            prefect("--no-prompt", "deploy", "--all", env=cluster.env())
            sweep_id = httpx.get(f"{cluster.api_url}/deployments/name/reconcile/scheduled-sweep-pool", timeout=30).json()["id"]
            httpx.patch(f"{cluster.api_url}/deployments/{sweep_id}", json={"paused": True}, timeout=30).raise_for_status()

            plans: list[tuple[str, int, int]] = [] if args.no_in_process else [("in one run", 0, 1)]
            plans += [("fanned out", size, workers) for size in args.batch_sizes for workers in args.workers]
            for generation, (mode, size, workers) in enumerate(plans, start=1):
                edit_all(cluster.onprem.url, folder, generation)
                for child in (cluster.onprem, cluster.cloud):
                    set_latency(child.url, args.latency_ms)
                extra = {"ECSYNC_SWEEP_BATCH_SIZE": str(size)}
                if args.concurrency:
                    extra["ECSYNC_SWEEP_CONCURRENCY"] = str(args.concurrency)
                cluster.start_workers(workers, args.worker_limit, **extra)
                try:
                    figures = sweep_once(cluster, args.sets)
                finally:
                    cluster.stop_workers()
                    for child in (cluster.onprem, cluster.cloud):
                        set_latency(child.url, 0)
                row = {"mode": mode, "batch": size or "-", "workers": workers, "sets": args.sets, **figures, "load": load_now()}
                row["sets_per_s"] = round(args.sets / figures["seconds"], 2)
                row["per_run"] = round(args.sets / figures["batch_runs"], 1) if figures["batch_runs"] else args.sets
                rows.append(row)
                print(f"  {mode}, batch {size}, {workers} worker(s): {figures['seconds']} s ({figures['state']})", flush=True)
        finally:
            cluster.stop()
    baseline = next((r["seconds"] for r in rows if r["mode"] == "in one run"), None)
    for row in rows:
        row["vs_in_one_run"] = round(row["seconds"] / baseline, 2) if baseline else None
        one = next(
            (r["seconds"] for r in rows if r["mode"] == row["mode"] and r["batch"] == row["batch"] and r["workers"] == 1), None
        )
        row["vs_1_worker"] = round(row["seconds"] / one, 2) if one and row["workers"] != 1 else None
    columns = [
        ("mode", "sweep", ""),
        ("batch", "ECSYNC_SWEEP_BATCH_SIZE", ""),
        ("workers", "workers", ""),
        ("seconds", "seconds", ".1f"),
        ("sets_per_s", "sets/s", ".2f"),
        ("vs_in_one_run", "/ in one run", ".2f"),
        ("vs_1_worker", "/ 1 worker", ".2f"),
        ("batch_runs", "batch runs", ""),
        ("per_run", "sets per run", ""),
        ("batch_wait_s", "run: created→running s (queue + start-up)", ".1f"),
        ("batch_run_s", "run: running s", ".1f"),
        ("state", "state", ""),
        ("load", "load", ".2f"),
    ]
    title = f"sweep of {args.sets} one-file sync sets, {args.latency_ms} ms latency, PostgreSQL for both databases"
    title += f", worker --limit {args.worker_limit}, ECSYNC_SWEEP_CONCURRENCY {args.concurrency or 'default'}"
    print_table(title, rows, columns)
    write_results("sweep", {"machine": info, "args": vars(args), "rows": rows})

"""Flow processes SIGKILLed at random points of an initial sync and of a reconcile; the next run converges.

Each trial runs the flow in a child process (`tests.reliability.runner`) and kills it once the emulators
have answered a seeded random number of requests. The run after it must finish the work: the trees equal
the model, no duplicate, no loss, no stale lock, no stuck intent, and no lease left behind.

A killed process cannot mark its own flow run: a worker or `serve` runner marks its dead child Crashed, and
the tests do the same, so the next run takes the lease over at once. A bare process killed with nobody to
mark it is found gone by the next run on the same machine, which takes the lease over at once and marks the
dead run Crashed; a holder on another machine is taken over when its lease lapses after `lease_seconds`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from prefect.client.orchestration import get_client
from prefect.states import Crashed
from sqlalchemy import update
from sqlmodel import col

from flows import settings as settings_module
from flows.lease import lease_owner_id, leased, run_leased, run_of
from flows.reconcile import reconcile
from flows.sweep import SWEEP_LEASE
from flows.sync_to_cloud import sync_to_cloud
from models import store
from models.db import session_scope
from models.tables import SyncSet
from tests.flows.conftest import make_pair
from tests.reliability.support import Tree, assert_clean_state, assert_converged, cloud_root, reconcile_until_quiet

REPO = Path(__file__).resolve().parents[2]
SYNC_TRIALS = 4
RECONCILE_TRIALS = 5


def small_layout(rng: random.Random, files: int) -> Tree:
    tree: Tree = {"a": None, "a/b": None, "c": None}
    folders = ["", "a/", "a/b/", "c/"]
    for i in range(files):
        tree[f"{rng.choice(folders)}k{i}.txt"] = f"kill trial file {i} {rng.random()}\n".encode()
    return dict(sorted(tree.items(), key=lambda item: item[0].count("/")))


async def requests_so_far(emulators) -> int:
    async with httpx.AsyncClient(timeout=5) as client:
        totals = [(await client.get(f"{e.url}/_emulator/stats")).json()["total"] for e in emulators.values()]
    return sum(totals)


async def run_and_kill(args: list[str], emulators, kill_after: int, log: Path, env: dict[str, str] | None = None) -> bool:
    """Run the flow in a child process; SIGKILL it once the emulators served `kill_after` more requests.

    Returns True when it was killed, False when it finished first.
    """
    start = await requests_so_far(emulators)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.runner", *args],
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        for _ in range(12_000):  # at most ~120 s
            if process.poll() is not None:
                return False
            if await requests_so_far(emulators) - start >= kill_after:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
                return True
            await asyncio.sleep(0.01)
        raise AssertionError(f"flow process still running after 120 s:\n{log.read_text(errors='replace')[-3000:]}")
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


async def mark_crashed(database_url: str, slug: str) -> str | None:
    """What a worker does when its flow process dies: mark the run Crashed. Returns the killed run's id."""
    sync_set = store.get_sync_set(database_url, slug)
    holder = sync_set.lease_owner if sync_set else None
    if holder is None:
        return None
    async with get_client() as client:
        await client.set_flow_run_state(uuid.UUID(run_of(holder)), Crashed(message="flow process killed (SIGKILL)"), force=True)
    return holder


async def assert_locks(onprem_api, database_url: str, slug: str, root_id: str, lock_on_premise: bool) -> None:
    """Every on-prem lock belongs to a synced member the sync locked; with locking on, every file is locked."""
    sync_set = store.get_sync_set(database_url, slug)
    members = {m.onprem_id: m for m in store.members_of(database_url, sync_set.id)}
    for path, node in (await onprem_api.tree(root_id)).items():
        member = members.get(node["id"])
        if node.get("isLocked"):
            assert member is not None and member.locked_by_sync, f"stale lock on {path}"
        elif lock_on_premise and not node["isFolder"]:
            raise AssertionError(f"{path} is not locked although lock_on_premise is on")


async def test_killed_initial_syncs_are_finished_by_the_next_run(
    connections, database_url, onprem_api, cloud_api, emulators, tmp_path
):
    rng = random.Random(2024)
    killed = 0
    for trial in range(SYNC_TRIALS):
        model = small_layout(rng, 24)
        pair = await make_pair(onprem_api, cloud_api, model)
        lock = trial % 2 == 1
        options = {"lock_on_premise": lock}
        args = ["sync", pair.name, pair.site_path, json.dumps(pair.destination), json.dumps(options)]
        kill_after = rng.randint(3, 70)
        killed += await run_and_kill(args, emulators, kill_after, tmp_path / f"sync-{trial}.log")
        await mark_crashed(database_url, pair.name)
        if store.get_sync_set(database_url, pair.name) is None:  # killed before the sync set existed: set up again
            state = await sync_to_cloud(
                items=[pair.site_path], destination=pair.destination, slug=pair.name, options=options, return_state=True
            )
            assert state.is_completed(), state.message
        await reconcile_until_quiet(pair.name)
        root = await cloud_root(cloud_api, pair.cloud_target["id"], pair.name)
        await assert_converged(onprem_api, cloud_api, pair.onprem_folder["id"], root["id"], model)
        assert_clean_state(database_url, pair.name, locks=lock)
        await assert_locks(onprem_api, database_url, pair.name, pair.onprem_folder["id"], lock)
    assert killed >= SYNC_TRIALS - 1, f"only {killed} of {SYNC_TRIALS} runs were killed before they finished"


async def edit_both(
    onprem_api, cloud_api, onprem_root: str, cloud_root_id: str, model: Tree, rng: random.Random, tag: str
) -> None:
    """A few edits on each side, on different files, that the interrupted reconcile has to carry."""
    onprem = await onprem_api.tree(onprem_root)
    cloud = await cloud_api.tree(cloud_root_id)
    files = sorted(p for p in model if model[p] is not None)
    rng.shuffle(files)
    data = f"on-prem {tag}\n".encode()
    await onprem_api.put_content(onprem[files[0]]["id"], data)
    model[files[0]] = data
    data = f"cloud {tag}\n".encode()
    await cloud_api.put_content(cloud[files[1]]["id"], data)
    model[files[1]] = data
    parent, _, _ = files[2].rpartition("/")
    renamed = f"{parent}/ren-{tag}.txt" if parent else f"ren-{tag}.txt"
    await cloud_api.update(cloud[files[2]]["id"], {"name": renamed.rpartition("/")[2]})
    model[renamed] = model.pop(files[2])
    await onprem_api.delete(onprem[files[3]]["id"])
    del model[files[3]]
    await cloud_api.delete(cloud[files[4]]["id"])
    del model[files[4]]
    for k in range(3):
        data = f"new on-prem {tag} {k}\n".encode()
        await onprem_api.upload(onprem["a"]["id"], f"new-{tag}-{k}.txt", data)
        model[f"a/new-{tag}-{k}.txt"] = data
    folder = await cloud_api.create_folder(cloud["c"]["id"], f"cf-{tag}")
    model[f"c/cf-{tag}"] = None
    data = f"new cloud {tag}\n".encode()
    await cloud_api.upload(folder["id"], "inside.txt", data)
    model[f"c/cf-{tag}/inside.txt"] = data


async def test_killed_reconciles_lose_nothing(connections, database_url, onprem_api, cloud_api, emulators, tmp_path):
    rng = random.Random(4048)
    model = small_layout(rng, 30)
    pair = await make_pair(onprem_api, cloud_api, model)
    options = {"delete_on_premise": True}
    state = await sync_to_cloud(
        items=[pair.site_path], destination=pair.destination, slug=pair.name, options=options, return_state=True
    )
    assert state.is_completed(), state.message
    root = await cloud_root(cloud_api, pair.cloud_target["id"], pair.name)
    killed = 0
    for trial in range(RECONCILE_TRIALS):
        await edit_both(onprem_api, cloud_api, pair.onprem_folder["id"], root["id"], model, rng, f"t{trial}")
        killed += await run_and_kill(["reconcile", pair.name], emulators, rng.randint(2, 45), tmp_path / f"rec-{trial}.log")
        await mark_crashed(database_url, pair.name)
        await reconcile_until_quiet(pair.name)
        await assert_converged(onprem_api, cloud_api, pair.onprem_folder["id"], root["id"], model)
        assert_clean_state(database_url, pair.name)
    assert killed >= RECONCILE_TRIALS - 1, f"only {killed} of {RECONCILE_TRIALS} runs were killed before they finished"


async def kill_holding_the_lease(pair, emulators, database_url: str, log: Path, env: dict[str, str]) -> str:
    """Run a reconcile in a child process and SIGKILL it while it holds the lease; returns the lease holder."""
    for _ in range(5):  # kill it once it holds the lease (its first requests come after the lease is taken)
        killed = await run_and_kill(["reconcile", pair.name], emulators, 1, log, env=env)
        if killed and store.get_sync_set(database_url, pair.name).lease_owner is not None:
            break  # on a loaded machine the kill can land after the run released its lease: try again then
    holder = store.get_sync_set(database_url, pair.name).lease_owner
    assert holder is not None, "the killed run held the lease"
    async with get_client() as client:
        assert (await client.read_flow_run(uuid.UUID(run_of(holder)))).state.is_running(), "nobody marked the killed run"
    return holder


async def test_a_killed_run_is_marked_crashed_and_its_sync_set_taken_over_at_once(
    connections, database_url, onprem_api, cloud_api, emulators, tmp_path
):
    """Killed with nobody to mark it Crashed (issue 17 item 1), holding a lease good for ten minutes: the next run
    (which does not wait for a lease) finds the holder's process gone, takes the sync set over at once, marks the
    dead run Crashed saying why, and finishes its work."""
    model = {"x.txt": b"x", "y.txt": b"y"}
    pair = await make_pair(onprem_api, cloud_api, model)
    state = await pair.push()
    assert state.is_completed(), state.message
    await onprem_api.put_content(pair.files["x.txt"]["id"], b"changed before the killed run")
    model["x.txt"] = b"changed before the killed run"
    dead = await kill_holding_the_lease(pair, emulators, database_url, tmp_path / "gone.log", {"ECSYNC_LEASE_SECONDS": "600"})
    assert " pid:" in dead, "the lease names the holder's process"

    taker = await reconcile(slug=pair.name, return_state=True)  # ECSYNC_LEASE_WAIT_SECONDS is 0: no waiting
    assert taker.is_completed(), taker.message
    async with get_client() as client:
        marked = (await client.read_flow_run(uuid.UUID(run_of(dead)))).state
    assert marked.is_crashed(), marked
    assert "is gone" in marked.message and pair.name in marked.message, marked.message
    assert str(taker.state_details.flow_run_id) in marked.message, "the message names the run that took over"
    root = await cloud_root(cloud_api, pair.cloud_target["id"], pair.name)
    await assert_converged(onprem_api, cloud_api, pair.onprem_folder["id"], root["id"], model)
    assert_clean_state(database_url, pair.name)


async def test_a_dead_holder_on_another_machine_is_marked_crashed_when_its_lease_lapses(
    connections, database_url, onprem_api, cloud_api, emulators, tmp_path, monkeypatch
):
    """A holder this machine cannot see (its lease names another host): its lease is respected until it lapses
    (lease_seconds); the run that then takes the sync set over marks it Crashed, saying when it stopped renewing."""
    model = {"x.txt": b"x", "y.txt": b"y"}
    pair = await make_pair(onprem_api, cloud_api, model)
    state = await pair.push()
    assert state.is_completed(), state.message
    await onprem_api.put_content(pair.files["x.txt"]["id"], b"changed before the killed run")
    model["x.txt"] = b"changed before the killed run"
    dead = await kill_holding_the_lease(pair, emulators, database_url, tmp_path / "lapse.log", {"ECSYNC_LEASE_SECONDS": "10"})
    elsewhere = f"{run_of(dead)} pid:another-machine/{uuid.uuid4()}/4242/1"
    with session_scope(database_url) as session:  # as if the killed run had run on another machine
        session.execute(update(SyncSet).where(col(SyncSet.lease_owner) == dead).values(lease_owner=elsewhere))
    refused = await reconcile_until_quiet_or_refused(pair.name)
    assert "is being changed by run" in refused, "a live-looking lease is respected"
    monkeypatch.setenv("ECSYNC_LEASE_WAIT_SECONDS", "30")
    settings_module.get_settings.cache_clear()
    taker = await reconcile(slug=pair.name, return_state=True)
    assert taker.is_completed(), taker.message
    async with get_client() as client:
        marked = (await client.read_flow_run(uuid.UUID(run_of(dead)))).state
    assert marked.is_crashed(), marked
    assert "stopped renewing the lease" in marked.message and pair.name in marked.message, marked.message
    assert str(taker.state_details.flow_run_id) in marked.message, "the message names the run that took over"
    root = await cloud_root(cloud_api, pair.cloud_target["id"], pair.name)
    await assert_converged(onprem_api, cloud_api, pair.onprem_folder["id"], root["id"], model)
    assert_clean_state(database_url, pair.name)


async def reconcile_until_quiet_or_refused(slug: str) -> str:
    from flows.reconcile import reconcile

    state = await reconcile(slug=slug, return_state=True)
    return state.message or ""


async def test_the_heartbeat_keeps_a_long_runs_lease(connections, database_url, onprem_api, cloud_api):
    """A run longer than lease_seconds keeps its sync set: the heartbeat pushes the expiry forward."""
    pair = await make_pair(onprem_api, cloud_api, {"h.txt": b"h"})
    state = await pair.push()
    assert state.is_completed(), state.message
    sync_set = store.get_sync_set(database_url, pair.name)
    # A 6 s lease (below the 10 s a user may set, hence model_construct): the heartbeat beats every 2 s.
    settings = settings_module.Settings.model_construct(lease_seconds=6, lease_wait_seconds=0)
    async with leased(database_url, sync_set, "long-run", settings):
        _, first = store.lease_holder(database_url, sync_set.id)
        holder, later = lease_owner_id("long-run"), first
        for _ in range(100):  # wait for a beat (event-driven, not timed: it may come late on a loaded machine)
            await asyncio.sleep(0.2)
            holder, later = store.lease_holder(database_url, sync_set.id)
            if later > first:
                break
        assert run_of(holder) == "long-run" and later > first, "the heartbeat pushed the expiry forward"
        assert not store.acquire_lease(database_url, sync_set.id, "intruder", 6), "a renewed lease keeps others out"
    assert store.lease_holder(database_url, sync_set.id) == (None, None)


SWEEP_CHILD = """
import asyncio, sys
from flows import settings as settings_module
from flows.lease import run_leased

async def main() -> None:
    settings = settings_module.Settings.model_construct(lease_seconds=600, lease_wait_seconds=0)
    async with run_leased(sys.argv[1], sys.argv[2], "killed-sweep", settings) as busy:
        print("held" if busy is None else f"busy: {busy}", flush=True)
        await asyncio.sleep(600)

asyncio.run(main())
"""


async def test_a_killed_sweeps_lease_is_taken_over_at_once(database_url):
    """A sweep killed on this machine leaves the sweep lease with 600 s to run; the next sweep finds the holder's
    process gone and takes the lease at once, so the schedule does not wait for it to lapse (issue 17 items 1, 2)."""
    settings = settings_module.Settings.model_construct(lease_seconds=600, lease_wait_seconds=0)
    child = subprocess.Popen(
        [sys.executable, "-c", SWEEP_CHILD, database_url, SWEEP_LEASE],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert (await asyncio.to_thread(child.stdout.readline)).strip() == "held"
        async with run_leased(database_url, SWEEP_LEASE, "second-sweep", settings) as busy:
            assert busy is not None and "run killed-sweep holds the sweep lease" in busy, "a live sweep keeps others out"
    finally:
        child.kill()
        child.wait(timeout=10)
    holder, until = store.run_lease_holder(database_url, SWEEP_LEASE)
    assert holder is not None and run_of(holder) == "killed-sweep" and until is not None, "the killed sweep's lease stays"
    async with run_leased(database_url, SWEEP_LEASE, "next-sweep", settings) as busy:
        assert busy is None, busy
        holder, _ = store.run_lease_holder(database_url, SWEEP_LEASE)
        assert holder is not None and run_of(holder) == "next-sweep"
    assert store.run_lease_holder(database_url, SWEEP_LEASE) == (None, None)

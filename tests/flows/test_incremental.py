"""Reconcile in O(changes): between full scans a run finds what changed through the repositories' search and
their folders' modification times (`flows.changes`), over real HTTP against the emulators.

- random edits on both sides (content, renames, moves within, in and out, folder deletes, new subtrees), with the
  search index lagging and not: every change arrives once the lag has passed, and a full scan afterwards finds
  nothing the incremental runs had missed and nothing left to do;
- a run with nothing changed makes a handful of requests, whatever the size of the tree;
- a search outage falls back to a full scan (with a warning) and converges.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Iterator

import pytest

from flows import settings as settings_module
from flows.reconcile import reconcile
from flows.sync_to_cloud import sync_to_cloud
from models import store
from tests.flows.conftest import Api, make_pair
from tests.reliability.support import Tree, assert_converged, cloud_root, reconcile_until_quiet, snapshot

LAYOUT: Tree = {
    "a.txt": b"a",
    "b.txt": b"b",
    "docs": None,
    "docs/c.txt": b"c",
    "docs/deep": None,
    "docs/deep/d.txt": b"d",
    "media": None,
    "media/e.bin": b"e" * 300,
}


@pytest.fixture()
def incremental(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[None]:
    monkeypatch.setenv("ECSYNC_FULL_SCAN_EVERY", "1000")
    monkeypatch.setenv("ECSYNC_SEARCH_LAG_SECONDS", "5")
    settings_module.get_settings.cache_clear()
    yield
    settings_module.get_settings.cache_clear()


def full_scan_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECSYNC_FULL_SCAN_EVERY", "1")
    settings_module.get_settings.cache_clear()


async def search_lag(api: Api, seconds: float) -> None:
    root = api.base.split("/alfresco/api/")[0]
    answer = await api.client.put(f"{root}/_emulator/search", json={"lagSeconds": seconds})
    answer.raise_for_status()


async def requests_made(api: Api) -> int:
    root = api.base.split("/alfresco/api/")[0]
    answer = await api.client.get(f"{root}/_emulator/stats")
    return int(answer.json()["total"])


def scan_of(database_url: str, slug: str) -> str:
    sync_set = store.get_sync_set(database_url, slug)
    assert sync_set is not None and sync_set.id is not None
    return store.scan_state(database_url, sync_set.id).last_kind or ""


class Editor:
    """Random edits on one side of the synced tree, kept in a model of what both sides must hold afterwards."""

    def __init__(self, rng: random.Random, api: Api, root_id: str, outside_id: str, model: Tree) -> None:
        self.rng = rng
        self.api = api
        self.root_id = root_id
        self.outside_id = outside_id
        self.model = model
        self.counter = 0

    def _fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}-{self.counter}-{self.rng.randrange(10**6)}"

    async def edit(self, untouchable: set[str]) -> set[str]:
        """One random edit, avoiding paths the other side touches this round; the paths it touched."""
        nodes = await self.api.tree(self.root_id)
        free = {
            p: n
            for p, n in nodes.items()
            if not any(p == u or p.startswith(u + "/") or u.startswith(p + "/") for u in untouchable)
        }
        folders = [""] + [p for p, n in free.items() if n["isFolder"]]
        files = [p for p, n in free.items() if not n["isFolder"]]
        op = self.rng.choice(["content", "content", "rename", "move", "delete", "subtree", "move-out", "move-in"])
        if op == "content" and files:
            path = self.rng.choice(files)
            data = self._fresh("edited").encode()
            await self.api.put_content(free[path]["id"], data)
            self.model[path] = data
            return {path}
        if op in ("rename", "move", "delete", "move-out") and free:
            path = self.rng.choice(sorted(free))
            node = free[path]
            moved = {p: v for p, v in self.model.items() if p == path or p.startswith(path + "/")}
            if op in ("delete", "move-out"):
                if op == "delete":
                    await self.api.delete(node["id"])
                else:
                    await self.api.move(node["id"], self.outside_id)
                for p in moved:
                    del self.model[p]
                return {path}
            parent = path.rpartition("/")[0]
            if op == "rename":
                target_parent, name = parent, self._fresh(path.rpartition("/")[2].split(".")[0]) + ".x"
                await self.api.update(node["id"], {"name": name})
            else:
                candidates = [f for f in folders if f != parent and f != path and not f.startswith(path + "/")]
                if not candidates:
                    return set()
                target_parent, name = self.rng.choice(candidates), path.rpartition("/")[2]
                if any(p.rpartition("/")[0] == target_parent and p.rpartition("/")[2].lower() == name.lower() for p in nodes):
                    return set()
                destination = self.root_id if not target_parent else nodes[target_parent]["id"]
                await self.api.move(node["id"], destination)
            new_path = f"{target_parent}/{name}" if target_parent else name
            for p, value in moved.items():
                del self.model[p]
                self.model[new_path + p[len(path) :]] = value
            return {path, new_path, target_parent} - {""}
        if op == "subtree":
            parent = self.rng.choice(folders)
            parent_id = self.root_id if not parent else free[parent]["id"]
            name = self._fresh("new")
            folder = await self.api.create_folder(parent_id, name)
            inner = await self.api.create_folder(folder["id"], "inner")
            base = f"{parent}/{name}" if parent else name
            for where, leaf, data in ((folder["id"], "one.txt", b"1"), (inner["id"], "two.txt", b"2")):
                await self.api.upload(where, leaf, data)
            self.model.update({base: None, f"{base}/inner": None, f"{base}/one.txt": b"1", f"{base}/inner/two.txt": b"2"})
            return {base}
        if op == "move-in":
            name = self._fresh("arrived") + ".txt"
            made = await self.api.upload(self.outside_id, name, b"from outside")
            parent = self.rng.choice(folders)
            await self.api.move(made["id"], self.root_id if not parent else free[parent]["id"])
            path = f"{parent}/{name}" if parent else name
            self.model[path] = b"from outside"
            return {path}
        return set()


@pytest.mark.parametrize("lag", [0.0, 1.5], ids=["search-in-step", "search-lagging"])
async def test_random_edits_on_both_sides_arrive_incrementally_and_a_full_scan_finds_nothing_missed(
    lag, incremental, monkeypatch, connections, database_url, onprem_api, cloud_api
):
    pair = await make_pair(onprem_api, cloud_api, LAYOUT)
    # A cloud delete also deletes on-prem (SPEC delete_on_premise), so deletes made on either side end alike.
    options = {"delete_on_premise": True}
    state = await sync_to_cloud(
        items=[pair.site_path], destination=pair.destination, slug=pair.name, options=options, return_state=True
    )
    assert state.is_completed(), state.message
    assert scan_of(database_url, pair.name).startswith("full: the first scan")
    cloud = await cloud_root(cloud_api, pair.cloud_target["id"], pair.name)
    outside = {
        "onprem": await onprem_api.create_folder((await onprem_api.library("engineering"))["id"], f"{pair.name}-outside"),
        "cloud": await cloud_api.create_folder(pair.cloud_target["id"], f"{pair.name}-outside"),
    }
    model = dict(LAYOUT)
    rng = random.Random(int(os.environ.get("ECSYNC_TEST_SEED", "7")) + int(lag * 10))
    editors = {
        "onprem": Editor(rng, onprem_api, pair.onprem_folder["id"], outside["onprem"]["id"], model),
        "cloud": Editor(rng, cloud_api, cloud["id"], outside["cloud"]["id"], model),
    }
    for api in (onprem_api, cloud_api):
        await search_lag(api, lag)
    try:
        for _round in range(4):
            touched: set[str] = set()
            for _ in range(3):
                side = rng.choice(["onprem", "cloud"])
                touched |= await editors[side].edit(touched)
            first = await reconcile(slug=pair.name, return_state=True)
            assert first.is_completed(), first.message
            assert scan_of(database_url, pair.name).startswith("incremental"), scan_of(database_url, pair.name)
            await asyncio.sleep(lag + 0.5)  # past the lag window, every change is in the index
            await reconcile_until_quiet(pair.name)
            assert scan_of(database_url, pair.name).startswith("incremental")
            await assert_converged(onprem_api, cloud_api, pair.onprem_folder["id"], cloud["id"], model)
    finally:
        for api in (onprem_api, cloud_api):
            await search_lag(api, 0)
    full_scan_next(monkeypatch)
    audit = await reconcile(slug=pair.name, return_state=True)
    assert audit.is_completed() and " 0 actions done" in audit.message, audit.message
    sync_set = store.get_sync_set(database_url, pair.name)
    scan = store.scan_state(database_url, sync_set.id)
    assert scan.last_kind.startswith("full: every 1th run"), scan.last_kind
    assert scan.last_missed == 0, "the full scan found changes the incremental runs had missed (see the run's WARNING lines)"
    await assert_converged(onprem_api, cloud_api, pair.onprem_folder["id"], cloud["id"], model)


async def test_a_run_with_nothing_changed_makes_a_handful_of_requests_whatever_the_tree(
    incremental, monkeypatch, connections, database_url, onprem_api, cloud_api
):
    monkeypatch.setenv("ECSYNC_SEARCH_LAG_SECONDS", "0")  # the emulator's index is not lagging here
    settings_module.get_settings.cache_clear()
    layout: Tree = {f"f{i}": None for i in range(6)}
    layout.update({f"f{i}/x{j}.txt": f"{i}.{j}".encode() for i in range(6) for j in range(8)})
    pair = await make_pair(onprem_api, cloud_api, layout)
    assert (await pair.push()).is_completed()
    await reconcile_until_quiet(pair.name)  # the folders the push wrote into are read once more, then quiet
    # The search looks from the last run's server second on, inclusive: on a quick machine the runs above can share
    # the push's last second and find its nodes again. A run a second later moves the watermark past them.
    await asyncio.sleep(1.1)
    await reconcile(slug=pair.name, return_state=True)
    await asyncio.sleep(1.1)  # the servers' Date header counts whole seconds: step past the last run's second
    before = {side: await requests_made(api) for side, api in (("onprem", onprem_api), ("cloud", cloud_api))}
    state = await reconcile(slug=pair.name, return_state=True)
    after = {side: await requests_made(api) for side, api in (("onprem", onprem_api), ("cloud", cloud_api))}
    assert state.is_completed() and " 0 actions done" in state.message, state.message
    assert scan_of(database_url, pair.name).startswith("incremental: search found 0 changed nodes"), scan_of(
        database_url, pair.name
    )
    made = {side: after[side] - before[side] for side in before}
    # On-prem: a ticket, whoami, the root by id, one search; in the cloud: a ticket, the root's copy, one search.
    assert made["onprem"] <= 4 and made["cloud"] <= 3, made


async def test_a_search_outage_falls_back_to_a_full_scan_and_converges(
    incremental, connections, database_url, onprem_api, cloud_api
):
    pair = await make_pair(onprem_api, cloud_api, {"keep.txt": b"k", "sub": None, "sub/x.txt": b"x"})
    assert (await pair.push()).is_completed()
    await onprem_api.put_content(pair.files["sub/x.txt"]["id"], b"edited while search is down")
    await cloud_api.faults({"rules": [{"method": "POST", "path": "/search$", "rate": 1.0, "status": 503}]})
    try:
        state = await reconcile(slug=pair.name, return_state=True)
    finally:
        await cloud_api.faults(None)
    assert state.is_completed(), state.message
    assert scan_of(database_url, pair.name).startswith("full: search failed"), scan_of(database_url, pair.name)
    cloud = await cloud_root(cloud_api, pair.cloud_target["id"], pair.name)
    assert (await snapshot(cloud_api, cloud["id"]))["sub/x.txt"] == b"edited while search is down"
    again = await reconcile(slug=pair.name, return_state=True)
    assert again.is_completed() and scan_of(database_url, pair.name).startswith("incremental")

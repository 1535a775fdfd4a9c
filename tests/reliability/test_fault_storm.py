"""A fault storm on both emulators: an initial sync, then rounds of random edits on both sides, converging.

10% of API requests answered 500/503/429, 5% of responses cut mid-body, latency with jitter, on both
repositories, during every run. Edits are made between runs with faults off (they stand for people working
in Share), each round on disjoint folders of each side so that the expected end state is exact: the test
keeps a model of every edit, and both trees must equal it byte for byte. An extra path is a duplicate, a
missing or different one is a loss.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import httpx
import pytest

from flows.sync_to_cloud import sync_to_cloud
from tests.flows.conftest import Api, make_pair
from tests.reliability.support import Tree, assert_clean_state, assert_converged, cloud_root, reconcile_until_quiet, retry_states

OPTIONS = {"delete_on_premise": True}
"""Deletes travel both ways (SPEC's default keeps the on-prem original of a cloud delete and marks the member)."""


def storm(seed: int) -> dict:
    """The fault mix of the issue: 10% error statuses (500, 503, 429), 5% dropped connections, jitter."""
    return {
        "seed": seed,
        "latency_ms": 3,
        "jitter_ms": 3,
        "rules": [
            {"method": "*", "path": "^/alfresco/", "kind": "status", "status": 500, "rate": 0.034},
            {"method": "*", "path": "^/alfresco/", "kind": "status", "status": 503, "rate": 0.033},
            {"method": "*", "path": "^/alfresco/", "kind": "status", "status": 429, "rate": 0.033, "retry_after": 0},
            {"method": "*", "path": "^/alfresco/", "kind": "drop", "rate": 0.05},
        ],
    }


def layout(rng: random.Random, tops: int, subs: int, per_folder: int) -> dict[str, bytes | None]:
    """A tree of small files: `tops` folders of `subs` subfolders, `per_folder` files in each folder and the root."""
    counter = iter(range(1_000_000))
    tree: dict[str, bytes | None] = {}

    def files(prefix: str) -> None:
        for _ in range(per_folder):
            n = next(counter)
            tree[f"{prefix}f{n}.txt"] = f"file {n} {rng.random()}\n".encode() * rng.randint(1, 8)

    files("")
    for t in range(tops):
        tree[f"d{t}"] = None
        files(f"d{t}/")
        for s in range(subs):
            tree[f"d{t}/s{s}"] = None
            files(f"d{t}/s{s}/")
    return tree


@dataclass
class Faults:
    """Fault configuration on both emulators, and the count of what they injected."""

    apis: list[Api]
    injected: int = 0
    requests: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    async def on(self, seed: int) -> None:
        for i, api in enumerate(self.apis):
            await api.faults(storm(seed * 10 + i))

    async def off(self) -> None:
        for api in self.apis:
            root = api.base.split("/alfresco/api/")[0]
            config = (await api.client.get(f"{root}/_emulator/faults")).json()
            self.injected += config["injected"]
            self.requests += config["requests"]
            for rule in config["rules"]:
                kind = str(rule["status"]) if rule["kind"] == "status" else rule["kind"]
                self.by_kind[kind] = self.by_kind.get(kind, 0) + rule["fired"]
            await api.faults(None)


def rename_prefix(model: Tree, old: str, new: str) -> None:
    for path in sorted(model):
        if path == old or path.startswith(old + "/"):
            model[new + path[len(old) :]] = model.pop(path)


async def edit_side(api: Api, root_id: str, model: Tree, tops: list[str], rng: random.Random, tag: str) -> int:
    """Random edits of one side inside its own top-level folders; the model follows each one. Returns the count."""
    nodes = await api.tree(root_id)
    a, b, c = tops
    pool = [p for p in model if model[p] is not None and (p.startswith(a + "/") or p.rpartition("/")[0] == b)]
    rng.shuffle(pool)
    edits = 0
    for path in pool[:4]:  # content
        data = f"edited {tag} {rng.random()}\n".encode() * rng.randint(1, 6)
        await api.put_content(nodes[path]["id"], data)
        model[path] = data
        edits += 1
    path = pool[4]  # move into b
    await api.move(nodes[path]["id"], nodes[b]["id"])
    model[f"{b}/{path.rpartition('/')[2]}"] = model.pop(path)
    path = pool[5]  # rename
    new_name = f"ren-{tag}.txt"
    await api.update(nodes[path]["id"], {"name": new_name})
    parent = path.rpartition("/")[0]
    model[f"{parent}/{new_name}" if parent else new_name] = model.pop(path)
    for path in pool[6:8]:  # deletes
        await api.delete(nodes[path]["id"])
        del model[path]
    edits += 4
    doomed = next((p for p in sorted(model) if p.startswith(c + "/") and model[p] is None), None)
    if doomed is not None:  # a subfolder with its content
        await api.delete(nodes[doomed]["id"])
        for p in [p for p in model if p == doomed or p.startswith(doomed + "/")]:
            del model[p]
        edits += 1
    folder = await api.create_folder(nodes[a]["id"], f"new-{tag}")
    model[f"{a}/new-{tag}"] = None
    for k in range(2):
        data = f"new {tag} {k}\n".encode()
        await api.upload(folder["id"], f"n{k}.txt", data)
        model[f"{a}/new-{tag}/n{k}.txt"] = data
    data = f"new top {tag}\n".encode()
    await api.upload(nodes[c]["id"], f"top-{tag}.txt", data)
    model[f"{c}/top-{tag}.txt"] = data
    new_b = f"{b}-{tag}"  # folder rename, last: the moves above went into it by id
    await api.update(nodes[b]["id"], {"name": new_b})
    rename_prefix(model, b, new_b)
    return edits + 3


async def run_storm(
    onprem_api: Api, cloud_api: Api, database_url: str, *, seed: int, tops: int, subs: int, per_folder: int
) -> dict:
    rng = random.Random(seed)
    model: Tree = layout(rng, tops, subs, per_folder)
    pair = await make_pair(onprem_api, cloud_api, model)
    faults = Faults([onprem_api, cloud_api])
    await faults.on(seed)
    try:
        state = await sync_to_cloud(
            items=[pair.site_path], destination=pair.destination, slug=pair.name, options=OPTIONS, return_state=True
        )
    finally:
        await faults.off()
    assert state.type.value in ("COMPLETED", "FAILED"), state.message
    assert "Could not create sync" not in (state.message or ""), state.message
    runs = 1
    await faults.on(seed + 1)
    try:
        runs += len(await reconcile_until_quiet(pair.name, rounds=8))
    finally:
        await faults.off()
    root = await cloud_root(cloud_api, pair.cloud_target["id"], pair.name)
    await assert_converged(onprem_api, cloud_api, pair.onprem_folder["id"], root["id"], model)
    items = len(model)
    edits = 0
    for round_ in range(3):
        folders = sorted(p for p in model if "/" not in p and model[p] is None)
        rng.shuffle(folders)
        edits += await edit_side(onprem_api, pair.onprem_folder["id"], model, folders[:3], rng, f"o{round_}")
        edits += await edit_side(cloud_api, root["id"], model, folders[3:6], rng, f"c{round_}")
        await faults.on(seed + 10 * (round_ + 1))
        try:
            runs += len(await reconcile_until_quiet(pair.name, rounds=8))
        finally:
            await faults.off()
        await assert_converged(onprem_api, cloud_api, pair.onprem_folder["id"], root["id"], model)
    assert_clean_state(database_url, pair.name)
    retried = await retry_states(pair.name, at_least=10)
    assert retried >= 10, f"retries must show in run history; saw {retried} with {faults.injected} faults injected"
    return {
        "items": items,
        "final_items": len(model),
        "edits": edits,
        "runs": runs,
        "faults": faults.injected,
        "requests": faults.requests,
        "by_kind": faults.by_kind,
        "retry_states": retried,
    }


async def test_fault_storm_converges_without_loss_or_duplicates(connections, database_url, onprem_api, cloud_api):
    figures = await run_storm(onprem_api, cloud_api, database_url, seed=1729, tops=6, subs=2, per_folder=7)
    print(f"fault storm: {figures}")
    assert figures["faults"] > 50


@pytest.mark.slow
@pytest.mark.parametrize("seed", [7, 8, 9])
async def test_fault_storm_soak(seed, connections, database_url, onprem_api, cloud_api):
    figures = await run_storm(onprem_api, cloud_api, database_url, seed=seed, tops=8, subs=3, per_folder=15)
    print(f"fault storm soak seed {seed}: {figures}")


def test_storm_rules_are_accepted_by_the_emulator(emulators):
    response = httpx.put(f"{emulators['cloud'].url}/_emulator/faults", json=storm(1), timeout=10)
    try:
        assert response.status_code == 200, response.text
    finally:
        httpx.delete(f"{emulators['cloud'].url}/_emulator/faults", timeout=10)

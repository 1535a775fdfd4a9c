"""Every later change travels both ways (SPEC "How changes travel"), through real runs on a real server."""

from __future__ import annotations

from flows.reconcile import reconcile
from flows.sync_to_cloud import sync_to_cloud
from models import store
from tests.flows.conftest import make_pair

LAYOUT = {
    "a.txt": b"alpha",
    "b.txt": b"bravo",
    "sub": None,
    "sub/c.txt": b"charlie",
}


async def push(pair, **options):
    state = await sync_to_cloud(
        items=[pair.site_path], destination=pair.destination, slug=pair.name, options=options or None, return_state=True
    )
    assert state.is_completed(), state.message
    return state


async def trees_equal(onprem_api, cloud_api, pair) -> dict[str, dict]:
    """Both trees, compared by relative path and content; returns the cloud tree."""
    onprem = await onprem_api.tree(pair.onprem_folder["id"])
    cloud_root = next(n for n in await cloud_api.children(pair.cloud_target["id"]) if n["name"] == pair.name)
    cloud = await cloud_api.tree(cloud_root["id"])
    assert sorted(onprem) == sorted(cloud)
    for path, node in onprem.items():
        if not node["isFolder"]:
            assert await onprem_api.content(node["id"]) == await cloud_api.content(cloud[path]["id"]), path
    return cloud


async def test_changes_on_both_sides_travel(connections, database_url, onprem_api, cloud_api):
    pair = await make_pair(onprem_api, cloud_api, LAYOUT)
    await push(pair)
    cloud = await trees_equal(onprem_api, cloud_api, pair)

    await onprem_api.put_content(pair.files["a.txt"]["id"], b"alpha, edited on-prem")
    await cloud_api.update(cloud["b.txt"]["id"], {"name": "b-renamed.txt"})
    await cloud_api.upload(cloud["sub"]["id"], "from-cloud.txt", b"made in the cloud")
    await onprem_api.delete(pair.files["sub/c.txt"]["id"])
    new_folder = await onprem_api.create_folder(pair.onprem_folder["id"], "new-folder")
    await onprem_api.upload(new_folder["id"], "inside.txt", b"new on-prem")
    await cloud_api.update(cloud["a.txt"]["id"], {"properties": {"cm:title": "Alpha title"}})

    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_completed(), state.message
    cloud = await trees_equal(onprem_api, cloud_api, pair)
    assert "b-renamed.txt" in cloud and "b.txt" not in cloud
    assert "sub/from-cloud.txt" in cloud and "sub/c.txt" not in cloud
    assert "new-folder/inside.txt" in cloud
    assert await cloud_api.content(cloud["a.txt"]["id"]) == b"alpha, edited on-prem"
    renamed = await onprem_api.node(pair.files["b.txt"]["id"])
    assert renamed["name"] == "b-renamed.txt", "a rename travels as a rename of the same node"
    a_onprem = await onprem_api.node(pair.files["a.txt"]["id"])
    assert a_onprem["properties"].get("cm:title") == "Alpha title"

    again = await reconcile(slug=pair.name, return_state=True)
    assert again.is_completed(), again.message
    sync_set = store.get_sync_set(database_url, pair.name)
    members = store.members_of(database_url, sync_set.id)
    assert all(m.status == "synced" and m.intent is None for m in members)
    assert len(members) == len(cloud) + 1


async def test_moves_inside_the_tree_are_moves(connections, database_url, onprem_api, cloud_api):
    pair = await make_pair(onprem_api, cloud_api, LAYOUT)
    await push(pair)
    cloud = await trees_equal(onprem_api, cloud_api, pair)
    await cloud_api.move(cloud["a.txt"]["id"], cloud["sub"]["id"])
    await onprem_api.move(pair.files["sub/c.txt"]["id"], pair.onprem_folder["id"])
    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_completed(), state.message
    cloud_after = await trees_equal(onprem_api, cloud_api, pair)
    assert cloud_after["sub/a.txt"]["id"] == cloud["a.txt"]["id"]
    assert cloud_after["c.txt"]["id"] == cloud["sub/c.txt"]["id"], "moved, not deleted and re-created"
    moved = await onprem_api.node(pair.files["a.txt"]["id"])
    assert moved["parentId"] == pair.files["sub"]["id"]


async def test_subfolders_off_syncs_direct_files_only(connections, database_url, onprem_api, cloud_api):
    pair = await make_pair(onprem_api, cloud_api, LAYOUT)
    await push(pair, include_subfolders=False)
    cloud_root = next(n for n in await cloud_api.children(pair.cloud_target["id"]) if n["name"] == pair.name)
    assert sorted(await cloud_api.tree(cloud_root["id"])) == ["a.txt", "b.txt"]
    await cloud_api.create_folder(cloud_root["id"], "cloud-made")
    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_completed(), state.message
    assert sorted(await onprem_api.tree(pair.onprem_folder["id"])) == ["a.txt", "b.txt", "sub", "sub/c.txt"]


async def test_reconcile_all_runs_each_active_sync_set_as_its_own_run(connections, database_url, onprem_api, cloud_api):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    first = await make_pair(onprem_api, cloud_api, {"one.txt": b"1"})
    second = await make_pair(onprem_api, cloud_api, {"two.txt": b"2"})
    await push(first)
    await push(second)
    await onprem_api.put_content(first.files["one.txt"]["id"], b"one, edited")
    await onprem_api.put_content(second.files["two.txt"]["id"], b"two, edited")
    state = await reconcile(return_state=True)
    assert state.is_completed(), state.message
    for pair, name, data in ((first, "one.txt", b"one, edited"), (second, "two.txt", b"two, edited")):
        cloud = await trees_equal(onprem_api, cloud_api, pair)
        assert await cloud_api.content(cloud[name]["id"]) == data
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"sync-set:{pair.name}"]))
            )
        assert {run.name for run in runs} >= {f"reconcile-{pair.name}"}


async def test_a_sweep_skips_a_set_another_run_holds_and_a_second_sweep_skips_itself(
    connections, database_url, onprem_api, cloud_api
):
    """Issue 17 item 2: no Prefect slot keeps sweeps apart, the leases in the sync state do."""
    from flows.sweep import SWEEP_LEASE

    held = await make_pair(onprem_api, cloud_api, {"held.txt": b"h"})
    free = await make_pair(onprem_api, cloud_api, {"free.txt": b"f"})
    await push(held)
    await push(free)
    await onprem_api.put_content(free.files["free.txt"]["id"], b"free, edited")
    held_set = store.get_sync_set(database_url, held.name)
    assert held_set is not None and held_set.id is not None
    assert store.acquire_lease(database_url, held_set.id, "another-run", 60)
    try:
        state = await reconcile(return_state=True)
    finally:
        store.release_lease(database_url, held_set.id, "another-run")
    assert state.is_completed() and state.name == "Completed", state.message
    assert state.message == f"1 of 2 sync sets reconciled; 1 skipped (held by another run, or unsynced): {held.name}"
    cloud = await trees_equal(onprem_api, cloud_api, free)
    assert await cloud_api.content(cloud["free.txt"]["id"]) == b"free, edited"

    assert store.acquire_run_lease(database_url, SWEEP_LEASE, "an-earlier-sweep", 60)
    try:
        skipped = await reconcile(return_state=True)
    finally:
        store.release_run_lease(database_url, SWEEP_LEASE, "an-earlier-sweep")
    assert skipped.is_completed() and skipped.name == "Skipped", skipped
    assert "an earlier sweep is still running (run an-earlier-sweep holds the sweep lease" in (skipped.message or "")

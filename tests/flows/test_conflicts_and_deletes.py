"""Conflict policies, delete rules, the mass-delete guard, name clashes and failures read back from Prefect."""

from __future__ import annotations

import asyncio
import re

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags, LogFilter, LogFilterFlowRunId
from prefect.client.schemas.sorting import FlowRunSort

from flows.reconcile import reconcile
from flows.request_sync import request_sync
from flows.sync_to_cloud import sync_to_cloud
from models import store
from tests.flows.conftest import make_pair
from tests.flows.test_changes import trees_equal


async def setup_pair(onprem_api, cloud_api, layout, **options):
    pair = await make_pair(onprem_api, cloud_api, layout)
    state = await sync_to_cloud(
        items=[pair.site_path], destination=pair.destination, slug=pair.name, options=options or None, return_state=True
    )
    assert state.is_completed(), state.message
    root = next(n for n in await cloud_api.children(pair.cloud_target["id"]) if n["name"] == pair.name)
    return pair, await cloud_api.tree(root["id"]), root


@pytest.mark.parametrize(("policy", "winner"), [("cloud-wins", "cloud"), ("onprem-wins", "onprem"), ("newer-wins", "cloud")])
async def test_conflict_policies_keep_the_loser_as_a_version(policy, winner, connections, database_url, onprem_api, cloud_api):
    pair, cloud, _root = await setup_pair(onprem_api, cloud_api, {"doc.txt": b"base"}, conflict_policy=policy)
    await onprem_api.put_content(pair.files["doc.txt"]["id"], b"on-prem edit")
    await cloud_api.put_content(cloud["doc.txt"]["id"], b"cloud edit, made later")
    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_completed(), state.message
    expected = b"cloud edit, made later" if winner == "cloud" else b"on-prem edit"
    assert await onprem_api.content(pair.files["doc.txt"]["id"]) == expected
    assert await cloud_api.content(cloud["doc.txt"]["id"]) == expected
    loser_api, loser_id = (onprem_api, pair.files["doc.txt"]["id"]) if winner == "cloud" else (cloud_api, cloud["doc.txt"]["id"])
    assert len(await loser_api.versions(loser_id)) >= 2, "the overwritten bytes stay in the version history"


async def test_keep_both_names_the_loser(connections, database_url, onprem_api, cloud_api):
    pair, cloud, _root = await setup_pair(onprem_api, cloud_api, {"plan.txt": b"base"}, conflict_policy="keep-both")
    await onprem_api.put_content(pair.files["plan.txt"]["id"], b"on-prem version")
    await cloud_api.put_content(cloud["plan.txt"]["id"], b"cloud version")
    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_completed(), state.message
    tree = await trees_equal(onprem_api, cloud_api, pair)
    copies = [p for p in tree if re.fullmatch(r"plan \(conflict from on-prem \d{4}-\d\d-\d\d \d{6}\)\.txt", p)]
    assert len(copies) == 1, sorted(tree)
    assert await cloud_api.content(tree[copies[0]]["id"]) == b"on-prem version"
    assert await cloud_api.content(tree["plan.txt"]["id"]) == b"cloud version"


async def test_keep_both_a_second_conflict_right_after_the_first_gets_its_own_copy(
    connections, database_url, onprem_api, cloud_api
):
    """Issue 17 item 6: two conflicts of one file a few seconds apart (a minute-resolution stamp gave both copies
    one name: the second run failed the member TARGET_FOLDER_NAME_CLASH until Request Sync)."""
    pair, cloud, _root = await setup_pair(onprem_api, cloud_api, {"plan.txt": b"base"}, conflict_policy="keep-both")
    for round_ in (1, 2):
        await onprem_api.put_content(pair.files["plan.txt"]["id"], f"on-prem version {round_}".encode())
        await cloud_api.put_content(cloud["plan.txt"]["id"], f"cloud version {round_}".encode())
        state = await reconcile(slug=pair.name, return_state=True)
        assert state.is_completed(), state.message
    tree = await trees_equal(onprem_api, cloud_api, pair)
    copies = sorted(p for p in tree if p.startswith("plan (conflict from on-prem "))
    assert len(copies) == 2, sorted(tree)
    assert sorted([await cloud_api.content(tree[c]["id"]) for c in copies]) == [b"on-prem version 1", b"on-prem version 2"]
    assert await cloud_api.content(tree["plan.txt"]["id"]) == b"cloud version 2"
    sync_set = store.get_sync_set(database_url, pair.name)
    assert {m.status for m in store.members_of(database_url, sync_set.id)} == {"synced"}


async def test_same_change_on_both_sides_is_no_conflict(connections, database_url, onprem_api, cloud_api):
    pair, cloud, _ = await setup_pair(onprem_api, cloud_api, {"same.txt": b"base"}, conflict_policy="keep-both")
    await onprem_api.put_content(pair.files["same.txt"]["id"], b"identical edit")
    await cloud_api.put_content(cloud["same.txt"]["id"], b"identical edit")
    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_completed(), state.message
    tree = await trees_equal(onprem_api, cloud_api, pair)
    assert sorted(tree) == ["same.txt"]


async def test_cloud_delete_rules(connections, database_url, onprem_api, cloud_api):
    layout = {"keep.txt": b"k", "gone.txt": b"g"}
    pair, cloud, _ = await setup_pair(onprem_api, cloud_api, layout)
    await cloud_api.delete(cloud["gone.txt"]["id"])
    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_failed()
    assert state.message == f"1 of 3 items not synced: {pair.name}/gone.txt TARGET_NODE_NO_LONGER_EXISTS"
    assert (await onprem_api.node(pair.files["gone.txt"]["id"]))["name"] == "gone.txt", "on-prem copy kept"

    fixed = await request_sync(item=pair.files["gone.txt"]["id"], return_state=True)
    assert fixed.is_completed(), fixed.message
    tree = await trees_equal(onprem_api, cloud_api, pair)
    assert "gone.txt" in tree, "Request Sync re-creates the deleted cloud copy"
    member = store.find_member(database_url, pair.files["gone.txt"]["id"])[0]
    assert member.status == "synced" and member.error_code is None


async def test_allow_cloud_delete_off_restores(connections, database_url, onprem_api, cloud_api):
    pair, cloud, _ = await setup_pair(onprem_api, cloud_api, {"precious.txt": b"p"}, allow_cloud_delete=False)
    await cloud_api.delete(cloud["precious.txt"]["id"])
    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_completed(), state.message
    assert "precious.txt" in await trees_equal(onprem_api, cloud_api, pair)


async def test_delete_on_premise_follows_cloud_delete(connections, database_url, onprem_api, cloud_api):
    pair, cloud, _ = await setup_pair(onprem_api, cloud_api, {"x.txt": b"x", "y.txt": b"y"}, delete_on_premise=True)
    await cloud_api.delete(cloud["x.txt"]["id"])
    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_completed(), state.message
    assert sorted(await trees_equal(onprem_api, cloud_api, pair)) == ["y.txt"]


async def test_change_wins_over_delete(connections, database_url, onprem_api, cloud_api):
    pair, cloud, _ = await setup_pair(onprem_api, cloud_api, {"w.txt": b"w"})
    await onprem_api.delete(pair.files["w.txt"]["id"])
    await cloud_api.put_content(cloud["w.txt"]["id"], b"changed in the cloud")
    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_completed(), state.message
    tree = await trees_equal(onprem_api, cloud_api, pair)
    assert await cloud_api.content(tree["w.txt"]["id"]) == b"changed in the cloud"


async def test_mass_delete_guard_and_force(connections, database_url, onprem_api, cloud_api):
    layout = {f"f{i:02}.txt": f"{i}".encode() for i in range(16)}
    pair, _cloud, _ = await setup_pair(onprem_api, cloud_api, layout)
    for i in range(10):  # 10 of 17 members: over 50 % and at least 10
        await onprem_api.delete(pair.files[f"f{i:02}.txt"]["id"])
    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_failed()
    assert "max_delete_percent" in state.message or "delete" in state.message.lower()
    root = next(n for n in await cloud_api.children(pair.cloud_target["id"]) if n["name"] == pair.name)
    assert len(await cloud_api.children(root["id"])) == 16, "nothing deleted on the other side"
    forced = await reconcile(slug=pair.name, force=True, return_state=True)
    assert forced.is_completed(), forced.message
    assert sorted(await trees_equal(onprem_api, cloud_api, pair)) == [f"f{i:02}.txt" for i in range(10, 16)]


async def test_name_clash_fails_one_member_and_reports_it(connections, database_url, onprem_api, cloud_api):
    pair = await make_pair(onprem_api, cloud_api, {"a.txt": b"a", "b.txt": b"b", "c.txt": b"c"})
    await cloud_api.upload(pair.cloud_target["id"], "B.txt", b"someone else's file")
    items = [pair.files[name]["id"] for name in ("a.txt", "b.txt", "c.txt")]
    state = await sync_to_cloud(items=items, destination=pair.destination, slug=pair.name, return_state=True)
    assert state.is_failed()
    assert state.message == "1 of 3 items not synced: b.txt TARGET_FOLDER_NAME_CLASH"
    names = sorted(n["name"] for n in await cloud_api.children(pair.cloud_target["id"]))
    assert names == ["B.txt", "a.txt", "c.txt"], "nothing overwritten or auto-renamed"
    assert (
        await cloud_api.content(next(n for n in await cloud_api.children(pair.cloud_target["id"]) if n["name"] == "B.txt")["id"])
        == b"someone else's file"
    )
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"sync-set:{pair.name}"])),
            sort=FlowRunSort.START_TIME_DESC,
        )
        assert runs and runs[0].state.is_failed()
        errors: list[str] = []
        for _ in range(60):  # logs reach the server in batches: poll
            logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[runs[0].id])))
            errors = [log.message for log in logs if log.level >= 40]
            if any("TARGET_FOLDER_NAME_CLASH" in message for message in errors):
                break
            await asyncio.sleep(0.5)
    assert any("TARGET_FOLDER_NAME_CLASH" in message for message in errors), errors
    member = store.find_member(database_url, pair.files["b.txt"]["id"])[0]
    assert member.status == "failed" and member.error_code == "TARGET_FOLDER_NAME_CLASH"

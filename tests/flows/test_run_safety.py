"""Crash recovery (intent adoption), one run per sync set at a time, and the run's artifacts."""

from __future__ import annotations

import asyncio

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.reconcile import reconcile
from models import store
from models.tables import Member
from tests.flows.conftest import make_pair
from tests.flows.test_changes import trees_equal
from vocabulary import MemberStatus


async def pushed(onprem_api, cloud_api, layout):
    pair = await make_pair(onprem_api, cloud_api, layout)
    state = await pair.push()
    assert state.is_completed(), state.message
    root = next(n for n in await cloud_api.children(pair.cloud_target["id"]) if n["name"] == pair.name)
    return pair, root


async def test_a_create_left_half_done_is_adopted_not_duplicated(connections, database_url, onprem_api, cloud_api):
    pair, cloud_root = await pushed(onprem_api, cloud_api, {"a.txt": b"a"})
    # What a run killed right after its upload leaves: the copy exists, the member has only its intent.
    new = await onprem_api.upload(pair.onprem_folder["id"], "half.txt", b"made just before the crash")
    copy = await cloud_api.upload(cloud_root["id"], "half.txt", b"made just before the crash")
    sync_set = store.get_sync_set(database_url, pair.name)
    intent = {
        "kind": "upload",
        "side": "cloud",
        "parent_id": cloud_root["id"],
        "name": "half.txt",
        "source_side": "onprem",
        "source_id": new["id"],
        "run": "killed-run",
    }
    store.insert_member(database_url, Member(sync_set_id=sync_set.id, onprem_id=new["id"], kind="file", intent=intent))

    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_completed(), state.message
    tree = await trees_equal(onprem_api, cloud_api, pair)
    assert sorted(tree) == ["a.txt", "half.txt"], "no second copy, no half-1.txt"
    assert tree["half.txt"]["id"] == copy["id"], "the node the killed run made was adopted"
    members = store.members_of(database_url, sync_set.id)
    assert all(m.intent is None and m.status == "synced" for m in members)


async def test_a_create_whose_node_differs_is_not_adopted(connections, database_url, onprem_api, cloud_api):
    pair, cloud_root = await pushed(onprem_api, cloud_api, {"a.txt": b"a"})
    new = await onprem_api.upload(pair.onprem_folder["id"], "other.txt", b"on-prem bytes")
    await cloud_api.upload(cloud_root["id"], "other.txt", b"someone else's bytes")
    sync_set = store.get_sync_set(database_url, pair.name)
    intent = {"kind": "upload", "side": "cloud", "parent_id": cloud_root["id"], "name": "other.txt"}
    intent |= {"source_side": "onprem", "source_id": new["id"]}
    store.insert_member(database_url, Member(sync_set_id=sync_set.id, onprem_id=new["id"], kind="file", intent=intent))
    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_failed() and "TARGET_FOLDER_NAME_CLASH" in state.message
    clash = next(n for n in await cloud_api.children(cloud_root["id"]) if n["name"] == "other.txt")
    assert await cloud_api.content(clash["id"]) == b"someone else's bytes", "never overwritten"


async def test_a_create_whose_answer_was_lost_and_cannot_be_checked_yet_is_adopted_next_run(
    connections, database_url, onprem_api, cloud_api
):
    pair, _ = await pushed(onprem_api, cloud_api, {"a.txt": b"a"})
    await onprem_api.upload(pair.onprem_folder["id"], "late.txt", b"answer lost on the way back")
    # The upload is made but its answer is dropped; the retry meets the node as a name clash; reading the node
    # back to compare its bytes fails transiently past every retry: whether the node is ours is undecided.
    await cloud_api.faults(
        {
            "rules": [
                {"method": "POST", "path": "/children$", "kind": "drop", "fail_next": 1},
                {"method": "GET", "path": "/content$", "status": 503, "fail_next": 1000},
            ]
        }
    )
    try:
        state = await reconcile(slug=pair.name, return_state=True)
    finally:
        await cloud_api.faults(None)
    assert state.is_failed() and "TRANSIENT" in state.message, state.message
    sync_set = store.get_sync_set(database_url, pair.name)
    late = next(
        m for m in store.members_of(database_url, sync_set.id) if m.op_name == "late.txt" or m.rel_path.endswith("late.txt")
    )
    assert late.intent is not None and late.status == MemberStatus.TEMPORARY_ERROR.value, "the intent is kept for the next run"

    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_completed(), state.message
    tree = await trees_equal(onprem_api, cloud_api, pair)
    assert sorted(tree) == ["a.txt", "late.txt"], "the node made was adopted, not met as a stranger"
    assert all(m.intent is None and m.status == "synced" for m in store.members_of(database_url, sync_set.id))


async def test_a_second_run_of_the_same_sync_set_changes_nothing(connections, database_url, onprem_api, cloud_api):
    pair, _ = await pushed(onprem_api, cloud_api, {"a.txt": b"a"})
    await onprem_api.put_content(pair.files["a.txt"]["id"], b"changed while another run holds the set")
    sync_set = store.get_sync_set(database_url, pair.name)
    assert store.acquire_lease(database_url, sync_set.id, "another-run", 600)
    try:
        state = await reconcile(slug=pair.name, return_state=True)
        assert state.is_failed()
        assert "is being changed by run another-run" in state.message
        root = next(n for n in await cloud_api.children(pair.cloud_target["id"]) if n["name"] == pair.name)
        copy = next(n for n in await cloud_api.children(root["id"]) if n["name"] == "a.txt")
        assert await cloud_api.content(copy["id"]) == b"a"
    finally:
        store.release_lease(database_url, sync_set.id, "another-run")
    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_completed(), state.message


async def test_runs_leave_sync_info_and_action_artifacts(connections, database_url, onprem_api, cloud_api):
    pair, _ = await pushed(onprem_api, cloud_api, {"a.txt": b"a"})
    key = f"sync-info-{pair.name}"
    async with get_client() as client:
        for _ in range(40):
            artifacts = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
            if artifacts:
                break
            await asyncio.sleep(0.5)
    assert artifacts, "the sync set's status is a keyed markdown artifact"
    assert f"Sync set `{pair.name}`" in artifacts[0].data and "synced 2" in artifacts[0].data

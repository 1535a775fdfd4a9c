"""lock_on_premise, unsync (with and without remove_from_cloud) and its refusals."""

from __future__ import annotations

import asyncio

from flows import settings as settings_module
from flows.reconcile import reconcile
from flows.sync_to_cloud import sync_to_cloud
from flows.unsync import unsync
from models import store
from tests.flows.conftest import Api, make_pair


async def test_locks_placed_kept_for_new_files_and_released_on_unsync(
    connections, database_url, emulators, onprem_api, cloud_api
):
    pair = await make_pair(onprem_api, cloud_api, {"l1.txt": b"1", "sub": None, "sub/l2.txt": b"2", "theirs.txt": b"t"})
    alice = Api(emulators["onprem"].url, "-default-", "alice", "alice")
    await alice.lock(pair.files["theirs.txt"]["id"])  # a lock someone else holds: never the sync's
    state = await sync_to_cloud(
        items=[pair.site_path], destination=pair.destination, slug=pair.name, options={"lock_on_premise": True}, return_state=True
    )
    assert state.is_completed(), state.message
    for path in ("l1.txt", "sub/l2.txt"):
        assert (await onprem_api.node(pair.files[path]["id"], include="isLocked"))["isLocked"] is True

    try:
        edit = await alice.client.put(f"{alice.base}/nodes/{pair.files['l1.txt']['id']}/content", content=b"alice's edit")
        assert edit.status_code == 409, "people can read but not edit a locked on-prem copy"
    finally:
        await alice.aclose()

    later = await onprem_api.upload(pair.onprem_folder["id"], "later.txt", b"added after the sync")
    root = next(n for n in await cloud_api.children(pair.cloud_target["id"]) if n["name"] == pair.name)
    cloud_tree = await cloud_api.tree(root["id"])
    await cloud_api.put_content(cloud_tree["l1.txt"]["id"], b"edited in the cloud")
    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_completed(), state.message
    assert (await onprem_api.node(later["id"], include="isLocked"))["isLocked"] is True
    assert await onprem_api.content(pair.files["l1.txt"]["id"]) == b"edited in the cloud"

    done = await unsync(slug=pair.name, return_state=True)
    assert done.is_completed(), done.message
    for path in ("l1.txt", "sub/l2.txt"):
        assert (await onprem_api.node(pair.files[path]["id"], include="isLocked"))["isLocked"] is False
    assert (await onprem_api.node(later["id"], include="isLocked"))["isLocked"] is False
    assert (await onprem_api.node(pair.files["theirs.txt"]["id"], include="isLocked"))["isLocked"] is True
    assert store.get_sync_set(database_url, pair.name).state == "unsynced"
    assert [n["name"] for n in await cloud_api.children(pair.cloud_target["id"])] == [pair.name], "cloud copy kept"


async def test_unsync_refuses_an_indirect_member(connections, database_url, onprem_api, cloud_api):
    pair = await make_pair(onprem_api, cloud_api, {"in.txt": b"i"})
    state = await pair.push()
    assert state.is_completed(), state.message
    refused = await unsync(item=pair.files["in.txt"]["id"], return_state=True)
    assert refused.is_failed()
    assert "unsync the content where you applied the sync" in refused.message
    assert store.get_sync_set(database_url, pair.name).state == "active"


async def test_unsync_remove_from_cloud(connections, database_url, onprem_api, cloud_api):
    pair = await make_pair(onprem_api, cloud_api, {"a.txt": b"a", "b.txt": b"b"})
    items = [pair.files["a.txt"]["id"], pair.files["b.txt"]["id"]]
    state = await sync_to_cloud(items=items, destination=pair.destination, slug=pair.name, return_state=True)
    assert state.is_completed(), state.message
    copies = {n["name"]: n for n in await cloud_api.children(pair.cloud_target["id"])}
    await cloud_api.lock(copies["b.txt"]["id"])
    refused = await unsync(item=pair.files["a.txt"]["id"], remove_from_cloud=True, return_state=True)
    assert refused.is_completed(), refused.message  # a.txt's copy is not locked
    assert sorted(n["name"] for n in await cloud_api.children(pair.cloud_target["id"])) == ["b.txt"]
    locked = await unsync(item=pair.files["b.txt"]["id"], remove_from_cloud=True, return_state=True)
    assert locked.is_failed() and locked.message.startswith("Could not remove sync")
    assert store.find_member(database_url, pair.files["b.txt"]["id"]) is not None, "nothing changed"
    assert sorted(n["name"] for n in await cloud_api.children(pair.cloud_target["id"])) == ["b.txt"]


async def test_unsync_racing_a_reconcile_releases_the_locks_the_reconcile_placed(
    connections, database_url, onprem_api, cloud_api, monkeypatch
):
    """Issue 17 item 5. A reconcile pulls a new cloud file on-prem and locks it (lock_on_premise) while an unsync
    waits for the lease. The unsync read its members before the lease: it reported success, the new file stayed
    locked by the sync for ever and its member was left in an unsynced set. Now it reads them under the lease."""
    monkeypatch.setenv("ECSYNC_LEASE_WAIT_SECONDS", "600")
    settings_module.get_settings.cache_clear()
    pair = await make_pair(onprem_api, cloud_api, {"a.txt": b"a"})
    state = await sync_to_cloud(
        items=[pair.site_path], destination=pair.destination, slug=pair.name, options={"lock_on_premise": True}, return_state=True
    )
    assert state.is_completed(), state.message
    sync_set = store.get_sync_set(database_url, pair.name)
    root = next(n for n in await cloud_api.children(pair.cloud_target["id"]) if n["name"] == pair.name)
    await cloud_api.upload(root["id"], "from-the-cloud.txt", b"made in the cloud")

    # The reconcile's on-prem upload of the new file is held long enough for the unsync to start and wait.
    await onprem_api.faults(
        {"rules": [{"method": "POST", "path": "/children$", "kind": "latency", "latency_ms": 8000, "fail_next": 1}]}
    )
    try:
        racing = asyncio.create_task(reconcile(slug=pair.name, return_state=True))
        while not store.pending_intents(database_url, sync_set.id) and not racing.done():
            await asyncio.sleep(0.05)  # the reconcile holds the lease and is about to send (or is sending) the upload
        unsyncing = asyncio.create_task(unsync(slug=pair.name, return_state=True))  # waits for the lease
        reconciled, unsynced = await asyncio.gather(racing, unsyncing)
    finally:
        await onprem_api.faults(None)
    assert reconciled.is_completed(), reconciled.message
    assert unsynced.is_completed(), unsynced.message

    onprem_tree = await onprem_api.tree(pair.onprem_folder["id"])
    assert sorted(onprem_tree) == ["a.txt", "from-the-cloud.txt"], "the reconcile pulled the new file"
    locked = [path for path, node in onprem_tree.items() if node.get("isLocked")]
    assert locked == [], f"every lock the sync placed is released, the reconcile's too: {locked}"
    assert store.members_of(database_url, sync_set.id) == [], "no member left behind in the unsynced set"
    assert store.get_sync_set(database_url, pair.name).state == "unsynced"


async def test_a_reconcile_that_waited_for_an_unsync_changes_nothing(
    connections, database_url, onprem_api, cloud_api, monkeypatch
):
    """The other order: a reconcile that waits for an unsync's lease finds the set unsynced and changes nothing
    (it read the set as active before the lease; it used to go on with what it had read)."""
    monkeypatch.setenv("ECSYNC_LEASE_WAIT_SECONDS", "600")
    settings_module.get_settings.cache_clear()
    pair = await make_pair(onprem_api, cloud_api, {"a.txt": b"a"})
    state = await sync_to_cloud(
        items=[pair.site_path], destination=pair.destination, slug=pair.name, options={"lock_on_premise": True}, return_state=True
    )
    assert state.is_completed(), state.message
    sync_set = store.get_sync_set(database_url, pair.name)
    await onprem_api.faults(
        {"rules": [{"method": "POST", "path": "/unlock$", "kind": "latency", "latency_ms": 8000, "fail_next": 1}]}
    )
    try:
        unsyncing = asyncio.create_task(unsync(slug=pair.name, return_state=True))
        while store.lease_holder(database_url, sync_set.id)[0] is None and not unsyncing.done():
            await asyncio.sleep(0.05)
        racing = asyncio.create_task(reconcile(slug=pair.name, return_state=True))
        unsynced, reconciled = await asyncio.gather(unsyncing, racing)
    finally:
        await onprem_api.faults(None)
    assert unsynced.is_completed(), unsynced.message
    # Refused, whether it read the set before the unsync ended (it waited) or after (refused up front).
    assert reconciled.is_failed() and "unsynced" in reconciled.message, reconciled.message
    assert (await onprem_api.node(pair.files["a.txt"]["id"], include="isLocked"))["isLocked"] is False
    assert store.members_of(database_url, sync_set.id) == []
    assert [n["name"] for n in await cloud_api.children(pair.cloud_target["id"])] == [pair.name]

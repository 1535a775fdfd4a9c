"""Setting up a sync: one file, several files, and every refusal of SPEC.md (nothing changed on refusal)."""

from __future__ import annotations

import pytest

from flows.sync_to_cloud import sync_to_cloud
from models import store
from tests.flows.conftest import make_pair


async def test_one_file(connections, database_url, onprem_api, cloud_api):
    pair = await make_pair(onprem_api, cloud_api, {"only.txt": b"one file"})
    state = await sync_to_cloud(
        items=[f"{pair.site_path}/only.txt"], destination=pair.destination, slug=pair.name, return_state=True
    )
    assert state.is_completed(), state.message
    copies = await cloud_api.children(pair.cloud_target["id"])
    assert [c["name"] for c in copies] == ["only.txt"]
    assert await cloud_api.content(copies[0]["id"]) == b"one file"
    sync_set = store.get_sync_set(database_url, pair.name)
    assert sync_set.kind == "file"


async def test_several_files_of_one_library(connections, database_url, onprem_api, cloud_api):
    pair = await make_pair(onprem_api, cloud_api, {"x.txt": b"x", "y.txt": b"y", "z.txt": b"z"})
    items = [pair.files["x.txt"]["id"], f"{pair.site_path}/y.txt"]
    state = await sync_to_cloud(items=items, destination=pair.destination, slug=pair.name, return_state=True)
    assert state.is_completed(), state.message
    assert sorted(c["name"] for c in await cloud_api.children(pair.cloud_target["id"])) == ["x.txt", "y.txt"]
    members = store.members_of(database_url, store.get_sync_set(database_url, pair.name).id)
    assert all(m.direct for m in members) and len(members) == 2


async def test_create_target_folder(connections, database_url, onprem_api, cloud_api):
    pair = await make_pair(onprem_api, cloud_api, {"f.txt": b"f"})
    destination = {**pair.destination, "folder": f"Shared/{pair.name}/new/deeper"}
    refused = await sync_to_cloud(items=[pair.site_path], destination=destination, slug=pair.name, return_state=True)
    assert refused.is_failed() and "does not exist" in refused.message
    state = await sync_to_cloud(
        items=[pair.site_path],
        destination=destination,
        slug=pair.name,
        options={"create_target_folder": True},
        return_state=True,
    )
    assert state.is_completed(), state.message
    made = await cloud_api.by_path("partners", f"Shared/{pair.name}/new/deeper/{pair.name}/f.txt")
    assert made["name"] == "f.txt"


REFUSALS = {
    "the documentLibrary itself": (["site:engineering"], {}, "documentLibrary folder itself"),
    "a node that does not exist": (["site:engineering/no-such-thing"], {}, "does not exist on-prem"),
    "a Free network": (None, {"network": "free.example"}, "No network is enabled for sync"),
    "an unknown network": (None, {"network": "nowhere.example"}, "No network is enabled for sync"),
    "a missing destination folder": (None, {"folder": "Shared/absent-folder"}, "does not exist"),
    "a missing site": (None, {"site": "no-such-site"}, "does not exist"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
async def test_refusals_change_nothing(case, connections, database_url, onprem_api, cloud_api):
    pair = await make_pair(onprem_api, cloud_api, {"r.txt": b"r"})
    items, destination_change, message = REFUSALS[case]
    state = await sync_to_cloud(
        items=items or [pair.site_path],
        destination={**pair.destination, **destination_change},
        slug=pair.name,
        return_state=True,
    )
    assert state.is_failed()
    assert message in state.message
    assert store.get_sync_set(database_url, pair.name) is None
    assert await cloud_api.children(pair.cloud_target["id"]) == []


async def test_folder_and_file_together_refused(connections, database_url, onprem_api, cloud_api):
    pair = await make_pair(onprem_api, cloud_api, {"sub": None, "f.txt": b"f"})
    state = await sync_to_cloud(
        items=[f"{pair.site_path}/sub", f"{pair.site_path}/f.txt"], destination=pair.destination, return_state=True
    )
    assert state.is_failed() and "all files of one document library" in state.message


async def test_already_synced_elsewhere_refused(connections, database_url, onprem_api, cloud_api):
    pair = await make_pair(onprem_api, cloud_api, {"sub": None, "sub/in.txt": b"i"})
    first = await pair.push()
    assert first.is_completed(), first.message
    again = await sync_to_cloud(
        items=[pair.files["sub/in.txt"]["id"]], destination=pair.destination, slug=f"{pair.name}-2", return_state=True
    )
    assert again.is_failed() and "already been synchronized from somewhere else" in again.message
    copy = next(n for n in await cloud_api.children(pair.cloud_target["id"]) if n["isFolder"])
    into_copy = await sync_to_cloud(
        items=["site:engineering/Meeting Notes"],
        destination={**pair.destination, "folder": f"Shared/{pair.name}/{copy['name']}"},
        slug=f"{pair.name}-3",
        return_state=True,
    )
    assert into_copy.is_failed() and "itself a synced copy" in into_copy.message


async def test_a_missing_connection_block_says_how_to_make_one(connections, database_url, onprem_api, cloud_api):
    pair = await make_pair(onprem_api, cloud_api, {"a.txt": b"a"})
    state = await pair.push({"onprem": "no-such-block"})
    assert state.is_failed()
    assert "No connection block named 'no-such-block'" in state.message and "python -m ecsync register-blocks" in state.message
    assert store.get_sync_set(database_url, pair.name) is None, "nothing was created"

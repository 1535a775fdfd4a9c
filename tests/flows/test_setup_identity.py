"""Issue 17 item 7: refusals judge node identity, not strings, and come before any change.

The same-repository cases need a sync whose two connections reach one repository: an "on-prem" connection block
that points at the cloud emulator (the cloud account, the `acme.com` network), whose items are paths in the
`partners` site, where the destination folders are too.
"""

from __future__ import annotations

import uuid

import pytest

from ecsync.processes import SYNC_ACCOUNTS, Child
from flows.sync_to_cloud import sync_to_cloud
from models import store
from tests.flows.conftest import Api, make_pair


@pytest.fixture()
async def cloud_as_onprem(connections: dict[str, str], emulators: dict[str, Child]) -> str:
    """A connection block for the cloud emulator under another name: on-prem and cloud are one repository."""
    from connectors.blocks import AlfrescoConnection

    account = SYNC_ACCOUNTS["cloud"]
    name = "same-repository"
    await AlfrescoConnection(
        base_url=emulators["cloud"].url, username=account.user, password=account.password, tenant="acme.com", read_timeout=30
    ).asave(name, overwrite=True)
    return name


async def cloud_folder(cloud_api: Api, layout: dict[str, bytes | None]) -> tuple[str, dict[str, dict]]:
    """A fresh folder under partners/Shared with `layout` (path -> bytes, None for a folder), made as a user would."""
    name = f"s-{uuid.uuid4().hex[:8]}"
    shared = await cloud_api.by_path("partners", "Shared")
    made = {"": await cloud_api.create_folder(shared["id"], name)}
    for path, data in layout.items():
        parent_path, _, leaf = path.rpartition("/")
        parent = made[parent_path]["id"]
        made[path] = await cloud_api.create_folder(parent, leaf) if data is None else await cloud_api.upload(parent, leaf, data)
    return name, made


@pytest.mark.parametrize(
    ("item", "folder", "message"),
    [
        ("{root}", "Shared/{root}", "The destination folder is 'S', which this sync would copy"),
        ("{root}", "Shared/{root}/inner", "The destination folder is inside 'S', which this sync would copy"),
        ("{root}", "Shared/{root}/inner/deeper", "is inside 'S'"),
        ("{root}/inner/a.txt", "Shared/{root}/inner", "is the folder 'a.txt' is in"),
    ],
    ids=["equal", "inside", "deeper", "a file into its own folder"],
)
async def test_a_destination_inside_its_own_source_is_refused(item, folder, message, cloud_as_onprem, database_url, cloud_api):
    """Accepted before: a folder synced into itself nested a copy inside itself on every run."""
    name, made = await cloud_folder(cloud_api, {"inner": None, "inner/a.txt": b"a"})
    message = message.replace("'S'", repr(name))
    before = await cloud_api.tree(made[""]["id"])
    state = await sync_to_cloud(
        items=[f"site:partners/Shared/{item.format(root=name)}"],
        destination={"network": "acme.com", "site": "partners", "folder": folder.format(root=name)},
        slug=name,
        onprem_connection=cloud_as_onprem,
        options={"create_target_folder": True},
        return_state=True,
    )
    assert state.is_failed(), state.message
    assert message in state.message and "one repository" in state.message, state.message
    assert await cloud_api.tree(made[""]["id"]) == before, "nothing made, not even the missing destination folder"
    assert store.get_sync_set(database_url, name) is None


async def test_a_destination_beside_its_source_in_the_same_repository_is_accepted(cloud_as_onprem, database_url, cloud_api):
    """One repository is not refused as such: only a destination that is (in) the source or holds it."""
    name, made = await cloud_folder(cloud_api, {"src": None, "src/a.txt": b"a", "dst": None})
    state = await sync_to_cloud(
        items=[f"site:partners/Shared/{name}/src"],
        destination={"network": "acme.com", "site": "partners", "folder": f"Shared/{name}/dst"},
        slug=name,
        onprem_connection=cloud_as_onprem,
        return_state=True,
    )
    assert state.is_completed(), state.message
    assert sorted(await cloud_api.tree(made["dst"]["id"])) == ["src", "src/a.txt"]


@pytest.mark.parametrize("spelling", ["id", "trailing slash"])
async def test_the_same_node_given_twice_is_refused(spelling, connections, database_url, onprem_api, cloud_api):
    """Crashed before with a raw IntegrityError (one member twice) after validation had passed."""
    pair = await make_pair(onprem_api, cloud_api, {"x.txt": b"x", "y.txt": b"y"})
    other = pair.files["x.txt"]["id"] if spelling == "id" else f"{pair.site_path}/x.txt/"
    items = [f"{pair.site_path}/x.txt", other, f"{pair.site_path}/y.txt"]
    state = await sync_to_cloud(items=items, destination=pair.destination, slug=pair.name, return_state=True)
    assert state.is_failed(), state.message
    assert "The same item is listed twice" in state.message and "'x.txt'" in state.message, state.message
    assert "IntegrityError" not in state.message
    assert store.get_sync_set(database_url, pair.name) is None
    assert await cloud_api.children(pair.cloud_target["id"]) == []


async def test_a_refused_create_target_folder_makes_no_folder(connections, database_url, onprem_api, cloud_api):
    """Before: `New` was made, then `bad:name` below it was refused, and `New` stayed."""
    pair = await make_pair(onprem_api, cloud_api, {"f.txt": b"f"})
    destination = {**pair.destination, "folder": f"Shared/{pair.name}/New/bad:name"}
    state = await sync_to_cloud(
        items=[pair.site_path], destination=destination, slug=pair.name, options={"create_target_folder": True}, return_state=True
    )
    assert state.is_failed() and "cannot be made" in state.message and "contains :" in state.message, state.message
    assert await cloud_api.children(pair.cloud_target["id"]) == []
    assert store.get_sync_set(database_url, pair.name) is None


async def test_folders_made_before_a_failure_are_taken_back(connections, database_url, onprem_api, cloud_api):
    """A folder create refused by the server after the first one was made (403 here): the first goes back."""
    pair = await make_pair(onprem_api, cloud_api, {"f.txt": b"f"})
    destination = {**pair.destination, "folder": f"Shared/{pair.name}/one/two"}
    target = pair.cloud_target["id"]
    # Every folder create except the one into the pair's target folder (the first) is refused, once.
    await cloud_api.faults(
        {"rules": [{"method": "POST", "path": f"/nodes/(?!{target})[^/]+/children$", "status": 403, "fail_next": 1}]}
    )
    try:
        state = await sync_to_cloud(
            items=[pair.site_path],
            destination=destination,
            slug=pair.name,
            options={"create_target_folder": True},
            return_state=True,
        )
    finally:
        await cloud_api.faults(None)
    assert state.is_failed() and "Could not create sync" in state.message, state.message
    assert await cloud_api.children(target) == [], "`one` was made, then taken back to the trashcan"
    assert store.get_sync_set(database_url, pair.name) is None

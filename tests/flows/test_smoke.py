"""First push of a folder, end to end: real Prefect server, two emulators over HTTP."""

from __future__ import annotations

import uuid

from flows.sync_to_cloud import sync_to_cloud
from models import store


async def test_folder_first_push(connections, database_url, onprem_api, cloud_api):
    shared = await cloud_api.by_path("partners", "Shared")
    folder = f"push-{uuid.uuid4().hex[:6]}"
    target = await cloud_api.create_folder(shared["id"], folder)
    state = await sync_to_cloud(
        items=["site:engineering/Specs"],
        destination={"network": "acme.com", "site": "partners", "folder": f"Shared/{folder}"},
        slug=folder,
        return_state=True,
    )
    assert state.is_completed(), state.message
    onprem_root = await onprem_api.by_path("engineering", "Specs")
    source = await onprem_api.tree(onprem_root["id"])
    copied = await cloud_api.tree(target["id"])
    assert set(copied) == {f"Specs/{p}" for p in source} | {"Specs"}
    for path, node in source.items():
        if not node["isFolder"]:
            assert await cloud_api.content(copied[f"Specs/{path}"]["id"]) == await onprem_api.content(node["id"])
    sync_set = store.get_sync_set(database_url, folder)
    members = store.members_of(database_url, sync_set.id)
    assert len(members) == len(source) + 1
    assert all(m.status == "synced" for m in members)

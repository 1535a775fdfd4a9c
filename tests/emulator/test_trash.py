"""Trashcan: delete, list, restore (in place or elsewhere), clashes, permanent delete rights."""

from __future__ import annotations

from tests.emulator.conftest import CORE, Emu, child, doclib, mkdir, upload


async def test_delete_folder_and_restore_with_children(onprem: Emu) -> None:
    c = onprem.client()
    lib = await doclib(c)
    specs = await child(c, lib, "Specs")
    draft = await child(c, lib, "Specs/Drafts/draft-a.md")
    assert (await c.delete(f"{CORE}/nodes/{specs['id']}")).status_code == 204
    assert (await c.get(f"{CORE}/nodes/{specs['id']}")).status_code == 404
    assert (await c.get(f"{CORE}/nodes/{draft['id']}")).status_code == 404
    trash = (await c.get(f"{CORE}/deleted-nodes")).json()["list"]["entries"]
    assert [t["entry"]["id"] for t in trash] == [specs["id"]]
    one = await c.get(f"{CORE}/deleted-nodes/{specs['id']}")
    assert one.json()["entry"]["archivedByUser"]["id"] == "admin"
    r = await c.post(f"{CORE}/deleted-nodes/{specs['id']}/restore")
    assert r.status_code == 200 and r.json()["entry"]["parentId"] == lib
    assert (await c.get(f"{CORE}/nodes/{draft['id']}")).status_code == 200
    assert (await c.get(f"{CORE}/deleted-nodes")).json()["list"]["entries"] == []


async def test_restore_clash_and_target_parent(onprem: Emu) -> None:
    c = onprem.client()
    lib = await doclib(c)
    readme = await child(c, lib, "README.md")
    await c.delete(f"{CORE}/nodes/{readme['id']}")
    assert (await upload(c, lib, "README.md", b"replacement")).status_code == 201
    assert (await c.post(f"{CORE}/deleted-nodes/{readme['id']}/restore")).status_code == 409
    images = await child(c, lib, "Images")
    r = await c.post(f"{CORE}/deleted-nodes/{readme['id']}/restore", json={"targetParentId": images["id"]})
    assert r.status_code == 200 and r.json()["entry"]["parentId"] == images["id"]
    assert (await c.post(f"{CORE}/deleted-nodes/{readme['id']}/restore")).status_code == 404


async def test_permissions_on_delete(onprem: Emu) -> None:
    admin, alice, carol = onprem.client(), onprem.client("alice"), onprem.client("carol")
    lib = await doclib(admin)
    readme = await child(admin, lib, "README.md")
    assert (await carol.delete(f"{CORE}/nodes/{readme['id']}")).status_code == 403
    assert (await alice.delete(f"{CORE}/nodes/{readme['id']}")).status_code == 403  # collaborator, not creator
    own = (await mkdir(alice, lib, "alice-folder")).json()["entry"]["id"]
    assert (await alice.delete(f"{CORE}/nodes/{own}")).status_code == 204
    assert [e["entry"]["id"] for e in (await alice.get(f"{CORE}/deleted-nodes")).json()["list"]["entries"]] == [own]
    assert (await alice.delete(f"{CORE}/nodes/{readme['id']}", params={"permanent": "true"})).status_code == 403
    assert (await admin.delete(f"{CORE}/nodes/{readme['id']}", params={"permanent": "true"})).status_code == 204
    assert (await admin.get(f"{CORE}/deleted-nodes/{readme['id']}")).status_code == 404
    assert (await admin.delete(f"{CORE}/nodes/{lib}")).status_code == 403


async def test_a_non_admin_sees_and_restores_only_what_it_deleted(onprem: Emu) -> None:
    """NodeArchiveServiceImpl#listArchivedNodes (a non-admin lists its own cm:archiveUserLink items) and
    #hasFullAccess (admin or archivedBy): alice cannot list, read, fetch, restore or purge sync's deletion."""
    sync, alice, admin = onprem.client("sync"), onprem.client("alice"), onprem.client()
    lib = await doclib(sync)
    alices = (await upload(alice, lib, "alices.txt", b"a")).json()["entry"]["id"]
    syncs = (await upload(sync, lib, "syncs.txt", b"s")).json()["entry"]["id"]
    assert (await alice.delete(f"{CORE}/nodes/{alices}")).status_code == 204
    assert (await sync.delete(f"{CORE}/nodes/{syncs}")).status_code == 204
    mine = lambda r: [e["entry"]["id"] for e in r.json()["list"]["entries"]]  # noqa: E731
    assert mine(await alice.get(f"{CORE}/deleted-nodes")) == [alices]
    assert mine(await sync.get(f"{CORE}/deleted-nodes")) == [syncs]
    assert set(mine(await admin.get(f"{CORE}/deleted-nodes"))) >= {alices, syncs}
    for call in (
        alice.get(f"{CORE}/deleted-nodes/{syncs}"),
        alice.get(f"{CORE}/deleted-nodes/{syncs}/content"),
        alice.post(f"{CORE}/deleted-nodes/{syncs}/restore"),
        alice.delete(f"{CORE}/deleted-nodes/{syncs}"),
    ):
        assert (await call).status_code == 403
    assert (await sync.get(f"{CORE}/deleted-nodes/{syncs}/content")).content == b"s"
    assert (await sync.post(f"{CORE}/deleted-nodes/{syncs}/restore")).status_code == 200


async def test_deleting_makes_the_deleter_the_owner_until_restored(onprem: Emu) -> None:
    """DbNodeServiceImpl#archiveHierarchyImpl: the archived node becomes cm:ownable, owned by the deleter
    (archivedByUser); #restoreNodeImpl gives the original ownership back. Deleted nodes show no parentId
    (DeletedNodesImpl#mapArchiveInfo)."""
    sync, manager = onprem.client("sync"), onprem.client()
    lib = await doclib(sync)
    alices = (await upload(onprem.client("alice"), lib, "by-alice.txt", b"a")).json()["entry"]
    assert (await sync.delete(f"{CORE}/nodes/{alices['id']}")).status_code == 204
    for r in (await sync.get(f"{CORE}/deleted-nodes/{alices['id']}"), await sync.get(f"{CORE}/deleted-nodes")):
        entry = r.json()["entry"] if "entry" in r.json() else r.json()["list"]["entries"][0]["entry"]
        assert "parentId" not in entry
        assert entry["archivedByUser"]["id"] == "sync" and entry["createdByUser"]["id"] == "alice"
    full = (await sync.get(f"{CORE}/deleted-nodes/{alices['id']}")).json()["entry"]
    assert full["properties"]["cm:owner"]["id"] == "sync" and "cm:ownable" in full["aspectNames"]
    assert not any(k.startswith("sys:") for k in full["properties"])
    restored = (await sync.post(f"{CORE}/deleted-nodes/{alices['id']}/restore")).json()["entry"]
    assert restored["parentId"] == lib
    assert "cm:owner" not in restored["properties"] and "cm:ownable" not in restored["aspectNames"]
    assert (await manager.get(f"{CORE}/nodes/{alices['id']}")).status_code == 200


async def test_a_lock_survives_delete_and_restore(onprem: Emu) -> None:
    """A PERSISTENT lock is properties of the node (LockServiceImpl#persistLockProps), archived and restored with
    it; the lock owner may delete its own ALLOW_OWNER_CHANGES lock (LockServiceImpl#beforeDeleteNode)."""
    sync, alice = onprem.client("sync"), onprem.client("alice")
    lib = await doclib(sync)
    node = (await upload(sync, lib, "locked.txt", b"l")).json()["entry"]["id"]
    assert (await sync.post(f"{CORE}/nodes/{node}/lock", json={"lifetime": "PERSISTENT"})).status_code == 200
    assert (await alice.put(f"{CORE}/nodes/{node}", json={"name": "x.txt"})).status_code == 409
    assert (await sync.delete(f"{CORE}/nodes/{node}")).status_code == 204
    trashed = await sync.get(f"{CORE}/deleted-nodes/{node}", params={"include": "isLocked"})
    assert trashed.json()["entry"]["isLocked"] is True
    restored = await sync.post(f"{CORE}/deleted-nodes/{node}/restore")
    assert restored.status_code == 200
    after = (await sync.get(f"{CORE}/nodes/{node}", params={"include": "isLocked"})).json()["entry"]
    assert after["isLocked"] is True and after["properties"]["cm:lockOwner"]["id"] == "sync"
    assert (await alice.put(f"{CORE}/nodes/{node}/content", content=b"no")).status_code == 409
    ephemeral = (await upload(sync, lib, "ephemeral.txt", b"e")).json()["entry"]["id"]
    await sync.post(f"{CORE}/nodes/{ephemeral}/lock", json={"lifetime": "EPHEMERAL"})
    await sync.delete(f"{CORE}/nodes/{ephemeral}")
    await sync.post(f"{CORE}/deleted-nodes/{ephemeral}/restore")
    gone = (await sync.get(f"{CORE}/nodes/{ephemeral}", params={"include": "isLocked"})).json()["entry"]
    assert gone["isLocked"] is False, "an EPHEMERAL lock lives in the lock store under the old node reference"

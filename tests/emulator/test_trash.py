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

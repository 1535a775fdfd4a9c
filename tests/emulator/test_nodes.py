"""Folders and metadata: paging, ordering, filters, name rules, updates, move and copy."""

from __future__ import annotations

import pytest

from tests.emulator.conftest import CORE, Emu, child, doclib, error_key, mkdir, upload


async def test_children_paging_walks_every_item_once(onprem: Emu) -> None:
    c = onprem.client()
    lib = await doclib(c)
    folder = (await mkdir(c, lib, "Many")).json()["entry"]["id"]
    for i in range(23):
        assert (await mkdir(c, folder, f"f{i:02d}")).status_code == 201
    seen: list[str] = []
    skip = 0
    while True:
        r = await c.get(f"{CORE}/nodes/{folder}/children", params={"skipCount": skip, "maxItems": 10})
        page = r.json()["list"]
        seen += [e["entry"]["name"] for e in page["entries"]]
        assert page["pagination"]["totalItems"] == 23
        assert page["pagination"]["count"] == len(page["entries"])
        if not page["pagination"]["hasMoreItems"]:
            break
        skip += 10
    assert seen == [f"f{i:02d}" for i in range(23)]


async def test_where_and_order_by(onprem: Emu) -> None:
    c = onprem.client()
    lib = await doclib(c)
    files = await c.get(f"{CORE}/nodes/{lib}/children", params={"where": "(isFile=true)", "orderBy": "name DESC"})
    names = [e["entry"]["name"] for e in files.json()["list"]["entries"]]
    assert names == sorted(names, key=str.lower, reverse=True)
    assert all(e["entry"]["isFile"] for e in files.json()["list"]["entries"])
    folders = await c.get(f"{CORE}/nodes/{lib}/children", params={"where": "(isFolder=true)"})
    assert [e["entry"]["name"] for e in folders.json()["list"]["entries"]] == ["Images", "Meeting Notes", "Specs"]
    bad = await c.get(f"{CORE}/nodes/{lib}/children", params={"where": "(cm:name='x')"})
    assert bad.status_code == 400


async def test_listing_omits_properties_unless_included(onprem: Emu) -> None:
    c = onprem.client()
    lib = await doclib(c)
    plain = (await c.get(f"{CORE}/nodes/{lib}/children")).json()["list"]["entries"][0]["entry"]
    assert "properties" not in plain and "isLocked" not in plain
    single = (await c.get(f"{CORE}/nodes/{plain['id']}")).json()["entry"]
    assert "properties" in single and "aspectNames" in single


@pytest.mark.parametrize("name", ["a*b", 'q"', "x<y", "x>y", "back\\slash", "sl/ash", "what?", "c:d", "pi|pe", "dot.", "space "])
async def test_invalid_names_are_422(onprem: Emu, name: str) -> None:
    c = onprem.client()
    lib = await doclib(c)
    r = await mkdir(c, lib, name)
    assert r.status_code == 422, name
    assert r.json()["error"]["briefSummary"].split()[0].isdigit()


async def test_names_clash_case_insensitively(onprem: Emu) -> None:
    c = onprem.client()
    lib = await doclib(c)
    r = await upload(c, lib, "readme.MD", b"x")
    assert r.status_code == 409
    assert (await mkdir(c, lib, "specs")).status_code == 409
    renamed = await c.post(f"{CORE}/nodes/{lib}/children?autoRename=true", json={"name": "Specs", "nodeType": "cm:folder"})
    assert renamed.status_code == 201 and renamed.json()["entry"]["name"] == "Specs-1"


async def test_update_metadata_moves_modified_at(onprem: Emu) -> None:
    c = onprem.client()
    lib = await doclib(c)
    readme = await child(c, lib, "README.md")
    r = await c.put(
        f"{CORE}/nodes/{readme['id']}",
        json={"name": "READ ME.md", "properties": {"cm:title": "T", "cm:description": "D", "cm:author": "A"}},
    )
    assert r.status_code == 200, r.text
    e = r.json()["entry"]
    assert e["name"] == "READ ME.md"
    assert e["properties"]["cm:title"] == "T" and e["properties"]["cm:author"] == "A"
    assert e["modifiedAt"] > readme["modifiedAt"]
    assert (await c.put(f"{CORE}/nodes/{readme['id']}", json={"name": "Specs"})).status_code == 409
    assert (await c.put(f"{CORE}/nodes/{readme['id']}", json={"name": "bad:name"})).status_code == 422


async def test_move_and_copy(onprem: Emu) -> None:
    c = onprem.client()
    lib = await doclib(c)
    specs = await child(c, lib, "Specs")
    notes = await child(c, lib, "Meeting Notes")
    readme = await child(c, lib, "README.md")
    moved = await c.post(f"{CORE}/nodes/{readme['id']}/move", json={"targetParentId": specs["id"], "name": "R.md"})
    assert moved.status_code == 200 and moved.json()["entry"]["parentId"] == specs["id"]
    assert (await child(c, specs["id"], "R.md"))["id"] == readme["id"]
    clash = await c.post(f"{CORE}/nodes/{readme['id']}/move", json={"targetParentId": specs["id"], "name": "API.json"})
    assert clash.status_code == 409 and error_key(clash)
    into_self = await c.post(
        f"{CORE}/nodes/{specs['id']}/move", json={"targetParentId": (await child(c, specs["id"], "Drafts"))["id"]}
    )
    assert into_self.status_code == 400
    copy = await c.post(f"{CORE}/nodes/{specs['id']}/copy", json={"targetParentId": notes["id"]})
    assert copy.status_code == 201
    copy_id = copy.json()["entry"]["id"]
    assert copy_id != specs["id"]
    drafts_copy = await child(c, copy_id, "Drafts/draft-a.md")
    original = await child(c, specs["id"], "Drafts/draft-a.md")
    assert drafts_copy["id"] != original["id"]
    a = await c.get(f"{CORE}/nodes/{drafts_copy['id']}/content")
    b = await c.get(f"{CORE}/nodes/{original['id']}/content")
    assert a.content == b.content
    missing = await c.post(f"{CORE}/nodes/{readme['id']}/copy", json={})
    assert missing.status_code == 400


async def test_relative_path_and_aliases(onprem: Emu) -> None:
    c = onprem.client()
    lib = await doclib(c)
    r = await c.post(f"{CORE}/nodes/{lib}/children", json={"name": "deep", "nodeType": "cm:folder", "relativePath": "x/y"})
    assert r.status_code == 201
    assert (await child(c, lib, "x/y/deep"))["id"] == r.json()["entry"]["id"]
    root = await c.get(f"{CORE}/nodes/-root-")
    assert root.json()["entry"]["name"] == "Company Home"
    my = await c.get(f"{CORE}/nodes/-my-")
    assert my.status_code == 200 and my.json()["entry"]["name"] == "admin"
    assert (await c.get(f"{CORE}/nodes/does-not-exist")).status_code == 404
    assert (await c.get(f"{CORE}/nodes/{lib}", params={"relativePath": "nope"})).status_code == 404

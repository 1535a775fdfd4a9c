"""Locks: files only, other users get 409 on writes, owner rules, unlock permissions."""

from __future__ import annotations

from tests.emulator.conftest import CORE, Emu, child, doclib


async def _readme(onprem: Emu) -> tuple[str, str]:
    c = onprem.client()
    lib = await doclib(c)
    return lib, (await child(c, lib, "README.md"))["id"]


async def test_folders_cannot_be_locked(onprem: Emu) -> None:
    c = onprem.client()
    lib = await doclib(c)
    specs = await child(c, lib, "Specs")
    assert (await c.post(f"{CORE}/nodes/{specs['id']}/lock", json={})).status_code == 400


async def test_lock_blocks_others_but_not_owner(onprem: Emu) -> None:
    lib, readme = await _readme(onprem)
    alice, admin = onprem.client("alice"), onprem.client("admin")
    r = await alice.post(
        f"{CORE}/nodes/{readme}/lock",
        params={"include": "isLocked"},
        json={"type": "ALLOW_OWNER_CHANGES", "lifetime": "PERSISTENT"},
    )
    assert r.status_code == 200, r.text
    e = r.json()["entry"]
    assert e["isLocked"] is True and e["properties"]["cm:lockOwner"]["id"] == "alice"
    assert e["properties"]["cm:lockType"] == "WRITE_LOCK" and "cm:lockable" in e["aspectNames"]
    assert (await admin.put(f"{CORE}/nodes/{readme}/content", content=b"x")).status_code == 409
    assert (await admin.put(f"{CORE}/nodes/{readme}", json={"properties": {"cm:title": "x"}})).status_code == 409
    assert (await admin.delete(f"{CORE}/nodes/{readme}")).status_code == 409
    specs = (await child(admin, lib, "Specs"))["id"]
    assert (await admin.post(f"{CORE}/nodes/{readme}/move", json={"targetParentId": specs})).status_code == 409
    assert (await alice.put(f"{CORE}/nodes/{readme}/content", content=b"mine")).status_code == 200
    assert (await admin.post(f"{CORE}/nodes/{readme}/lock", json={})).status_code == 422


async def test_full_lock_blocks_owner_too(onprem: Emu) -> None:
    _, readme = await _readme(onprem)
    alice = onprem.client("alice")
    r = await alice.post(f"{CORE}/nodes/{readme}/lock", json={"type": "FULL"})
    assert r.json()["entry"]["properties"]["cm:lockType"] == "READ_ONLY_LOCK"
    assert (await alice.put(f"{CORE}/nodes/{readme}/content", content=b"x")).status_code == 409


async def test_unlock_rules(onprem: Emu) -> None:
    _, readme = await _readme(onprem)
    alice, carol, admin = onprem.client("alice"), onprem.client("carol"), onprem.client("admin")
    assert (await alice.post(f"{CORE}/nodes/{readme}/unlock")).status_code == 422
    assert (await carol.post(f"{CORE}/nodes/{readme}/lock", json={})).status_code == 403
    await alice.post(f"{CORE}/nodes/{readme}/lock", json={})
    assert (await carol.post(f"{CORE}/nodes/{readme}/unlock")).status_code == 403
    r = await admin.post(f"{CORE}/nodes/{readme}/unlock", params={"include": "isLocked"})
    assert r.status_code == 200 and r.json()["entry"]["isLocked"] is False
    assert (await admin.put(f"{CORE}/nodes/{readme}/content", content=b"free")).status_code == 200


async def test_deleting_a_folder_with_a_foreign_lock_is_409(onprem: Emu) -> None:
    c = onprem.client("admin")
    lib = await doclib(c)
    draft = await child(c, lib, "Specs/Drafts/draft-a.md")
    await onprem.client("alice").post(f"{CORE}/nodes/{draft['id']}/lock", json={})
    specs = await child(c, lib, "Specs")
    assert (await c.delete(f"{CORE}/nodes/{specs['id']}")).status_code == 409


async def test_ephemeral_lock_expires(onprem: Emu, wall) -> None:  # type: ignore[no-untyped-def]
    _, readme = await _readme(onprem)
    alice, admin = onprem.client("alice"), onprem.client("admin")
    await alice.post(f"{CORE}/nodes/{readme}/lock", json={"lifetime": "EPHEMERAL", "timeToExpire": 30})
    assert (await admin.put(f"{CORE}/nodes/{readme}/content", content=b"x")).status_code == 409
    wall.now += 31
    assert (await admin.put(f"{CORE}/nodes/{readme}/content", content=b"x")).status_code == 200

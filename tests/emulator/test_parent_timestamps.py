"""Parent timestamps (issue 12, behaviour 3): DbNodeServiceImpl#propagateTimeStamps.

A child association change (create, delete, move in or out, rename) touches the parent folder: cm:modified becomes
the time of the change and cm:modifier the user who made it. Search sees the new modifiedAt, after the index lag.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.emulator.conftest import CORE, SEARCH, Emu, child, doclib, mkdir, upload


async def _folder(c: httpx.AsyncClient, node_id: str) -> dict[str, Any]:
    r = await c.get(f"{CORE}/nodes/{node_id}")
    assert r.status_code == 200, r.text
    return dict(r.json()["entry"])


async def _changes(wall, c: httpx.AsyncClient, folder: str, change) -> tuple[dict[str, Any], dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The folder before and after `change`, made a minute later (so modifiedAt must move to be seen)."""
    before = await _folder(c, folder)
    wall.now += 60
    await change()
    return before, await _folder(c, folder)


async def test_create_touches_the_parent_with_the_creator(onprem: Emu, wall) -> None:  # type: ignore[no-untyped-def]
    """DbNodeServiceImpl#createNode -> #propagateTimeStamps; the modifier is the child's (AuditableTransactionListener)."""
    admin, alice = onprem.client(), onprem.client("alice")
    lib = await doclib(admin)
    specs = (await child(admin, lib, "Specs"))["id"]
    library_before = await _folder(alice, lib)
    before, after = await _changes(wall, alice, specs, lambda: upload(alice, specs, "new.txt", b"n"))
    assert after["modifiedAt"] > before["modifiedAt"]
    assert before["modifiedByUser"]["id"] == "admin" and after["modifiedByUser"]["id"] == "alice"
    _, after_folder = await _changes(wall, alice, specs, lambda: mkdir(alice, specs, "sub"))
    assert after_folder["modifiedAt"] > after["modifiedAt"]
    assert (await _folder(alice, lib))["modifiedAt"] == library_before["modifiedAt"], "only the direct parent moves"


async def test_delete_touches_the_parent_with_the_deleter(onprem: Emu, wall) -> None:  # type: ignore[no-untyped-def]
    """DbNodeServiceImpl#deleteNode propagates before archiving; the child has gone, so the modifier is the
    user who deleted it (AuditableTransactionListener#processSingle)."""
    sync = onprem.client("sync")
    lib = await doclib(sync)
    drafts = (await child(sync, lib, "Specs/Drafts"))["id"]
    draft = (await child(sync, drafts, "draft-a.md"))["id"]
    before, after = await _changes(wall, sync, drafts, lambda: sync.delete(f"{CORE}/nodes/{draft}"))
    assert after["modifiedAt"] > before["modifiedAt"] and after["modifiedByUser"]["id"] == "sync"
    deleted = (await sync.get(f"{CORE}/deleted-nodes/{draft}")).json()["entry"]
    assert deleted["modifiedAt"] < after["modifiedAt"], "archiving disables cm:auditable: the node keeps its modifiedAt"


async def test_move_touches_both_parents_and_a_rename_its_own(onprem: Emu, wall) -> None:  # type: ignore[no-untyped-def]
    """DbNodeServiceImpl#moveNode: old and new parent on a move; the parent on a rename (ALF-10884), whether by
    PUT name, move with a new name in the same folder, or PUT content with `name`."""
    alice = onprem.client("alice")
    lib = await doclib(alice)
    specs, images = (await child(alice, lib, "Specs"))["id"], (await child(alice, lib, "Images"))["id"]
    mine = (await upload(alice, specs, "mine.txt", b"m")).json()["entry"]["id"]
    old_before = await _folder(alice, specs)
    new_before, new_after = await _changes(
        wall, alice, images, lambda: alice.post(f"{CORE}/nodes/{mine}/move", json={"targetParentId": images})
    )
    old_after = await _folder(alice, specs)
    assert old_after["modifiedAt"] > old_before["modifiedAt"] and new_after["modifiedAt"] > new_before["modifiedAt"]
    renames = [
        lambda: alice.put(f"{CORE}/nodes/{mine}", json={"name": "renamed.txt"}),
        lambda: alice.post(f"{CORE}/nodes/{mine}/move", json={"targetParentId": images, "name": "again.txt"}),
        lambda: alice.put(f"{CORE}/nodes/{mine}/content", params={"name": "third.txt"}, content=b"x"),
    ]
    for rename in renames:
        before, after = await _changes(wall, alice, images, rename)
        assert after["modifiedAt"] > before["modifiedAt"]


async def test_edits_that_are_not_child_changes_leave_the_parent(onprem: Emu, wall) -> None:  # type: ignore[no-untyped-def]
    """Content, properties and locks are not child association changes; a restore runs with cm:auditable
    disabled (DbNodeServiceImpl#restoreNode), so it moves neither the parent's nor the node's modifiedAt."""
    sync = onprem.client("sync")
    lib = await doclib(sync)
    notes = (await child(sync, lib, "Meeting Notes"))["id"]
    file_id = (await child(sync, notes, "attendance.csv"))["id"]
    edits = [
        lambda: sync.put(f"{CORE}/nodes/{file_id}/content", content=b"new"),
        lambda: sync.put(f"{CORE}/nodes/{file_id}", json={"properties": {"cm:title": "t"}}),
        lambda: sync.post(f"{CORE}/nodes/{file_id}/lock", json={}),
        lambda: sync.post(f"{CORE}/nodes/{file_id}/unlock"),
    ]
    for edit in edits:
        before, after = await _changes(wall, sync, notes, edit)
        assert after["modifiedAt"] == before["modifiedAt"]
    node_before = await _folder(sync, file_id)
    await sync.delete(f"{CORE}/nodes/{file_id}")
    before, after = await _changes(wall, sync, notes, lambda: sync.post(f"{CORE}/deleted-nodes/{file_id}/restore"))
    assert after["modifiedAt"] == before["modifiedAt"]
    assert (await _folder(sync, file_id))["modifiedAt"] == node_before["modifiedAt"]


async def test_search_sees_a_folder_whose_child_was_added_after_the_lag(onprem: Emu, wall) -> None:  # type: ignore[no-untyped-def]
    """The propagated modifiedAt is what the index holds: a cm:modified range finds the folder, once the index lag
    (here 10 s) has passed, which an incremental scan by search + parent timestamps relies on."""
    sync = onprem.client("sync")
    lib = await doclib(sync)
    wall.now += 3600
    since = _iso(wall.now - 1)
    await sync.put("/_emulator/search", json={"lagSeconds": 10})
    drafts = (await child(sync, lib, "Specs/Drafts"))["id"]
    await upload(sync, drafts, "late.txt", b"l")
    query = {"query": {"query": f'ANCESTOR:"workspace://SpacesStore/{lib}" AND cm:modified:["{since}" TO MAX]'}}
    assert (await sync.post(SEARCH, json=query)).json()["list"]["entries"] == []
    wall.now += 11
    found = {e["entry"]["name"] for e in (await sync.post(SEARCH, json=query)).json()["list"]["entries"]}
    assert found == {"Drafts", "late.txt"}, "the folder shows up as modified, its own parent does not"


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

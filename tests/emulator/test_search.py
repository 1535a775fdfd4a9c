"""AFTS subset and index lag."""

from __future__ import annotations

from typing import Any

import httpx

from tests.emulator.conftest import SEARCH, Emu, child, doclib, mkdir, upload


async def _search(c: httpx.AsyncClient, query: str, **body: Any) -> httpx.Response:
    return await c.post(SEARCH, json={"query": {"query": query, "language": "afts"}, **body})


def _names(r: httpx.Response) -> set[str]:
    return {e["entry"]["name"] for e in r.json()["list"]["entries"]}


async def test_ancestor_type_and_parent(onprem: Emu) -> None:
    c = onprem.client()
    lib = await doclib(c)
    specs = await child(c, lib, "Specs")
    r = await _search(c, f'ANCESTOR:"workspace://SpacesStore/{specs["id"]}" AND TYPE:"cm:content"')
    assert r.status_code == 200, r.text
    assert _names(r) == {
        *(f"spec-{i:03d}.md" for i in range(1, 9)),
        "api.json",
        "requirements.txt",
        "Architecture.pdf",
        "draft-a.md",
        "draft-b.txt",
    }
    folders = await _search(c, f'ANCESTOR:"workspace://SpacesStore/{lib}" AND TYPE:"cm:folder"')
    assert _names(folders) == {"Specs", "Drafts", "Meeting Notes", "Images"}
    drafts = await child(c, specs["id"], "Drafts")
    either = await _search(c, f'(PARENT:"workspace://SpacesStore/{drafts["id"]}" OR cm:name:"logo.png") AND TYPE:"cm:content"')
    assert _names(either) == {"draft-a.md", "draft-b.txt", "logo.png"}
    top_or = await _search(c, f'PARENT:"workspace://SpacesStore/{drafts["id"]}" OR cm:name:"logo.png"')
    assert _names(top_or) == {"draft-a.md", "draft-b.txt", "logo.png"}
    narrowed = await _search(c, f'PARENT:"workspace://SpacesStore/{drafts["id"]}" AND NOT cm:name:"draft-a.md"')
    assert _names(narrowed) == {"draft-b.txt"}
    assert (await _search(c, "FOO:bar")).status_code == 400


async def test_modified_range_and_paging(onprem: Emu, wall) -> None:  # type: ignore[no-untyped-def]
    c = onprem.client()
    lib = await doclib(c)
    wall.now += 3600
    await upload(c, lib, "fresh.txt", b"new")
    readme = await child(c, lib, "README.md")
    await c.put(
        f"/alfresco/api/-default-/public/alfresco/versions/1/nodes/{readme['id']}",
        json={"properties": {"cm:title": "x"}},
    )
    q = f'ANCESTOR:"workspace://SpacesStore/{lib}" AND cm:modified:[{_iso(wall.now - 60)} TO MAX]'
    r = await _search(c, q)
    assert _names(r) == {"fresh.txt", "README.md"}
    page = await _search(c, f'ANCESTOR:"workspace://SpacesStore/{lib}"', paging={"maxItems": 5, "skipCount": 5})
    p = page.json()["list"]["pagination"]
    assert p["count"] == 5 and p["skipCount"] == 5 and p["hasMoreItems"] is True


async def test_index_lag_hides_recent_changes(onprem: Emu, wall) -> None:  # type: ignore[no-untyped-def]
    c = onprem.client()
    lib = await doclib(c)
    assert (await c.put("/_emulator/search", json={"lagSeconds": 10})).status_code == 200
    await mkdir(c, lib, "lagging")
    q = f'ANCESTOR:"workspace://SpacesStore/{lib}" AND TYPE:"cm:folder"'
    assert "lagging" not in _names(await _search(c, q))
    wall.now += 11
    assert "lagging" in _names(await _search(c, q))


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_ancestor_follows_moves_and_deletes(onprem: Emu) -> None:
    """ANCESTOR is answered from each node's ancestry as it is now: a moved folder's content is found below its new
    folder only, a deleted node nowhere, and the ancestor itself is not below itself."""
    c = onprem.client()
    lib = await doclib(c)
    a = (await mkdir(c, lib, "A")).json()["entry"]
    b = (await mkdir(c, lib, "B")).json()["entry"]
    inner = (await mkdir(c, a["id"], "inner")).json()["entry"]
    await upload(c, inner["id"], "deep.txt", b"deep")
    gone = (await upload(c, inner["id"], "gone.txt", b"gone")).json()["entry"]

    def below(node: dict[str, Any]) -> str:
        return f'ANCESTOR:"workspace://SpacesStore/{node["id"]}"'

    assert _names(await _search(c, below(a))) == {"inner", "deep.txt", "gone.txt"}
    moved = await c.post(
        f"/alfresco/api/-default-/public/alfresco/versions/1/nodes/{inner['id']}/move", json={"targetParentId": b["id"]}
    )
    assert moved.status_code == 200, moved.text
    deleted = await c.delete(f"/alfresco/api/-default-/public/alfresco/versions/1/nodes/{gone['id']}")
    assert deleted.status_code == 204, deleted.text
    assert _names(await _search(c, below(a))) == set()
    assert _names(await _search(c, below(b))) == {"inner", "deep.txt"}
    assert _names(await _search(c, f"{below(b)} OR {below(a)}")) == {"inner", "deep.txt"}

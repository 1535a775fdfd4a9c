"""Routes a client expects (issue 12, behaviour 6): site members, a person's sites, version revert, deleted-node
content, a child under a file, unlock by a site manager, and the AFTS a client writes (bare terms, SITE:, PATH:,
ASPECT:, date maths, filterQueries, relevance order)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.emulator.conftest import CORE, SEARCH, Emu, child, doclib, error_key, upload


async def test_site_members(onprem: Emu) -> None:
    """SitesImpl#getSiteMembers: {id, person, role} per member."""
    r = await onprem.client("carol").get(f"{CORE}/sites/engineering/members")
    assert r.status_code == 200, r.text
    members = {e["entry"]["id"]: e["entry"] for e in r.json()["list"]["entries"]}
    assert {k: v["role"] for k, v in members.items()} == {
        "admin": "SiteManager",
        "alice": "SiteCollaborator",
        "carol": "SiteConsumer",
        "sync": "SiteManager",
    }
    assert members["alice"]["person"]["firstName"] == "Alice"
    assert (await onprem.client().get(f"{CORE}/sites/nope/members")).status_code == 404


async def test_a_persons_sites(cloud: Emu) -> None:
    """SitesImpl#getSites: SiteRole {id, guid, role, site} for each site the person is a member of."""
    sync = cloud.client("sync@acme.com", "sync")
    core = "/alfresco/api/-default-/public/alfresco/versions/1"
    r = await sync.get(f"{core}/people/-me-/sites")
    assert r.status_code == 200, r.text
    (entry,) = [e["entry"] for e in r.json()["list"]["entries"]]
    assert entry["id"] == "partners" and entry["role"] == "SiteCollaborator" and entry["site"]["title"] == "Partners"
    bobs = await sync.get(f"{core}/people/bob@acme.com/sites")
    assert [e["entry"]["role"] for e in bobs.json()["list"]["entries"]] == ["SiteCollaborator"]
    assert (await sync.get(f"{core}/people/nobody@acme.com/sites")).status_code == 404


async def test_version_revert(onprem: Emu) -> None:
    """NodeVersionsRelation#revertById: the old content becomes a new version, MINOR unless majorVersion."""
    c = onprem.client("sync")
    lib = await doclib(c)
    node = (await upload(c, lib, "r.txt", b"one")).json()["entry"]["id"]
    await c.put(f"{CORE}/nodes/{node}/content", content=b"two")
    r = await c.post(f"{CORE}/nodes/{node}/versions/1.0/revert", json={"comment": "back to one"})
    assert r.status_code == 200, r.text
    assert r.json()["entry"]["id"] == "1.2" and r.json()["entry"]["versionComment"] == "back to one"
    assert (await c.get(f"{CORE}/nodes/{node}/content")).content == b"one"
    major = await c.post(f"{CORE}/nodes/{node}/versions/1.1/revert", json={"majorVersion": True})
    assert major.json()["entry"]["id"] == "2.0"
    assert (await c.post(f"{CORE}/nodes/{node}/versions/9.9/revert", json={})).status_code == 404
    assert (await onprem.client("carol").post(f"{CORE}/nodes/{node}/versions/1.0/revert", json={})).status_code == 403


async def test_deleted_node_content(onprem: Emu) -> None:
    """DeletedNodesImpl#getContent: the bytes of a file in the trashcan, with Range like live content."""
    c = onprem.client("sync")
    lib = await doclib(c)
    node = (await upload(c, lib, "gone.txt", b"0123456789")).json()["entry"]["id"]
    await c.delete(f"{CORE}/nodes/{node}")
    assert (await c.get(f"{CORE}/deleted-nodes/{node}/content")).content == b"0123456789"
    part = await c.get(f"{CORE}/deleted-nodes/{node}/content", headers={"Range": "bytes=2-4"})
    assert part.status_code == 206 and part.content == b"234"
    assert (await c.get(f"{CORE}/deleted-nodes/{lib}/content")).status_code == 404


async def test_a_child_under_a_file_is_422(onprem: Emu) -> None:
    """NodesImpl#createNode does not check the parent's type; the integrity checker refuses a cm:contains child of
    cm:content (422). NodesImpl#upload checks first: "NodeId of folder is expected" (400)."""
    c = onprem.client("sync")
    lib = await doclib(c)
    readme = (await child(c, lib, "README.md"))["id"]
    r = await c.post(f"{CORE}/nodes/{readme}/children", json={"name": "x", "nodeType": "cm:folder"})
    assert r.status_code == 422 and error_key(r) == "framework.exception.IntegrityException"
    assert (await upload(c, readme, "x.txt", b"x")).status_code == 400


async def test_unlock_by_the_site_manager_not_a_collaborator(onprem: Emu) -> None:
    """LockService.unlock needs Unlock: the lock owner, the node's owner, a SiteManager (Coordinator) or the admin;
    a SiteCollaborator cannot break another user's lock (403)."""
    sync, alice, carol = onprem.client("sync"), onprem.client("alice"), onprem.client("carol")
    lib = await doclib(sync)
    node = (await child(sync, lib, "tiny.txt"))["id"]
    await alice.post(f"{CORE}/nodes/{node}/lock", json={})
    await onprem.client(None).post(
        "/_emulator/users", json={"id": "dave", "password": "dave", "sites": {"engineering": "SiteCollaborator"}}
    )
    assert (await onprem.client("dave").post(f"{CORE}/nodes/{node}/unlock")).status_code == 403
    assert (await carol.post(f"{CORE}/nodes/{node}/unlock")).status_code == 403
    r = await sync.post(f"{CORE}/nodes/{node}/unlock", params={"include": "isLocked"})
    assert r.status_code == 200 and r.json()["entry"]["isLocked"] is False
    mine = (await upload(alice, lib, "alices.txt", b"a")).json()["entry"]["id"]
    await sync.post(f"{CORE}/nodes/{mine}/lock", json={})
    assert (await alice.post(f"{CORE}/nodes/{mine}/unlock")).status_code == 200, "the node's owner may unlock"


async def _names(c: httpx.AsyncClient, query: str, **body: Any) -> list[str]:
    r = await c.post(SEARCH, json={"query": {"query": query}, **body})
    assert r.status_code == 200, r.text
    return [e["entry"]["name"] for e in r.json()["list"]["entries"]]


async def test_afts_bare_terms_search_text_in_relevance_order(onprem: Emu) -> None:
    """LuceneQueryParser#textFieldQuery over AlfrescoDefaultTextFields (cm:name, cm:title, cm:description,
    cm:content); without `sort` the best score comes first."""
    c = onprem.client("sync")
    lib = await doclib(c)
    await upload(c, lib, "zebra notes.txt", b"zebra zebra zebra")
    await upload(c, lib, "plain.txt", b"one zebra only")
    await upload(c, lib, "titled.bin", b"\x00", **{"cm:title": "Zebra crossing"})
    assert await _names(c, "zebra") == ["zebra notes.txt", "plain.txt", "titled.bin"]
    assert await _names(c, '"zebra crossing"') == ["titled.bin"]
    assert await _names(c, "zeb*") == ["zebra notes.txt", "plain.txt", "titled.bin"]
    assert await _names(c, "zebra AND NOT crossing") == ["zebra notes.txt", "plain.txt"]
    assert await _names(c, "zebra -notes") == ["plain.txt", "titled.bin"]
    assert await _names(c, "zebra", sort=[{"type": "FIELD", "field": "cm:name", "ascending": True}]) == [
        "plain.txt",
        "titled.bin",
        "zebra notes.txt",
    ]


async def test_afts_site_path_and_aspect(onprem: Emu) -> None:
    """LuceneQueryParser#siteQuery (what the site's node holds, not the site node), PathQueryConverter (ISO9075,
    `*` one step, `//` any), LuceneQueryParser#aspectQuery; TYPE includes subtypes (st:site is a cm:folder)."""
    c = onprem.client("sync")
    lib = await doclib(c)
    in_site = await _names(c, 'SITE:"engineering" AND TYPE:"cm:folder"')
    assert set(in_site) == {"documentLibrary", "Specs", "Drafts", "Meeting Notes", "Images"}, "not the st:site node itself"
    assert "engineering" in await _names(c, f'TYPE:"cm:folder" AND NOT ANCESTOR:"workspace://SpacesStore/{lib}"')
    assert await _names(c, 'SITE:"elsewhere"') == []
    children = await _names(c, 'PATH:"/app:company_home/st:sites/cm:engineering/cm:documentLibrary/cm:Specs/*"')
    assert "Drafts" in children and "draft-a.md" not in children and len(children) == 12
    below = await _names(c, 'PATH:"/app:company_home/st:sites/cm:engineering/cm:documentLibrary/cm:Specs//*"')
    assert "draft-a.md" in below and len(below) == 14
    spaced = await _names(c, 'PATH:"/app:company_home/st:sites/cm:engineering/cm:documentLibrary/cm:Meeting_x0020_Notes"')
    assert spaced == ["Meeting Notes"]
    node = (await upload(c, lib, "kept.txt", b"k", versioningEnabled="false")).json()["entry"]["id"]
    assert "kept.txt" not in await _names(c, 'ASPECT:"cm:versionable"')
    await c.post(f"{CORE}/nodes/{node}/lock", json={})
    assert "kept.txt" in await _names(c, 'ASPECT:"cm:lockable"')
    assert set(await _names(c, 'ASPECT:"cm:titled"')) == {"README.md", *(f"spec-{i:03d}.md" for i in range(1, 9))}
    assert (await c.post(SEARCH, json={"query": {"query": "NOSUCHFIELD:x"}})).status_code == 400


@pytest.mark.parametrize(
    ("expression", "found"),
    [
        ("[NOW-1DAY TO NOW]", True),
        ("[NOW-2HOURS TO MAX]", False),
        ("[NOW/DAY-1DAY TO NOW+1YEAR]", True),
        ("[MIN TO NOW-1WEEK]", False),
        ('["2026-11-01T00:00:00Z+1MONTH" TO MAX]', False),
    ],
)
async def test_afts_date_maths(onprem: Emu, wall, expression: str, found: bool) -> None:  # type: ignore[no-untyped-def]
    """DateMathConverter: NOW and ISO dates with +N/-N SECOND..YEAR (plurals too) and /UNIT rounding."""
    c = onprem.client("sync")
    lib = await doclib(c)
    wall.now = 1_795_000_000.0  # 2026-11-18T...; the seed was made at this instant
    await upload(c, lib, "fresh.txt", b"f")
    wall.now += 3 * 3600
    names = await _names(c, f"cm:name:fresh AND cm:modified:{expression}")
    assert ("fresh.txt" in names) is found


async def test_search_filter_queries_narrow_without_scoring(onprem: Emu) -> None:
    """RequestFilterQueries: every filter must match; the score comes from the query alone."""
    c = onprem.client("sync")
    lib = await doclib(c)
    specs = (await child(c, lib, "Specs"))["id"]
    body = {"filterQueries": [{"query": f'ANCESTOR:"workspace://SpacesStore/{specs}"'}, {"query": 'TYPE:"cm:content"'}]}
    names = await _names(c, "specification", **body)
    assert names and all(n.startswith("spec-") for n in names)
    assert (await c.post(SEARCH, json={"query": {"query": "x"}, "filterQueries": [{"nope": 1}]})).status_code == 400

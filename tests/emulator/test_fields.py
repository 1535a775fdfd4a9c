"""`fields` and `includeSource` (issue 12, behaviour 5): RecognizedParamsExtractor#getFilter and
NodesImpl#listChildren.

`fields` keeps only the named top-level properties of every entity of a response (a single entry, each list entry,
`list.source`), the `include`d ones in addition; a client that forgets a field it reads does not get it.
"""

from __future__ import annotations

from tests.emulator.conftest import CORE, SEARCH, Emu, child, doclib, upload


async def test_fields_trim_every_listing_entry_and_include_adds(onprem: Emu) -> None:
    c = onprem.client("sync")
    lib = await doclib(c)
    r = await c.get(f"{CORE}/nodes/{lib}/children", params={"fields": "id,name", "include": "properties"})
    assert r.status_code == 200
    entries = [e["entry"] for e in r.json()["list"]["entries"]]
    assert entries and all(set(e) == {"id", "name", "properties"} for e in entries)
    assert r.json()["list"]["pagination"]["totalItems"] == len(entries), "pagination is never trimmed"
    bare = await c.get(f"{CORE}/nodes/{lib}/children", params={"fields": "id,modifiedAt"})
    assert all(set(e["entry"]) == {"id", "modifiedAt"} for e in bare.json()["list"]["entries"])


async def test_fields_trim_single_entities_of_any_kind(onprem: Emu) -> None:
    c = onprem.client("sync")
    lib = await doclib(c)
    readme = (await child(c, lib, "README.md"))["id"]
    one = await c.get(f"{CORE}/nodes/{readme}", params={"fields": "id,content"})
    assert set(one.json()["entry"]) == {"id", "content"}, "properties and aspects, a single node's defaults, are trimmed too"
    made = await upload(c, lib, "f.txt", b"f")
    trimmed_create = await c.post(
        f"{CORE}/nodes/{lib}/children", params={"fields": "id"}, json={"name": "g", "nodeType": "cm:folder"}
    )
    assert made.status_code == 201 and trimmed_create.json()["entry"] == {"id": trimmed_create.json()["entry"]["id"]}
    site = await c.get(f"{CORE}/sites/engineering", params={"fields": "id,role"})
    assert site.json()["entry"] == {"id": "engineering", "role": "SiteManager"}
    people = await c.get(f"{CORE}/people/-me-", params={"fields": "id"})
    assert people.json()["entry"] == {"id": "sync"}


async def test_include_source_returns_the_parent(onprem: Emu) -> None:
    """NodesImpl#listChildren: includeSource=true adds the parent as list.source (full info: properties, aspects),
    trimmed by `fields` like the entries."""
    c = onprem.client("sync")
    lib = await doclib(c)
    specs = (await child(c, lib, "Specs"))["id"]
    r = await c.get(f"{CORE}/nodes/{specs}/children", params={"includeSource": "true", "maxItems": 1})
    source = r.json()["list"]["source"]
    assert source["id"] == specs and source["name"] == "Specs" and "properties" in source and "aspectNames" in source
    assert "source" not in (await c.get(f"{CORE}/nodes/{specs}/children")).json()["list"]
    trimmed = await c.get(f"{CORE}/nodes/{specs}/children", params={"includeSource": "true", "fields": "id"})
    assert trimmed.json()["list"]["source"] == {"id": specs}


async def test_search_body_fields_and_include(onprem: Emu) -> None:
    """The search API's `fields` and `include` (RequestFields, RequestInclude) shape each result the same way."""
    c = onprem.client("sync")
    lib = await doclib(c)
    body = {
        "query": {"query": f'PARENT:"workspace://SpacesStore/{lib}" AND TYPE:"cm:folder"'},
        "fields": ["id", "name"],
        "include": ["path"],
    }
    r = await c.post(SEARCH, json=body)
    assert r.status_code == 200, r.text
    entries = [e["entry"] for e in r.json()["list"]["entries"]]
    assert {e["name"] for e in entries} == {"Specs", "Meeting Notes", "Images"}
    assert all(set(e) == {"id", "name", "path"} for e in entries)

"""Contract: each implemented route, success and error statuses, against the official definitions.

The client hook in conftest already checks every response of every test; this file makes sure each
route and each error status the emulator produces is exercised at least once, and that every API route
the emulator serves exists in the official definitions.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Route

from tests.emulator.conftest import AUTH, CORE, SEARCH, Emu, child, doclib
from tests.support import openapi

pytestmark = pytest.mark.skipif(openapi.spec_dir() is None, reason=openapi.SKIP_REASON)


def test_every_api_route_is_an_official_operation(onprem: Emu) -> None:
    routes = [r for r in onprem.app.starlette.routes if isinstance(r, Route) and r.path.startswith("/alfresco/")]  # type: ignore[attr-defined]
    missing = []
    for route in routes:
        url = "http://x" + route.path.replace("{tenant}", "-default-").replace("{", "").replace("}", "")
        for method in route.methods or []:
            if method != "HEAD" and openapi.match_operation(method, url) is None:
                missing.append(f"{method} {route.path}")
    assert not missing
    assert len(routes) >= 30


async def _cases(onprem: Emu) -> list[tuple[str, str, dict[str, Any], int]]:
    c = onprem.client()
    lib = await doclib(c)
    specs = (await child(c, lib, "Specs"))["id"]
    readme = (await child(c, lib, "README.md"))["id"]
    tiny = (await child(c, lib, "tiny.txt"))["id"]
    n = f"{CORE}/nodes"
    return [
        ("GET", "/alfresco/api/discovery", {}, 200),
        ("POST", f"{AUTH}/tickets", {"json": {"userId": "admin", "password": "admin"}}, 201),
        ("POST", f"{AUTH}/tickets", {"json": {"userId": "admin"}}, 400),
        ("POST", f"{AUTH}/tickets", {"json": {"userId": "admin", "password": "x"}}, 403),
        ("GET", f"{AUTH}/tickets/-me-", {}, 404),
        ("DELETE", f"{AUTH}/tickets/-me-", {}, 404),
        ("GET", f"{CORE}/people/-me-", {}, 200),
        ("GET", f"{CORE}/people/ghost", {}, 404),
        ("GET", f"{CORE}/people/-me-/networks", {}, 200),
        ("GET", f"{CORE}/people/-me-/networks/-default-", {}, 200),
        ("GET", f"{CORE}/networks/-default-", {}, 200),
        ("GET", f"{CORE}/networks/nope", {}, 404),
        ("GET", f"{CORE}/sites", {"params": {"maxItems": 0}}, 400),
        ("GET", f"{CORE}/sites", {}, 200),
        ("GET", f"{CORE}/sites/engineering", {}, 200),
        ("GET", f"{CORE}/sites/engineering/containers", {}, 200),
        ("GET", f"{CORE}/sites/engineering/members", {}, 200),
        ("GET", f"{CORE}/sites/nope/members", {}, 404),
        ("GET", f"{CORE}/people/-me-/sites", {}, 200),
        ("GET", f"{CORE}/people/ghost/sites", {}, 404),
        ("GET", f"{CORE}/sites/engineering/containers/documentLibrary", {}, 200),
        ("GET", f"{n}/{lib}", {"params": {"include": "path,isLocked,allowableOperations"}}, 200),
        ("GET", f"{n}/missing", {}, 404),
        ("GET", f"{n}/{lib}/children", {"params": {"include": "properties,aspectNames,path"}}, 200),
        ("GET", f"{n}/{lib}/children", {"params": {"orderBy": "size sideways"}}, 400),
        ("POST", f"{n}/{lib}/children", {"json": {"name": "c1", "nodeType": "cm:folder"}}, 201),
        ("POST", f"{n}/{lib}/children", {"json": {"name": "c1", "nodeType": "cm:folder"}}, 409),
        ("POST", f"{n}/{lib}/children", {"json": {"name": "c?", "nodeType": "cm:folder"}}, 422),
        ("POST", f"{n}/{tiny}/children", {"json": {"name": "c2", "nodeType": "cm:folder"}}, 422),
        ("GET", f"{n}/{lib}/children", {"params": {"includeSource": "true", "fields": "id,name"}}, 200),
        ("POST", f"{n}/{lib}/children", {"files": {"filedata": ("u.txt", b"u")}}, 201),
        ("POST", f"{n}/{lib}/children", {"data": {"name": "nofile"}, "files": {"other": ("x", b"x")}}, 400),
        ("PUT", f"{n}/{readme}", {"json": {"properties": {"cm:title": "t"}}}, 200),
        ("PUT", f"{n}/{readme}", {"json": {"name": "Specs"}}, 409),
        ("PUT", f"{n}/{readme}", {"json": {"name": "a|b"}}, 422),
        ("PUT", f"{n}/{readme}", {"content": b"[1]", "headers": {"content-type": "application/json"}}, 400),
        ("GET", f"{n}/{readme}/content", {}, 200),
        ("GET", f"{n}/{readme}/content", {"headers": {"Range": "bytes=0-1"}}, 206),
        ("GET", f"{n}/{readme}/content", {"headers": {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}}, 304),
        ("GET", f"{n}/{readme}/content", {"headers": {"Range": "bytes=99999999-"}}, 416),
        ("GET", f"{n}/{specs}/content", {}, 400),
        ("PUT", f"{n}/{readme}/content", {"content": b"v2"}, 200),
        ("PUT", f"{n}/{specs}/content", {"content": b"v2"}, 400),
        ("GET", f"{n}/{readme}/versions", {}, 200),
        ("GET", f"{n}/{readme}/versions/1.0", {}, 200),
        ("GET", f"{n}/{readme}/versions/9.9", {}, 404),
        ("GET", f"{n}/{readme}/versions/1.0/content", {}, 200),
        ("POST", f"{n}/{readme}/versions/1.0/revert", {"json": {"comment": "back"}}, 200),
        ("POST", f"{n}/{readme}/versions/7.7/revert", {"json": {}}, 404),
        ("POST", f"{n}/{readme}/lock", {"json": {"type": "SOMETIMES"}}, 400),
        ("POST", f"{n}/{specs}/lock", {"json": {}}, 400),
        ("POST", f"{n}/{readme}/unlock", {}, 422),
        ("POST", f"{n}/{readme}/lock", {"json": {"type": "FULL"}}, 200),
        ("PUT", f"{n}/{readme}/content", {"content": b"v3"}, 409),
        ("DELETE", f"{n}/{readme}", {}, 409),
        ("POST", f"{n}/{readme}/unlock", {}, 200),
        ("POST", f"{n}/{tiny}/copy", {"json": {"targetParentId": specs}}, 201),
        ("POST", f"{n}/{tiny}/copy", {"json": {"targetParentId": "ghost"}}, 404),
        ("POST", f"{n}/{tiny}/move", {"json": {"targetParentId": specs}}, 409),
        ("POST", f"{n}/{tiny}/move", {"json": {"targetParentId": specs, "name": "tiny2.txt"}}, 200),
        ("POST", f"{n}/{tiny}/move", {"json": {}}, 400),
        ("DELETE", f"{n}/{tiny}", {}, 204),
        ("DELETE", f"{n}/{lib}", {}, 403),
        ("GET", f"{CORE}/deleted-nodes", {}, 200),
        ("GET", f"{CORE}/deleted-nodes/{tiny}", {}, 200),
        ("GET", f"{CORE}/deleted-nodes/{tiny}/content", {}, 200),
        ("GET", f"{CORE}/deleted-nodes/{readme}", {}, 404),
        ("POST", f"{CORE}/deleted-nodes/{tiny}/restore", {"json": {"targetParentId": lib}}, 200),
        ("POST", f"{CORE}/deleted-nodes/{tiny}/restore", {}, 404),
        ("DELETE", f"{n}/{tiny}", {}, 204),
        ("DELETE", f"{CORE}/deleted-nodes/{tiny}", {}, 204),
        ("POST", SEARCH, {"json": {"query": {"query": f'ANCESTOR:"workspace://SpacesStore/{lib}"'}, "include": ["path"]}}, 200),
        ("POST", SEARCH, {"json": {"query": {"query": "cm:modified:[bogus TO MAX]"}}}, 400),
        (
            "POST",
            SEARCH,
            {"json": {"query": {"query": "spec"}, "fields": ["id", "name"], "filterQueries": [{"query": "SITE:engineering"}]}},
            200,
        ),
        ("POST", SEARCH, {"json": {}}, 400),
    ]


async def test_each_route_and_status_conforms(onprem: Emu) -> None:
    admin = onprem.client()
    seen: list[str] = []
    for method, path, kwargs, expected in await _cases(onprem):
        r = await admin.request(method, path, **kwargs)
        assert r.status_code == expected, f"{method} {path} {kwargs}: {r.status_code} {r.text[:300]}"
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else None
        if body is not None:
            trimmed = openapi.asks_for_fields(r.request)
            problems = openapi.validate_response(method, str(r.request.url), r.status_code, body, trimmed=trimmed)
            assert not problems, f"{method} {path} -> {r.status_code}: {problems}"
        if r.status_code >= 400:
            err = body["error"]  # type: ignore[index]
            assert err["briefSummary"].startswith(err["logId"])
            assert err["stackTrace"].startswith("For security reasons")
            assert err["descriptionURL"] == "https://api-explorer.alfresco.com"
        seen.append(f"{r.status_code}")
    assert {"200", "201", "204", "206", "304", "400", "401", "403", "404", "409", "416", "422"} - set(seen) <= {"401"}


async def test_401_and_cloud_only_statuses_conform(cloud: Emu) -> None:
    anon = cloud.client(None)
    r = await anon.get("/alfresco/api/acme.com/public/alfresco/versions/1/sites")
    assert r.status_code == 401
    assert not openapi.validate_response("GET", str(r.request.url), 401, r.json())
    admin = cloud.client()
    await admin.put("/_emulator/networks/acme.com", json={"sizeLimit": 1})
    lib = (await admin.get("/alfresco/api/acme.com/public/alfresco/versions/1/sites/partners/containers/documentLibrary")).json()[
        "entry"
    ]["id"]
    big = await admin.post(
        f"/alfresco/api/acme.com/public/alfresco/versions/1/nodes/{lib}/children", files={"filedata": ("b.bin", b"bb")}
    )
    assert big.status_code == 413
    assert not openapi.validate_response("POST", str(big.request.url), 413, big.json())
    await admin.put("/_emulator/networks/acme.com", json={"sizeLimit": -1, "storageLimit": 0})
    full = await admin.post(
        f"/alfresco/api/acme.com/public/alfresco/versions/1/nodes/{lib}/children", files={"filedata": ("b.bin", b"bb")}
    )
    assert full.status_code == 507
    assert not openapi.validate_response("POST", str(full.request.url), 507, full.json())

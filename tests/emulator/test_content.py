"""Content: streamed upload and download, Range, If-Modified-Since, versions, size limits and quotas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from tests.emulator.conftest import CORE, Emu, child, doclib, upload


async def test_upload_download_roundtrip_and_range(onprem: Emu) -> None:
    c = onprem.client()
    lib = await doclib(c)
    data = bytes(range(256)) * 1000
    r = await upload(c, lib, "blob.bin", data, **{"cm:title": "A blob"})
    assert r.status_code == 201, r.text
    e = r.json()["entry"]
    assert e["content"]["sizeInBytes"] == len(data)
    assert e["properties"]["cm:versionLabel"] == "1.0" and e["properties"]["cm:title"] == "A blob"
    got = await c.get(f"{CORE}/nodes/{e['id']}/content")
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-disposition"].startswith("attachment")
    inline = await c.get(f"{CORE}/nodes/{e['id']}/content", params={"attachment": "false"})
    assert inline.headers["content-disposition"].startswith("inline")
    part = await c.get(f"{CORE}/nodes/{e['id']}/content", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
    tail = await c.get(f"{CORE}/nodes/{e['id']}/content", headers={"Range": "bytes=-5"})
    assert tail.content == data[-5:]
    beyond = await c.get(f"{CORE}/nodes/{e['id']}/content", headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416


async def test_if_modified_since(onprem: Emu, wall) -> None:  # type: ignore[no-untyped-def]
    c = onprem.client()
    lib = await doclib(c)
    node = await child(c, lib, "README.md")
    later = format_datetime(datetime.fromtimestamp(wall.now, UTC) + timedelta(hours=1), usegmt=True)
    assert (await c.get(f"{CORE}/nodes/{node['id']}/content", headers={"If-Modified-Since": later})).status_code == 304
    earlier = format_datetime(datetime.fromtimestamp(wall.now, UTC) - timedelta(days=1), usegmt=True)
    assert (await c.get(f"{CORE}/nodes/{node['id']}/content", headers={"If-Modified-Since": earlier})).status_code == 200


async def test_versions_minor_major_and_history(onprem: Emu) -> None:
    c = onprem.client()
    lib = await doclib(c)
    node = await child(c, lib, "README.md")
    url = f"{CORE}/nodes/{node['id']}/content"
    r1 = await c.put(url, content=b"second")
    assert r1.status_code == 200 and r1.json()["entry"]["properties"]["cm:versionLabel"] == "1.1"
    r2 = await c.put(url, params={"majorVersion": "true", "comment": "big"}, content=b"third")
    assert r2.json()["entry"]["properties"]["cm:versionLabel"] == "2.0"
    assert r2.json()["entry"]["modifiedAt"] > r1.json()["entry"]["modifiedAt"]
    versions = (await c.get(f"{CORE}/nodes/{node['id']}/versions")).json()["list"]["entries"]
    assert [v["entry"]["id"] for v in versions] == ["2.0", "1.1", "1.0"]
    old = await c.get(f"{CORE}/nodes/{node['id']}/versions/1.1/content")
    assert old.content == b"second"
    assert (await c.get(url)).content == b"third"


async def test_non_versionable_node_just_gets_new_content(onprem: Emu) -> None:
    c = onprem.client()
    lib = await doclib(c)
    r = await c.post(f"{CORE}/nodes/{lib}/children", json={"name": "empty.txt", "nodeType": "cm:content"})
    assert r.status_code == 201
    e = r.json()["entry"]
    assert e["content"]["sizeInBytes"] == 0 and "cm:versionLabel" not in e["properties"]
    put = await c.put(f"{CORE}/nodes/{e['id']}/content", content=b"hello")
    assert put.json()["entry"]["content"]["sizeInBytes"] == 5
    assert "cm:versionLabel" not in put.json()["entry"]["properties"]
    assert (await c.get(f"{CORE}/nodes/{e['id']}/versions")).json()["list"]["entries"] == []
    made = await c.put(f"{CORE}/nodes/{e['id']}", json={"aspectNames": ["cm:auditable", "cm:versionable"]})
    assert made.json()["entry"]["properties"]["cm:versionLabel"] == "1.0"
    again = await c.put(f"{CORE}/nodes/{e['id']}/content", content=b"hello again")
    assert again.json()["entry"]["properties"]["cm:versionLabel"] == "1.1"


async def test_overwrite_upload_adds_a_version(onprem: Emu) -> None:
    c = onprem.client()
    lib = await doclib(c)
    r = await upload(c, lib, "README.md", b"new bytes", overwrite="true", majorVersion="true")
    assert r.status_code == 201 and r.json()["entry"]["properties"]["cm:versionLabel"] == "2.0"
    assert r.json()["entry"]["content"]["mimeType"] == "text/markdown"


async def test_size_limit_413_and_quota_507(cloud: Emu) -> None:
    admin = cloud.client()
    tenant = "acme.com"
    lib = await _doclib(admin, tenant)
    assert (await admin.put("/_emulator/networks/acme.com", json={"sizeLimit": 100})).status_code == 200
    big = await upload(admin, lib, "big.bin", b"x" * 101, tenant=tenant)
    assert big.status_code == 413
    assert big.json()["error"]["statusCode"] == 413
    ok = await upload(admin, lib, "fits.bin", b"x" * 100, tenant=tenant)
    assert ok.status_code == 201
    put = await admin.put(
        f"/alfresco/api/{tenant}/public/alfresco/versions/1/nodes/{ok.json()['entry']['id']}/content",
        content=b"y" * 500,
    )
    assert put.status_code == 413
    await admin.put("/_emulator/networks/acme.com", json={"sizeLimit": -1, "storageLimit": 150})
    full = await upload(admin, lib, "more.bin", b"z" * 60, tenant=tenant)
    assert full.status_code == 507
    net = (await admin.get(f"/alfresco/api/{tenant}/public/alfresco/versions/1/networks/acme.com")).json()["entry"]
    storage = next(q for q in net["quotas"] if q["id"] == "storageQuota")
    assert storage == {"id": "storageQuota", "limit": 150, "usage": 100}


async def _doclib(client, tenant: str) -> str:  # type: ignore[no-untyped-def]
    r = await client.get(f"/alfresco/api/{tenant}/public/alfresco/versions/1/sites/partners/containers/documentLibrary")
    return str(r.json()["entry"]["id"])

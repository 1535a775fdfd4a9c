"""Versioning on create and update (issue 12, behaviour 2): NodesImpl#upload, #createNode, #createNewFile,
#updateContent / #updateExistingFile / #shouldCreateVersionOnContentUpdate and #findUniqueName."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.emulator.conftest import CORE, Emu, doclib, error_key, mkdir, upload


async def _versions(c: httpx.AsyncClient, node_id: str) -> list[str]:
    r = await c.get(f"{CORE}/nodes/{node_id}/versions")
    assert r.status_code == 200, r.text
    return [v["entry"]["id"] for v in r.json()["list"]["entries"]]


def _label(entry: dict[str, Any]) -> str | None:
    return entry["properties"].get("cm:versionLabel")


@pytest.mark.parametrize(
    ("fields", "label", "versions"),
    [
        ({}, "1.0", ["1.0"]),
        ({"majorVersion": "true"}, "1.0", ["1.0"]),
        ({"majorVersion": "false"}, "0.1", ["0.1"]),
        ({"majorVersion": "false", "comment": "draft"}, "0.1", ["0.1"]),
        ({"versioningEnabled": "false"}, None, []),
        ({"versioningEnabled": "FALSE", "majorVersion": "true"}, None, []),
        ({"versioningEnabled": "nonsense"}, "1.0", ["1.0"]),
    ],
)
async def test_upload_versions_as_nodesimpl_upload(
    onprem: Emu, fields: dict[str, str], label: str | None, versions: list[str]
) -> None:
    """NodesImpl#upload: versioned by default (1.0); majorVersion=false -> 0.1 (SerialVersionLabelPolicy);
    versioningEnabled=false (any case) -> none, anything else keeps versioning on (MNT-22036)."""
    c = onprem.client("sync")
    lib = await doclib(c)
    r = await upload(c, lib, "v.txt", b"v", **fields)
    assert r.status_code == 201, r.text
    e = r.json()["entry"]
    assert _label(e) == label
    assert ("cm:versionable" in e["aspectNames"]) is bool(versions)
    assert await _versions(c, e["id"]) == versions


async def test_upload_flags_are_read_from_form_fields_only(onprem: Emu) -> None:
    """NodesImpl#upload reads formData.getFields(): flags in the query string of a multipart POST do nothing."""
    c = onprem.client("sync")
    lib = await doclib(c)
    r = await c.post(
        f"{CORE}/nodes/{lib}/children",
        params={"versioningEnabled": "false", "majorVersion": "false"},
        files={"filedata": ("q.txt", b"q")},
    )
    assert r.status_code == 201, r.text
    assert _label(r.json()["entry"]) == "1.0"
    again = await c.post(f"{CORE}/nodes/{lib}/children", params={"autoRename": "true"}, files={"filedata": ("q.txt", b"q")})
    assert again.status_code == 409, "autoRename in the query string is not an upload option"


async def test_json_create_of_content_has_no_version_unless_asked(onprem: Emu) -> None:
    """NodesImpl#createNode -> #createNewFile: no version without majorVersion, versioningEnabled or comment in the
    query string; versioningEnabled=true alone means MAJOR."""
    c = onprem.client("sync")
    lib = await doclib(c)
    plain = (await c.post(f"{CORE}/nodes/{lib}/children", json={"name": "a.txt", "nodeType": "cm:content"})).json()["entry"]
    assert _label(plain) is None and "cm:versionable" not in plain["aspectNames"]
    assert await _versions(c, plain["id"]) == []
    minor = await c.post(
        f"{CORE}/nodes/{lib}/children", params={"majorVersion": "false"}, json={"name": "b.txt", "nodeType": "cm:content"}
    )
    assert _label(minor.json()["entry"]) == "0.1"
    enabled = await c.post(
        f"{CORE}/nodes/{lib}/children", params={"versioningEnabled": "true"}, json={"name": "c.txt", "nodeType": "cm:content"}
    )
    assert _label(enabled.json()["entry"]) == "1.0"


async def test_put_content_on_an_unversioned_node(onprem: Emu) -> None:
    """NodesImpl#shouldCreateVersionOnContentUpdate: without versions and without majorVersion or comment, the
    bytes are replaced; with either, #createVersion adds cm:versionable and a version (MAJOR unless
    majorVersion=false)."""
    c = onprem.client("sync")
    lib = await doclib(c)

    async def fresh(name: str) -> str:
        r = await c.post(f"{CORE}/nodes/{lib}/children", json={"name": name, "nodeType": "cm:content"})
        return str(r.json()["entry"]["id"])

    quiet = await fresh("quiet.txt")
    r = await c.put(f"{CORE}/nodes/{quiet}/content", content=b"x")
    assert _label(r.json()["entry"]) is None and await _versions(c, quiet) == []
    minor = await fresh("minor.txt")
    r = await c.put(f"{CORE}/nodes/{minor}/content", params={"majorVersion": "false"}, content=b"x")
    assert _label(r.json()["entry"]) == "0.1" and "cm:versionable" in r.json()["entry"]["aspectNames"]
    commented = await fresh("commented.txt")
    r = await c.put(f"{CORE}/nodes/{commented}/content", params={"comment": "why"}, content=b"x")
    assert _label(r.json()["entry"]) == "1.0"
    history = (await c.get(f"{CORE}/nodes/{commented}/versions")).json()["list"]["entries"]
    assert history[0]["entry"]["versionComment"] == "why"
    r = await c.put(f"{CORE}/nodes/{commented}/content", content=b"y")
    assert _label(r.json()["entry"]) == "1.1", "a versioned node gets a MINOR version when nothing is asked"


async def test_overwrite_only_replaces_a_versionable_file(onprem: Emu) -> None:
    """NodesImpl#upload: overwrite of a versionable file adds a version (#updateExistingFile); of a file without
    cm:versionable it is a name clash (409, ConstraintViolatedException); overwrite+autoRename is a 400."""
    c = onprem.client("sync")
    lib = await doclib(c)
    first = (await upload(c, lib, "o.txt", b"1")).json()["entry"]
    r = await upload(c, lib, "o.txt", b"2", overwrite="true")
    assert r.status_code == 201 and r.json()["entry"]["id"] == first["id"] and _label(r.json()["entry"]) == "1.1"
    r = await upload(c, lib, "o.txt", b"3", overwrite="true", majorVersion="true", comment="big")
    assert _label(r.json()["entry"]) == "2.0"
    plain = (await upload(c, lib, "p.txt", b"1", versioningEnabled="false")).json()["entry"]
    clash = await upload(c, lib, "p.txt", b"2", overwrite="true")
    assert clash.status_code == 409 and error_key(clash) == "framework.exception.ConstraintViolated"
    assert (await c.get(f"{CORE}/nodes/{plain['id']}/content")).content == b"1"
    both = await upload(c, lib, "o.txt", b"4", overwrite="true", autoRename="true")
    assert both.status_code == 400
    assert (await mkdir(c, lib, "f")).status_code == 201
    assert (await upload(c, lib, "f", b"x", overwrite="true")).status_code == 409


@pytest.mark.parametrize(
    ("name", "renamed"),
    [("report.txt", "report-1.txt"), ("archive.tar.gz", "archive.tar-1.gz"), ("README", "README-1"), (".hidden", "1.hidden")],
)
async def test_auto_rename_names_as_find_unique_name(onprem: Emu, name: str, renamed: str) -> None:
    """NodesImpl#findUniqueName: `-N` before the last dot, after a name without one, `N` before a leading dot."""
    c = onprem.client("sync")
    lib = await doclib(c)
    assert (await upload(c, lib, name, b"1")).status_code == 201
    r = await upload(c, lib, name, b"2", autoRename="true")
    assert r.status_code == 201 and r.json()["entry"]["name"] == renamed
    third = await upload(c, lib, name, b"3", autoRename="true")
    assert third.json()["entry"]["name"] == renamed.replace("1", "2", 1)
    folder = await c.post(
        f"{CORE}/nodes/{lib}/children", params={"autoRename": "true"}, json={"name": name, "nodeType": "cm:folder"}
    )
    assert folder.status_code == 201 and folder.json()["entry"]["name"] == renamed.replace("1", "3", 1)

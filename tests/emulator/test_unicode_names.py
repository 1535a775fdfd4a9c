"""Downloads of files whose names are not Latin-1 (an NFD accent, CJK) answer 200 with an RFC 6266 header.

The emulator used to put the raw name into `Content-Disposition`; HTTP headers are Latin-1, so such a
download failed with a 500 and the sync could not read the file at all.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote

import pytest

from tests.emulator.conftest import CORE, Emu, doclib, upload

NAMES = [
    unicodedata.normalize("NFD", "café.txt"),  # e + U+0301: not Latin-1
    unicodedata.normalize("NFC", "café.txt"),  # é: Latin-1, but not ASCII
    "報告書.txt",
    "it's 100%20 ✓; a=b.txt",  # ', %, ; and = must survive the percent-encoding and the parsing
]


@pytest.mark.parametrize("name", NAMES, ids=["nfd", "nfc", "cjk", "punctuation"])
async def test_download_of_a_non_latin1_name(onprem: Emu, name: str) -> None:
    c = onprem.client()
    lib = await doclib(c)
    data = f"bytes of {name}".encode()
    r = await upload(c, lib, name, data)
    assert r.status_code == 201, r.text
    node_id = r.json()["entry"]["id"]
    for attachment in ("true", "false"):
        got = await c.get(f"{CORE}/nodes/{node_id}/content", params={"attachment": attachment})
        assert got.status_code == 200, got.text
        assert got.content == data
        header = got.headers["content-disposition"]
        header.encode("ascii")  # the header is pure ASCII: no client chokes on it
        kind, _, params = header.partition("; ")
        assert kind == ("attachment" if attachment == "true" else "inline")
        fallback, _, extended = params.partition("; filename*=")
        assert extended.startswith("UTF-8''") and ";" not in extended and " " not in extended
        assert unquote(extended[len("UTF-8''") :], encoding="utf-8") == name, "the exact name, NFD kept"
        assert fallback.startswith('filename="') and fallback.endswith('"') and '"' not in fallback[len('filename="') : -1]


async def test_version_download_of_an_nfd_name(onprem: Emu) -> None:
    c = onprem.client()
    lib = await doclib(c)
    name = unicodedata.normalize("NFD", "résumé.txt")
    r = await upload(c, lib, name, b"v1")
    assert r.status_code == 201, r.text
    node_id = r.json()["entry"]["id"]
    assert (await c.put(f"{CORE}/nodes/{node_id}/content", content=b"v2")).status_code == 200
    old = await c.get(f"{CORE}/nodes/{node_id}/versions/1.0/content")
    assert old.status_code == 200 and old.content == b"v1"
    assert "filename*=UTF-8''r" in old.headers["content-disposition"]

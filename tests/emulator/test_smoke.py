"""Quick end-to-end look at the seeded on-prem repository."""

from __future__ import annotations

from tests.emulator.conftest import CORE, Emu, doclib


async def test_seeded_library_lists(onprem: Emu) -> None:
    c = onprem.client()
    lib = await doclib(c)
    r = await c.get(
        f"{CORE}/nodes/{lib}/children", params={"include": "properties,aspectNames,isLocked,path,allowableOperations"}
    )
    assert r.status_code == 200, r.text
    names = [e["entry"]["name"] for e in r.json()["list"]["entries"]]
    assert names[:3] == ["Images", "Meeting Notes", "Specs"]
    assert "README.md" in names
    first = r.json()["list"]["entries"][0]["entry"]
    assert first["path"]["name"] == "/Company Home/Sites/engineering/documentLibrary"

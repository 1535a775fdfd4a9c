"""A data folder survives a restart; the CLI serves over real loopback HTTP; the Share-like pages render."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from emulator.store import Store
from tests.emulator.conftest import CORE, Emu, basic, child, core, doclib, upload

REPO = Path(__file__).resolve().parents[2]


async def test_restart_over_same_data_dir(tmp_path: Path) -> None:
    first = Emu(Store(tmp_path), "onprem")
    c = first.client()
    lib = await doclib(c)
    r = await upload(c, lib, "kept.bin", b"k" * 70_000)
    node_id = r.json()["entry"]["id"]
    await c.post(f"{CORE}/nodes/{node_id}/lock", json={})
    await first.close()
    first.store.close()

    second = Emu(Store(tmp_path), "onprem")
    c2 = second.client()
    assert await doclib(c2) == lib
    got = await c2.get(f"{CORE}/nodes/{node_id}/content")
    assert got.content == b"k" * 70_000
    e = (await c2.get(f"{CORE}/nodes/{node_id}", params={"include": "isLocked"})).json()["entry"]
    assert e["isLocked"] is True
    assert (await c2.get(f"{CORE}/nodes/{lib}/children")).json()["list"]["pagination"]["totalItems"] == 8
    await second.close()
    second.store.close()


async def test_a_kept_store_gets_the_seeds_accounts_it_lacks(tmp_path: Path) -> None:
    """A data folder from an emulator whose seed had no sync account (the demo keeps its data) gains the seeded
    accounts and site roles on start; users it has are left alone."""
    first = Emu(Store(tmp_path), "cloud")
    first.store.db.execute("DELETE FROM users WHERE id='sync@acme.com'")
    first.store.db.execute("DELETE FROM site_members WHERE user_id='sync@acme.com'")
    first.store.add_user("bob@acme.com", "changed", "Bob")
    assert (await first.client("sync@acme.com", "sync").get(f"{core('acme.com')}/people/-me-")).status_code == 401
    await first.close()
    first.store.close()

    second = Emu(Store(tmp_path), "cloud")
    sync = second.client("sync@acme.com", "sync")
    sites = (await sync.get(f"{core('acme.com')}/people/-me-/sites")).json()["list"]["entries"]
    assert [(e["entry"]["id"], e["entry"]["role"]) for e in sites] == [("partners", "SiteCollaborator")]
    assert (await second.client("bob@acme.com", "changed").get(f"{core('acme.com')}/people/-me-")).status_code == 200
    await second.close()
    second.store.close()


def test_seed_ids_are_deterministic() -> None:
    a, b = Store(None), Store(None)
    from emulator import seed

    seed.apply(a, "onprem", "onprem")
    seed.apply(b, "onprem", "onprem")
    ids = lambda s: sorted(r[0] for r in s.db.execute("SELECT id FROM nodes"))  # noqa: E731
    assert ids(a) == ids(b)
    a.close()
    b.close()


async def test_share_pages(onprem: Emu, cloud: Emu) -> None:
    c = onprem.client(None)
    admin = onprem.client()
    lib = await doclib(admin)
    readme = await child(admin, lib, "Specs/api.json")
    r = await c.get(f"/share/page/site/engineering/document-details?nodeRef=workspace://SpacesStore/{readme['id']}")
    assert r.status_code == 200 and "api.json" in r.text
    listing = await c.get("/share/page/site/engineering/documentlibrary", params={"path": "/Specs/Drafts"})
    assert listing.status_code == 200 and "draft-a.md" in listing.text
    assert (await c.get("/share/page/site/engineering/documentlibrary", params={"path": "/Nope"})).status_code == 404
    page = await cloud.client(None).get("/acme.com/share/page/site/partners/documentlibrary", params={"path": "/"})
    assert page.status_code == 200 and "Shared" in page.text


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", "0", "--data", str(tmp_path), "--seed", "cloud"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line.startswith("emulator listening on http://127.0.0.1:"), line
    yield line.rsplit(" ", 1)[-1]
    proc.terminate()
    proc.wait(timeout=10)


def test_cli_serves_and_drops_connections(server: str) -> None:
    with httpx.Client(base_url=server, headers=basic("bob@acme.com", "bob"), timeout=10) as c:
        sites = c.get("/alfresco/api/acme.com/public/alfresco/versions/1/sites")
        assert [s["entry"]["id"] for s in sites.json()["list"]["entries"]] == ["partners"]
        c.put("/_emulator/faults", json={"rules": [{"path": "/sites$", "kind": "drop", "fail_next": 1}]})
        with pytest.raises(httpx.RemoteProtocolError):
            c.get("/alfresco/api/acme.com/public/alfresco/versions/1/sites")
        assert c.get("/alfresco/api/acme.com/public/alfresco/versions/1/sites").status_code == 200

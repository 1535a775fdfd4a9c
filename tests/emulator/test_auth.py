"""Authentication (basic, tickets in both forms), people, site roles."""

from __future__ import annotations

import base64

from tests.emulator.conftest import AUTH, CORE, Emu, child, doclib, mkdir


async def test_ticket_lifecycle(onprem: Emu) -> None:
    anon = onprem.client(None)
    bad = await anon.post(f"{AUTH}/tickets", json={"userId": "alice", "password": "wrong"})
    assert bad.status_code == 403
    r = await anon.post(f"{AUTH}/tickets", json={"userId": "alice", "password": "alice"})
    assert r.status_code == 201
    ticket = r.json()["entry"]["id"]
    assert ticket.startswith("TICKET_") and r.json()["entry"]["userId"] == "alice"
    header = {"Authorization": "Basic " + base64.b64encode(ticket.encode()).decode()}
    me = await anon.get(f"{CORE}/people/-me-", headers=header)
    assert me.status_code == 200 and me.json()["entry"]["id"] == "alice"
    assert me.json()["entry"]["capabilities"]["isAdmin"] is False
    via_param = await anon.get(f"{CORE}/people/-me-", params={"alf_ticket": ticket})
    assert via_param.json()["entry"]["id"] == "alice"
    assert (await anon.get(f"{AUTH}/tickets/-me-", headers=header)).json()["entry"]["id"] == ticket
    assert (await anon.delete(f"{AUTH}/tickets/-me-", headers=header)).status_code == 204
    gone = await anon.get(f"{CORE}/people/-me-", headers=header)
    assert gone.status_code == 401 and gone.json()["error"]["statusCode"] == 401


async def test_basic_auth_failures(onprem: Emu) -> None:
    assert (await onprem.client(None).get(f"{CORE}/people/-me-")).status_code == 401
    assert (await onprem.client("alice", "nope").get(f"{CORE}/people/-me-")).status_code == 401
    assert (await onprem.client("alice").get(f"{CORE}/people/nobody")).status_code == 404
    assert (await onprem.client().get("/alfresco/api/discovery")).json()["entry"]["repository"]["edition"]


async def test_site_roles(onprem: Emu) -> None:
    admin, alice, carol = onprem.client(), onprem.client("alice"), onprem.client("carol")
    lib = await doclib(carol)
    assert (await mkdir(carol, lib, "carol-was-here")).status_code == 403
    readme = await child(carol, lib, "README.md")
    assert (await carol.put(f"{CORE}/nodes/{readme['id']}/content", content=b"x")).status_code == 403
    assert (await carol.get(f"{CORE}/nodes/{readme['id']}/content")).status_code == 200
    assert (await mkdir(alice, lib, "alice-was-here")).status_code == 201
    assert (await alice.put(f"{CORE}/nodes/{readme['id']}", json={"properties": {"cm:title": "by alice"}})).status_code == 200
    sites = (await carol.get(f"{CORE}/sites")).json()["list"]["entries"]
    assert [(s["entry"]["id"], s["entry"]["role"]) for s in sites] == [("engineering", "SiteConsumer")]
    assert (await admin.get(f"{CORE}/sites/nope")).status_code == 404
    assert (await admin.get(f"{CORE}/sites/engineering/containers/other")).status_code == 404
    ops = (await alice.get(f"{CORE}/nodes/{lib}", params={"include": "allowableOperations"})).json()["entry"]
    assert "create" in ops["allowableOperations"] and "delete" not in ops["allowableOperations"]

"""Cloud mode: each network is a tenant with its own sites and tree; -default- is the home network."""

from __future__ import annotations

from tests.emulator.conftest import Emu, core, upload


async def test_networks_of_a_user(cloud: Emu) -> None:
    bob = cloud.client("bob@acme.com", "bob")
    r = await bob.get(f"{core('-default-')}/people/-me-/networks")
    nets = {e["entry"]["id"]: e["entry"] for e in r.json()["list"]["entries"]}
    assert list(nets) == ["acme.com"]
    assert nets["acme.com"]["isEnabled"] is True and nets["acme.com"]["subscriptionLevel"] == "Enterprise"
    assert nets["acme.com"]["homeNetwork"] is True
    admin = cloud.client()
    free = (await admin.get(f"{core('acme.com')}/networks/free.example")).json()["entry"]
    assert free["isEnabled"] is False and free["subscriptionLevel"] == "Free"
    assert (await bob.get(f"{core('acme.com')}/networks/free.example")).status_code == 404


async def test_tenants_are_isolated(cloud: Emu) -> None:
    admin, bob = cloud.client(), cloud.client("bob@acme.com", "bob")
    lib = (await bob.get(f"{core('acme.com')}/sites/partners/containers/documentLibrary")).json()["entry"]["id"]
    same = (await bob.get(f"{core('-default-')}/sites/partners/containers/documentLibrary")).json()["entry"]["id"]
    assert lib == same
    assert (await upload(bob, lib, "hello.txt", b"hi", tenant="acme.com")).status_code == 201
    assert (await admin.get(f"{core('free.example')}/sites/partners")).status_code == 404
    assert (await admin.get(f"{core('free.example')}/nodes/{lib}")).status_code == 404
    assert (await bob.get(f"{core('free.example')}/sites")).status_code == 403
    assert (await bob.get(f"{core('nowhere.example')}/sites")).status_code == 401
    shared = await bob.get(f"{core('acme.com')}/nodes/{lib}/children")
    assert [e["entry"]["name"] for e in shared.json()["list"]["entries"]] == ["Shared", "hello.txt"]


async def test_onprem_serves_default_only(onprem: Emu) -> None:
    c = onprem.client()
    assert (await c.get(f"{core('acme.com')}/sites")).status_code == 401
    nets = (await c.get(f"{core()}/people/-me-/networks")).json()["list"]["entries"]
    assert [n["entry"]["id"] for n in nets] == ["-default-"]

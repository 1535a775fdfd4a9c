"""Identity and tenants (issue 12, behaviour 1), as PublicApiTenantAuthentication#authenticateTenant decides.

A user belongs to one tenant: its domain (what follows the `@`; everyone on a single-tenant on-prem server is in the
default domain). Another network's URL is a 401 with the tenant's challenge, `-default-` means the caller's own
domain, and the on-prem `admin` administers the default domain only.
"""

from __future__ import annotations

import pytest

from tests.emulator.conftest import AUTH, Emu, core, upload


async def test_networks_of_a_user_are_its_domain_only(cloud: Emu) -> None:
    """NetworksImpl via PublicApiTenantAuthentication: bob@acme.com is a member of acme.com and nothing else."""
    bob = cloud.client("bob@acme.com", "bob")
    r = await bob.get(f"{core('-default-')}/people/-me-/networks")
    nets = {e["entry"]["id"]: e["entry"] for e in r.json()["list"]["entries"]}
    assert list(nets) == ["acme.com"]
    assert nets["acme.com"]["isEnabled"] is True and nets["acme.com"]["subscriptionLevel"] == "Enterprise"
    assert nets["acme.com"]["homeNetwork"] is True
    assert (await bob.get(f"{core('acme.com')}/networks/acme.com")).status_code == 200
    assert (await bob.get(f"{core('acme.com')}/networks/free.example")).status_code == 404
    tenant_admin = cloud.client()
    assert (await tenant_admin.get(f"{core('acme.com')}/networks/free.example")).status_code == 404


@pytest.mark.parametrize("tenant", ["free.example", "nowhere.example", "ACME.COM.evil"])
async def test_another_networks_url_is_401_with_the_tenants_challenge(cloud: Emu, tenant: str) -> None:
    """PublicApiAuthenticatorFactory.PublicApiAuthenticator#authenticate: a refused tenant is 401 (not 403), with
    `WWW-Authenticate: Basic realm="Alfresco <tenant> tenant"`; a disabled tenant (free.example) too."""
    bob = cloud.client("bob@acme.com", "bob")
    r = await bob.get(f"{core(tenant)}/sites")
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == f'Basic realm="Alfresco {tenant} tenant"'
    assert r.json()["error"]["statusCode"] == 401


async def test_default_is_the_callers_own_domain_and_case_does_not_matter(cloud: Emu) -> None:
    """PublicApiTenantAuthentication#authenticateTenant: `-default-` becomes the user's domain; the network id
    is compared ignoring case."""
    sync = cloud.client("sync@acme.com", "sync")
    lib = (await sync.get(f"{core('acme.com')}/sites/partners/containers/documentLibrary")).json()["entry"]["id"]
    same = (await sync.get(f"{core('-default-')}/sites/partners/containers/documentLibrary")).json()["entry"]["id"]
    upper = await sync.get(f"{core('ACME.com')}/sites/partners/containers/documentLibrary")
    assert lib == same == upper.json()["entry"]["id"]
    assert (await upload(sync, lib, "hello.txt", b"hi", tenant="acme.com")).status_code == 201
    me = (await sync.get(f"{core()}/people/-me-")).json()["entry"]
    assert me["id"] == "sync@acme.com" and me["capabilities"]["isAdmin"] is False


async def test_onprem_admin_is_no_superuser_of_cloud_networks(cloud: Emu) -> None:
    """A user of the default domain may call `-default-` and `-system-` only (PublicApiTenantAuthentication):
    an `admin` without a domain cannot reach acme.com, even where such a user exists with the right password."""
    created = await cloud.client(None).post("/_emulator/users", json={"id": "admin", "password": "admin"})
    assert created.status_code == 400, "the cloud has no default-domain network for a user without a domain"
    cloud.store.add_user("admin", "admin", "Administrator")
    tenant_admin = cloud.client()
    assert (await tenant_admin.get(f"{core('acme.com')}/people/-me-")).json()["entry"]["capabilities"]["isAdmin"] is True
    assert (await tenant_admin.get(f"{core('free.example')}/people/-me-")).status_code == 401
    onprem_admin = cloud.client("admin", "admin")
    assert (await onprem_admin.get(f"{core('acme.com')}/sites")).status_code == 401


async def test_onprem_serves_the_default_domain_only(onprem: Emu) -> None:
    """Single-tenant server: every user is in the default domain (MultiTServiceImpl#getUserDomain without MT)."""
    c = onprem.client()
    r = await c.get(f"{core('acme.com')}/sites")
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Basic realm="Alfresco acme.com tenant"'
    assert (await c.get(f"{core('-system-')}/people/-me-")).status_code == 200
    nets = (await c.get(f"{core()}/people/-me-/networks")).json()["list"]["entries"]
    assert [n["entry"]["id"] for n in nets] == ["-default-"]
    sync = (await onprem.client("sync").get(f"{core()}/people/-me-")).json()["entry"]
    assert sync["capabilities"]["isAdmin"] is False


async def test_people_of_another_tenant_do_not_exist(cloud: Emu) -> None:
    """People are looked up in the caller's tenant only; bob sees sync@acme.com but not a free.example user."""
    await cloud.client(None).post("/_emulator/users", json={"id": "eve@free.example", "password": "eve"})
    bob = cloud.client("bob@acme.com", "bob")
    assert (await bob.get(f"{core()}/people/sync@acme.com")).status_code == 200
    assert (await bob.get(f"{core()}/people/eve@free.example")).status_code == 404
    eve = cloud.client("eve@free.example", "eve")
    assert (await eve.get(f"{core()}/people/-me-")).status_code == 401, "free.example is a disabled tenant"


async def test_a_ticket_is_only_good_for_its_own_tenant(cloud: Emu) -> None:
    """AuthenticationsImpl#createTicket checks the password only, whatever the URL's tenant; the tenant check
    (PublicApiTenantAuthentication) applies to each call made with the ticket."""
    anon = cloud.client(None)
    made = await anon.post(
        f"{AUTH.replace('-default-', 'free.example')}/tickets", json={"userId": "sync@acme.com", "password": "sync"}
    )
    assert made.status_code == 201, made.text
    ticket = made.json()["entry"]["id"]
    assert (await anon.get(f"{core('acme.com')}/people/-me-", params={"alf_ticket": ticket})).status_code == 200
    other = await anon.get(f"{core('free.example')}/people/-me-", params={"alf_ticket": ticket})
    assert other.status_code == 401

"""Discovery, tickets, people, networks and sites: who the caller is and where they may go."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator import repo, rules
from emulator.clock import fmt
from emulator.context import Reply, api, authenticate, caller, json_body, ok, paging, state, user_domain
from emulator.errors import ApiError, not_found
from emulator.serialize import paged_slice
from emulator.store import Store

AUTH = "/alfresco/api/{tenant}/public/authentication/versions/1"
CORE = "/alfresco/api/{tenant}/public/alfresco/versions/1"


@api
async def discovery(request: Request) -> Reply:
    authenticate(request)
    return ok(
        {
            "entry": {
                "repository": {
                    "id": "e5a2d9b2-emulator",
                    "edition": "Enterprise",
                    "version": {
                        "major": "23",
                        "minor": "4",
                        "patch": "0",
                        "hotfix": "0",
                        "schema": 19000,
                        "label": "r",
                        "display": "23.4.0 (emulator)",
                    },
                    "status": {
                        "isReadOnly": False,
                        "isAuditEnabled": True,
                        "isQuickShareEnabled": True,
                        "isThumbnailGenerationEnabled": False,
                        "isDirectAccessUrlEnabled": False,
                    },
                    "modules": [],
                }
            }
        }
    )


@api
async def create_ticket(request: Request) -> Reply:
    body = await json_body(request)
    user, password = body.get("userId"), body.get("password")
    if not isinstance(user, str) or not isinstance(password, str):
        raise ApiError(400, "userId and password are mandatory")
    store = state(request).store
    record = store.get_user(user)
    if record is None or record["password"] != password:
        raise ApiError(403, "Login failed", "framework.exception.PermissionDenied")
    # AuthenticationsImpl#createTicket checks the password only: the URL's tenant is checked on each call made
    # with the ticket (PublicApiTenantAuthentication), so a ticket asked for at another network's URL is issued.
    return ok({"entry": {"id": store.create_ticket(user), "userId": user}}, 201)


@api
async def get_ticket(request: Request) -> Reply:
    _user, ticket = authenticate(request)
    if ticket is None:
        raise ApiError(404, "No ticket was used for this request")
    return ok({"entry": {"id": ticket}})


@api
async def delete_ticket(request: Request) -> Reply:
    _, ticket = authenticate(request)
    if ticket is None:
        raise ApiError(404, "No ticket was used for this request")
    state(request).store.delete_ticket(ticket)
    return Response(status_code=204)


def _person(store: Store, user_id: str) -> dict[str, Any]:
    u = store.get_user(user_id)
    if u is None:
        raise not_found("person", user_id)
    return {
        "id": u["id"],
        "firstName": u["first_name"],
        "lastName": u["last_name"],
        "displayName": f"{u['first_name']} {u['last_name']}".strip(),
        "email": u["email"],
        "enabled": True,
        "capabilities": {"isAdmin": rules.is_admin(u["id"]), "isGuest": False, "isMutable": True},
    }


def _person_id(request: Request, me: str) -> str:
    """`-me-` or a person of the caller's own tenant: the people of another tenant do not exist for it (404)."""
    pid = request.path_params["personId"]
    if pid == "-me-":
        return me
    st = state(request)
    if user_domain(st.mode, pid) != user_domain(st.mode, me):
        raise not_found("person", pid)
    return pid


@api
async def get_person(request: Request) -> Reply:
    c = caller(request)
    return ok({"entry": _person(state(request).store, _person_id(request, c.user))})


def _network_entry(store: Store, net: dict[str, Any], user: str, home: str | None) -> dict[str, Any]:
    usage = store.usage(net["id"])
    return {
        "id": net["id"],
        "homeNetwork": net["id"] == home,
        "isEnabled": bool(net["is_enabled"]),
        "createdAt": fmt(net["created_at"]),
        "paidNetwork": bool(net["paid"]),
        "subscriptionLevel": net["subscription_level"],
        "quotas": [
            {"id": "fileUploadQuota", "limit": net["size_limit"], "usage": 0},
            {"id": "storageQuota", "limit": net["storage_limit"], "usage": usage},
        ],
    }


def _user_networks(request: Request, user: str) -> list[str]:
    """A user is a member of one network: the tenant of its domain (PublicApiTenantAuthentication)."""
    st = state(request)
    domain = user_domain(st.mode, user)
    return [domain] if st.store.get_network(domain) is not None else []


@api
async def person_networks(request: Request) -> Reply:
    c = caller(request)
    store = state(request).store
    user = _person_id(request, c.user)
    if user != c.user and not rules.is_admin(c.user):
        raise ApiError(403, "Permission was denied")
    nets = [store.get_network(n) for n in _user_networks(request, user)]
    entries = [_network_entry(store, n, user, n["id"]) for n in nets if n]
    skip, max_items = paging(request)
    return ok(paged_slice(entries, skip, max_items))


async def _one_network(request: Request, net_id: str) -> Reply:
    """Only the caller's own network can be read; any other id is unknown to them (404)."""
    c = caller(request)
    store = state(request).store
    net = store.get_network(net_id) if net_id in _user_networks(request, c.user) else None
    if net is None:
        raise not_found("network", net_id)
    return ok({"entry": _network_entry(store, net, c.user, net["id"])})


@api
async def get_network(request: Request) -> Reply:
    return await _one_network(request, request.path_params["networkId"])


@api
async def person_network(request: Request) -> Reply:
    return await _one_network(request, request.path_params["networkId"])


def _site_entry(site: dict[str, Any], role: str | None) -> dict[str, Any]:
    entry = {
        "id": site["id"],
        "guid": site["guid"],
        "title": site["title"],
        "description": site["description"],
        "visibility": site["visibility"],
        "preset": "site-dashboard",
    }
    if role:
        entry["role"] = role
    return entry


def _visible_site(store: Store, tenant: str, user: str, site_id: str) -> dict[str, Any]:
    site = store.get_site(tenant, site_id)
    role = store.site_role(tenant, site_id, user) if site else None
    if site is None or (site["visibility"] == "PRIVATE" and role is None and not rules.is_admin(user)):
        raise not_found("site", site_id)
    return site


@api
async def list_sites(request: Request) -> Reply:
    c = caller(request)
    store = state(request).store
    entries = []
    for site in store.list_sites(c.tenant):
        role = store.site_role(c.tenant, site["id"], c.user)
        if site["visibility"] != "PRIVATE" or role or rules.is_admin(c.user):
            entries.append(_site_entry(site, role))
    skip, max_items = paging(request)
    return ok(paged_slice(entries, skip, max_items))


@api
async def get_site(request: Request) -> Reply:
    c = caller(request)
    store = state(request).store
    site = _visible_site(store, c.tenant, c.user, request.path_params["siteId"])
    return ok({"entry": _site_entry(site, store.site_role(c.tenant, site["id"], c.user))})


@api
async def site_containers(request: Request) -> Reply:
    c = caller(request)
    site = _visible_site(state(request).store, c.tenant, c.user, request.path_params["siteId"])
    skip, max_items = paging(request)
    return ok(paged_slice([{"id": site["doclib_id"], "folderId": "documentLibrary"}], skip, max_items))


@api
async def site_container(request: Request) -> Reply:
    c = caller(request)
    site = _visible_site(state(request).store, c.tenant, c.user, request.path_params["siteId"])
    if request.path_params["containerId"] != "documentLibrary":
        raise not_found("container", request.path_params["containerId"])
    return ok({"entry": {"id": site["doclib_id"], "folderId": "documentLibrary"}})


@api
async def site_members(request: Request) -> Reply:
    """GET sites/{siteId}/members: SiteMember entries {id, person, role} (SitesImpl#getSiteMembers), by user id."""
    c = caller(request)
    store = state(request).store
    site = _visible_site(store, c.tenant, c.user, request.path_params["siteId"])
    entries = [
        {"id": user, "person": _person(store, user), "role": role, "isMemberOfGroup": False}
        for user, role in store.site_members(c.tenant, site["id"])
        if store.get_user(user) is not None
    ]
    skip, max_items = paging(request)
    return ok(paged_slice(entries, skip, max_items))


@api
async def person_sites(request: Request) -> Reply:
    """GET people/{personId}/sites: SiteRole entries {id, guid, role, site} (SitesImpl#getSites); another person's
    sites are visible only where the caller may see the site, as for GET sites/{siteId}."""
    c = caller(request)
    store = state(request).store
    person = _person_id(request, c.user)
    if store.get_user(person) is None:
        raise not_found("person", person)
    entries = []
    for site_id, role in store.user_sites(c.tenant, person):
        site = store.get_site(c.tenant, site_id)
        if site is None:
            continue
        member = store.site_role(c.tenant, site_id, c.user) is not None
        if person == c.user or site["visibility"] != "PRIVATE" or member or rules.is_admin(c.user):
            entries.append({"id": site_id, "guid": site["guid"], "role": role, "site": _site_entry(site, role)})
    skip, max_items = paging(request)
    return ok(paged_slice(entries, skip, max_items))


def routes() -> list[Route]:
    return [
        Route("/alfresco/api/discovery", discovery, methods=["GET"]),
        Route(f"{AUTH}/tickets", create_ticket, methods=["POST"]),
        Route(f"{AUTH}/tickets/-me-", get_ticket, methods=["GET"]),
        Route(f"{AUTH}/tickets/-me-", delete_ticket, methods=["DELETE"]),
        Route(f"{CORE}/people/{{personId}}", get_person, methods=["GET"]),
        Route(f"{CORE}/people/{{personId}}/networks", person_networks, methods=["GET"]),
        Route(f"{CORE}/people/{{personId}}/sites", person_sites, methods=["GET"]),
        Route(f"{CORE}/people/{{personId}}/networks/{{networkId}}", person_network, methods=["GET"]),
        Route(f"{CORE}/networks/{{networkId}}", get_network, methods=["GET"]),
        Route(f"{CORE}/sites", list_sites, methods=["GET"]),
        Route(f"{CORE}/sites/{{siteId}}", get_site, methods=["GET"]),
        Route(f"{CORE}/sites/{{siteId}}/members", site_members, methods=["GET"]),
        Route(f"{CORE}/sites/{{siteId}}/containers", site_containers, methods=["GET"]),
        Route(f"{CORE}/sites/{{siteId}}/containers/{{containerId}}", site_container, methods=["GET"]),
    ]


__all__ = ["repo", "routes"]

"""`/_emulator/...`: test and demo helpers outside Alfresco's API (reset, users, quotas, lag, faults, stats).

Acting as a user needs no helper: tests call the normal API with that user's credentials.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator import repo, seed
from emulator.context import DEFAULT_TENANT, user_domain
from emulator.faults import FaultConfig

PREFIX = "/_emulator"


def _st(request: Request) -> Any:
    return request.app.state.emulator


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw else {}
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _default_tenant(request: Request, body: dict[str, Any]) -> str:
    st = _st(request)
    if "tenant" in body:
        return str(body["tenant"])
    return "-default-" if st.mode == "onprem" else (st.store.list_networks() or [{"id": "-default-"}])[0]["id"]


async def health(request: Request) -> Response:
    st = _st(request)
    return JSONResponse({"ok": True, "mode": st.mode, "seed": st.seed, "nodes": st.store.count_nodes()})


async def reset(request: Request) -> Response:
    st = _st(request)
    body = await _body(request)
    st.seed = str(body.get("seed", st.seed))
    st.store.wipe()
    seed.apply(st.store, st.seed, st.mode)
    st.stats.clear()
    st.search_lag_ms = 0
    request.app.state.faults.__init__()
    return JSONResponse({"ok": True, "seed": st.seed})


async def create_user(request: Request) -> Response:
    """A user (created, or its password and roles replaced) with site roles in its own tenant.

    In the cloud a user belongs to the network its name ends with (`name@acme.com`), as Alfresco's tenants do;
    a cloud user without a known network domain could never sign in, so it is refused.
    """
    st = _st(request)
    try:
        body = await _body(request)
        user_id, password = str(body["id"]), str(body["password"])
    except (ValueError, KeyError) as e:
        return _bad(f"id and password are required: {e}")
    store = st.store
    tenant = user_domain(st.mode, user_id)
    if store.get_network(tenant) is None:
        return _bad(f"{user_id} belongs to no network of this emulator; cloud users are name@network")
    with store.tx():
        store.add_user(user_id, password, str(body.get("firstName", user_id)), str(body.get("lastName", "")), body.get("email"))
        for site_id, role in (body.get("sites") or {}).items():
            store.set_site_role(tenant, site_id, user_id, role)
    return JSONResponse({"id": user_id}, status_code=201)


async def create_site(request: Request) -> Response:
    st = _st(request)
    body = await _body(request)
    tenant = _default_tenant(request, body)
    if st.store.get_site(tenant, str(body.get("id"))):
        return _bad("site exists", 409)
    with st.store.tx():
        doclib = repo.make_site(
            st.store,
            tenant,
            str(body["id"]),
            str(body.get("title", body["id"])),
            visibility=str(body.get("visibility", "PUBLIC")),
            creator="admin" if tenant == DEFAULT_TENANT else f"admin@{tenant}",
        )
    return JSONResponse({"id": body["id"], "tenant": tenant, "documentLibrary": doclib}, status_code=201)


async def set_member(request: Request) -> Response:
    st = _st(request)
    body = await _body(request)
    tenant = _default_tenant(request, body)
    st.store.set_site_role(
        tenant, request.path_params["site"], request.path_params["user"], str(body.get("role", "SiteConsumer"))
    )
    return JSONResponse({"ok": True})


async def set_network(request: Request) -> Response:
    """Quota, per-file size limit (-1 = none), enabled flag and level; creates the network if new."""
    st = _st(request)
    body = await _body(request)
    net_id = request.path_params["network"]
    store = st.store
    with store.tx():
        if store.get_network(net_id) is None:
            repo.make_tenant(
                store,
                net_id,
                enabled=bool(body.get("isEnabled", True)),
                level=str(body.get("subscriptionLevel", "Enterprise")),
            )
        fields = {
            "is_enabled": int(bool(body["isEnabled"])) if "isEnabled" in body else None,
            "subscription_level": body.get("subscriptionLevel"),
            "storage_limit": body.get("storageLimit"),
            "size_limit": body.get("sizeLimit"),
        }
        store.update_network(net_id, **{k: v for k, v in fields.items() if v is not None})
    return JSONResponse(store.get_network(net_id))


async def search_lag(request: Request) -> Response:
    st = _st(request)
    if request.method == "PUT":
        body = await _body(request)
        st.search_lag_ms = int(float(body.get("lagSeconds", 0)) * 1000)
    return JSONResponse({"lagSeconds": st.search_lag_ms / 1000})


async def stats(request: Request) -> Response:
    st = _st(request)
    if request.method == "DELETE":
        st.stats.clear()
    faults = request.app.state.faults
    return JSONResponse(
        {"total": sum(st.stats.values()), "routes": dict(sorted(st.stats.items())), "faultsInjected": faults.injected}
    )


async def faults(request: Request) -> Response:
    config: FaultConfig = request.app.state.faults
    if request.method == "PUT":
        try:
            new = FaultConfig.from_json(await _body(request))
        except (ValueError, TypeError) as e:
            return _bad(str(e))
        config.__dict__.update(new.__dict__)
    elif request.method == "DELETE":
        config.__init__()  # type: ignore[misc]
    return JSONResponse(config.to_json())


def routes() -> list[Route]:
    return [
        Route(f"{PREFIX}/health", health, methods=["GET"]),
        Route(f"{PREFIX}/reset", reset, methods=["POST"]),
        Route(f"{PREFIX}/users", create_user, methods=["POST"]),
        Route(f"{PREFIX}/sites", create_site, methods=["POST"]),
        Route(f"{PREFIX}/sites/{{site}}/members/{{user}}", set_member, methods=["PUT"]),
        Route(f"{PREFIX}/networks/{{network}}", set_network, methods=["PUT"]),
        Route(f"{PREFIX}/search", search_lag, methods=["GET", "PUT"]),
        Route(f"{PREFIX}/stats", stats, methods=["GET", "DELETE"]),
        Route(f"{PREFIX}/faults", faults, methods=["GET", "PUT", "DELETE"]),
    ]

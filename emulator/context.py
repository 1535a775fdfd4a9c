"""Per-app state and per-request plumbing: who is calling, which tenant, common query parameters.

Alfresco accepts Basic user:password, Basic base64(TICKET_xxx) and `?alf_ticket=`; all three resolve here
so each route just asks for `await caller(request)`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.errors import ApiError, error_response
from emulator.store import Store

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class AppState:
    store: Store
    mode: str = "onprem"
    seed: str = "none"
    search_lag_ms: int = 0
    stats: dict[str, int] = field(default_factory=dict)


@dataclass
class Caller:
    user: str
    tenant: str
    ticket: str | None = None


def state(request: Request) -> AppState:
    return request.app.state.emulator


def api(fn: Endpoint) -> Endpoint:
    """Turn ApiError (and any crash) into Alfresco's error body instead of Starlette's plain text."""

    @wraps(fn)
    async def wrapper(request: Request) -> Response:
        try:
            return await fn(request)
        except ApiError as e:
            headers = {"WWW-Authenticate": 'Basic realm="Alfresco"'} if e.status == 401 else None
            return error_response(e.status, e.message, e.error_key, headers)
        except Exception as e:  # pragma: no cover - a bug in the emulator must still look like Alfresco
            return error_response(500, f"Internal error: {type(e).__name__}: {e}")

    return wrapper


def ok(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _credentials(request: Request) -> tuple[str | None, str | None, str | None]:
    """(user, password, ticket) from the request, whichever form it used."""
    ticket = request.query_params.get("alf_ticket")
    if ticket:
        return None, None, ticket
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("basic "):
        return None, None, None
    try:
        decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None, None
    user, _, password = decoded.partition(":")
    if user.startswith("TICKET_"):
        return None, None, user
    if user == "ROLE_TICKET" and password.startswith("TICKET_"):
        return None, None, password
    return user, password, None


def authenticate(request: Request) -> tuple[str, str | None]:
    store = state(request).store
    user, password, ticket = _credentials(request)
    if ticket:
        owner = store.ticket_user(ticket)
        if owner is None:
            raise ApiError(401, "Ticket base authentication failed", "framework.exception.ApiDefault")
        return owner, ticket
    if user is None:
        raise ApiError(401, "Authentication failed", "framework.exception.ApiDefault")
    record = store.get_user(user)
    if record is None or record["password"] != password:
        raise ApiError(401, "Authentication failed", "framework.exception.ApiDefault")
    return user, None


def resolve_tenant(st: AppState, tenant: str, user: str) -> str:
    """On-prem serves `-default-` only; in the cloud each network is a tenant and `-default-` is home."""
    store = st.store
    if st.mode == "onprem":
        if tenant != "-default-":
            raise ApiError(401, f"Authentication failed for tenant {tenant}")
        return tenant
    if tenant == "-default-":
        record = store.get_user(user) or {}
        home = record.get("home_network") or next(iter(store.user_networks(user)), None)
        if home is None:
            raise ApiError(401, "The user has no home network")
        return str(home)
    if store.get_network(tenant) is None:
        raise ApiError(401, f"Authentication failed for tenant {tenant}")
    if user != "admin" and tenant not in store.user_networks(user):
        raise ApiError(403, f"The user is not a member of network {tenant}")
    return tenant


def caller(request: Request) -> Caller:
    user, ticket = authenticate(request)
    tenant = resolve_tenant(state(request), request.path_params.get("tenant", "-default-"), user)
    return Caller(user, tenant, ticket)


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ApiError(400, f"Could not read content from HTTP request body: {e}") from e
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return body


def int_param(request: Request, name: str, default: int, minimum: int = 0) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as e:
        raise ApiError(400, f"Invalid paging parameter {name}: {raw}") from e
    if value < minimum:
        raise ApiError(400, f"Invalid paging parameter {name}: {raw}")
    return value


def paging(request: Request) -> tuple[int, int]:
    return int_param(request, "skipCount", 0), int_param(request, "maxItems", 100, minimum=1)


def bool_param(request: Request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() not in ("true", "false"):
        raise ApiError(400, f"Invalid boolean parameter {name}: {raw}")
    return raw.lower() == "true"


def include_param(request: Request) -> set[str]:
    return {p.strip() for p in request.query_params.get("include", "").split(",") if p.strip()}

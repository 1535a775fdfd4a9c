"""Per-app state and per-request plumbing: who is calling, which tenant, common query parameters.

Alfresco accepts Basic user:password, Basic base64(TICKET_xxx) and `?alf_ticket=`; all three resolve here
so each route just asks for `caller(request)`. Routes return a `Payload` (a JSON body not yet rendered) so that
`api` can apply the `fields` filter to every entry in one place, as Alfresco's serializer does.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.errors import ApiError, error_response
from emulator.store import Store

DEFAULT_TENANT = "-default-"
"""TenantUtil.DEFAULT_TENANT: in a URL, the caller's own domain; as a domain, the repository without tenants."""
SYSTEM_TENANT = "-system-"


@dataclass
class Payload:
    """A JSON answer before rendering: `api` trims its entries to `fields` (plus `include`) and renders it.

    `fields`/`include` are None when they come from the query string; the search API passes those of its body.
    """

    body: dict[str, Any]
    status: int = 200
    fields: list[str] | None = None
    include: Iterable[str] | None = None


Reply = Response | Payload
Endpoint = Callable[[Request], Awaitable[Reply]]


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


def challenge(request: Request) -> dict[str, str]:
    """PublicApiAuthenticatorFactory.PublicApiAuthenticator#authenticate: every refused public API call is a 401
    whose challenge names the tenant of the URL (`Basic realm="Alfresco acme.com tenant"`)."""
    tenant = request.path_params.get("tenant")
    realm = f"Alfresco {tenant} tenant" if tenant else "Alfresco"
    return {"WWW-Authenticate": f'Basic realm="{realm}"'}


def api(fn: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """Turn ApiError (and any crash) into Alfresco's error body, and a `Payload` into JSON trimmed to `fields`."""

    @wraps(fn)
    async def wrapper(request: Request) -> Response:
        try:
            result = await fn(request)
        except ApiError as e:
            return error_response(e.status, e.message, e.error_key, challenge(request) if e.status == 401 else None)
        except Exception as e:  # pragma: no cover - a bug in the emulator must still look like Alfresco
            return error_response(500, f"Internal error: {type(e).__name__}: {e}")
        if isinstance(result, Payload):
            fields = result.fields if result.fields is not None else list_param(request, "fields")
            include = result.include if result.include is not None else include_param(request)
            body = trim_entries(result.body, {*fields, *include}) if fields else result.body
            return JSONResponse(body, status_code=result.status)
        return result

    return wrapper


def ok(body: dict[str, Any], status: int = 200) -> Payload:
    return Payload(body, status)


def _trim(entry: Any, keep: set[str]) -> Any:
    return {k: v for k, v in entry.items() if k in keep} if isinstance(entry, dict) else entry


def trim_entries(body: dict[str, Any], keep: set[str]) -> dict[str, Any]:
    """RecognizedParamsExtractor#getFilter: `fields` keeps the named top-level properties of each entity (the
    entry, every list entry and `list.source`); the `include`d ones come in addition. Pagination is untouched."""
    if "entry" in body:
        return {**body, "entry": _trim(body["entry"], keep)}
    listing = body.get("list")
    if not isinstance(listing, dict):
        return body
    trimmed = dict(listing)
    trimmed["entries"] = [{**e, "entry": _trim(e.get("entry"), keep)} for e in listing.get("entries", [])]
    if "source" in listing:
        trimmed["source"] = _trim(listing["source"], keep)
    return {**body, "list": trimmed}


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


def user_domain(mode: str, user: str) -> str:
    """MultiTServiceImpl#getUserDomain: with multi-tenancy (the cloud) a user's domain is what follows the last
    `@` of the user name, lower-cased; a name without one, and every user of a single-tenant server (on-prem),
    is in the default domain."""
    at = user.rfind("@")
    if mode == "onprem" or not 0 < at < len(user) - 1:
        return DEFAULT_TENANT
    return user[at + 1 :].lower()


def resolve_tenant(st: AppState, tenant: str, user: str) -> str:
    """PublicApiTenantAuthentication#authenticateTenant: a user of the default domain may call `-default-` (and
    `-system-`) only; any other user may call their own domain, or `-default-` which means it, and only while
    that tenant is enabled. Everything else is a 401 (with the tenant's challenge), never a 403: another
    network's URL does not exist for this user. Returns the tenant the call acts in."""
    domain = user_domain(st.mode, user)
    asked = tenant.lower()
    if domain == DEFAULT_TENANT:
        if asked not in (DEFAULT_TENANT, SYSTEM_TENANT):
            raise ApiError(401, f"Authentication failed for tenant {tenant}")
        return DEFAULT_TENANT
    if asked != DEFAULT_TENANT and asked != domain:
        raise ApiError(401, f"Authentication failed for tenant {tenant}")
    network = st.store.get_network(domain)
    if network is None or not network["is_enabled"]:
        raise ApiError(401, f"Authentication failed for tenant {tenant}: the tenant is not enabled")
    return domain


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


def list_param(request: Request, name: str) -> list[str]:
    """A comma-separated list parameter (`include`, `fields`), blanks dropped."""
    return [p.strip() for p in request.query_params.get(name, "").split(",") if p.strip()]


def include_param(request: Request) -> set[str]:
    return set(list_param(request, "include"))

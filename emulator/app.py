"""`create_app(store, mode=..., faults=...)`: the emulator as one ASGI app (uvicorn or httpx.ASGITransport)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from emulator import admin, routes_account, routes_content, routes_nodes, routes_search, seed, web
from emulator.context import AppState
from emulator.errors import error_response
from emulator.faults import FaultConfig, FaultMiddleware
from emulator.store import Store

MODES = ("onprem", "cloud")


class StatsMiddleware:
    """Counts requests per route template (`GET /alfresco/api/{tenant}/...`), for benchmarks and tests."""

    def __init__(self, app: ASGIApp, routes: list[Route], state: AppState) -> None:
        self.app = app
        self.routes = routes
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_emulator"):
            key = f"{scope['method']} (unmatched)"
            for route in self.routes:
                match, _ = route.matches(scope)
                if match == Match.FULL:
                    key = f"{scope['method']} {route.path}"
                    break
            self.state.stats[key] = self.state.stats.get(key, 0) + 1
        await self.app(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return error_response(405, f"The operation is unsupported: {request.method} {request.url.path}")
    return error_response(exc.status_code, f"Unknown resource: {request.url.path}")


def create_app(store: Store, *, mode: str = "onprem", faults: FaultConfig | None = None, seed_name: str | None = None) -> ASGIApp:
    """Build the app over `store`; an empty store is seeded (`seed_name` defaults to the mode's seed)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    chosen = seed_name or mode
    if store.is_empty():
        seed.apply(store, chosen, mode)
    else:
        seed.ensure_accounts(store, chosen)
    state = AppState(store=store, mode=mode, seed=chosen)
    routes = [
        *routes_account.routes(),
        *routes_nodes.routes(),
        *routes_content.routes(),
        *routes_search.routes(),
        *admin.routes(),
        *web.routes(),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.emulator = state
    fault_config = faults or FaultConfig()
    app.state.faults = fault_config
    outer = StatsMiddleware(FaultMiddleware(app, fault_config), routes, state)
    # Let callers that hold the outer app still reach state (tests, __main__).
    outer.state = state  # type: ignore[attr-defined]
    outer.faults = fault_config  # type: ignore[attr-defined]
    outer.starlette = app  # type: ignore[attr-defined]
    return outer

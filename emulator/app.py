"""`create_app(store, mode=..., faults=...)`: the emulator as one ASGI app (uvicorn or httpx.ASGITransport)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator import admin, routes_account, routes_content, routes_nodes, routes_search, seed, web
from emulator.clock import Clock
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


class ServerClockMiddleware:
    """Every answer carries a `Date` header from the repository's own clock, as Tomcat sends one for Alfresco
    (RFC 9110 requires it of a server with a clock): a client keeps change-detection watermarks in the
    server's time, never in its own."""

    def __init__(self, app: ASGIApp, clock: Clock) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                stamp = format_datetime(datetime.fromtimestamp(self.clock.wall_ms() / 1000, UTC), usegmt=True)
                message = {**message, "headers": [*headers, (b"date", stamp.encode("latin-1"))]}
            await send(message)

        await self.app(scope, receive, dated)


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
    outer = ServerClockMiddleware(StatsMiddleware(FaultMiddleware(app, fault_config), routes, state), store.clock)
    # Let callers that hold the outer app still reach state (tests, __main__).
    outer.state = state  # type: ignore[attr-defined]
    outer.faults = fault_config  # type: ignore[attr-defined]
    outer.starlette = app  # type: ignore[attr-defined]
    return outer

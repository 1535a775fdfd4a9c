"""Fixtures: in-process emulators (httpx over ASGITransport) whose every API answer is contract-checked.

Each client records, for every response from an Alfresco API URL, the problems `validate_response` finds;
the fixture fails the test at teardown if there were any. So every behaviour test is also a contract test.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.app import create_app
from emulator.clock import Clock
from emulator.faults import FaultConfig
from emulator.store import Store
from tests.support import openapi

BASE = "http://emulator.test"
CORE = "/alfresco/api/-default-/public/alfresco/versions/1"
AUTH = "/alfresco/api/-default-/public/authentication/versions/1"
SEARCH = "/alfresco/api/-default-/public/search/versions/1/search"


def core(tenant: str = "-default-") -> str:
    return f"/alfresco/api/{tenant}/public/alfresco/versions/1"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class FakeWall:
    """A wall clock tests move by hand, so the search lag is tested without sleeping."""

    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def _status_problems(method: str, url: str, status: int) -> list[str]:
    op = openapi.match_operation(method, url)
    if op is None:
        return [f"{method} {url} matches no operation"]
    responses = op.spec.get("responses", {})
    return [] if str(status) in responses else [f"{method} {url}: status {status} not declared"]


ADMINS = {"onprem": "admin", "cloud": "admin@acme.com"}
"""Each mode's administrator: on-prem `admin` (default domain), in the cloud the tenant's `admin@acme.com`."""
_ADMIN = object()


class Emu:
    """One emulator app plus helpers to make clients for its users."""

    def __init__(self, store: Store, mode: str, faults: FaultConfig | None = None, seed: str | None = None) -> None:
        self.mode = mode
        self.store = store
        self.app = create_app(store, mode=mode, faults=faults, seed_name=seed)
        self.problems: list[str] = []
        self.clients: list[httpx.AsyncClient] = []

    @property
    def state(self) -> Any:
        return self.app.state  # type: ignore[attr-defined]

    async def _check(self, response: httpx.Response) -> None:
        if openapi.spec_dir() is None or not response.request.url.path.startswith("/alfresco/"):
            return
        await response.aread()
        method, url = response.request.method, str(response.request.url)
        if not response.headers.get("content-type", "").startswith("application/json"):
            # Binary bodies (content downloads): the helper cannot check `type: file` schemas, so only the
            # status is checked against the operation's declared responses.
            self.problems.extend(_status_problems(method, url, response.status_code))
            return
        body: Any = response.json() if response.content else None
        trimmed = openapi.asks_for_fields(response.request)
        for problem in openapi.validate_response(method, url, response.status_code, body, trimmed=trimmed):
            self.problems.append(f"{method} {response.request.url.path} -> {response.status_code}: {problem}")

    def client(self, user: Any = _ADMIN, password: str | None = None, **kw: Any) -> httpx.AsyncClient:
        """A client for `user` (default: the mode's administrator; None: anonymous). Seeded passwords are the user
        name before the `@`."""
        if user is _ADMIN:
            user = ADMINS[self.mode]
        headers = basic(user, password or user.split("@")[0]) if user else {}
        c = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url=BASE,
            headers=headers,
            event_hooks={"response": [self._check]},
            **kw,
        )
        self.clients.append(c)
        return c

    async def close(self) -> None:
        for c in self.clients:
            await c.aclose()


async def _emu(store: Store, mode: str, **kw: Any) -> AsyncIterator[Emu]:
    emu = Emu(store, mode, **kw)
    yield emu
    await emu.close()
    store.close()
    assert not emu.problems, "responses off the official definitions:\n" + "\n".join(emu.problems)


@pytest.fixture
def wall() -> FakeWall:
    return FakeWall()


@pytest.fixture
async def onprem(wall: FakeWall) -> AsyncIterator[Emu]:
    async for e in _emu(Store(None, Clock(wall)), "onprem"):
        yield e


@pytest.fixture
async def cloud(wall: FakeWall) -> AsyncIterator[Emu]:
    async for e in _emu(Store(None, Clock(wall)), "cloud"):
        yield e


@pytest.fixture
def make_emu() -> Callable[..., Emu]:
    """For tests that need their own store (persistence) or faults; closes nothing (the test does)."""
    return Emu


async def doclib(client: httpx.AsyncClient, site: str = "engineering", tenant: str = "-default-") -> str:
    r = await client.get(f"{core(tenant)}/sites/{site}/containers/documentLibrary")
    assert r.status_code == 200, r.text
    return str(r.json()["entry"]["id"])


async def child(client: httpx.AsyncClient, parent: str, name: str, tenant: str = "-default-") -> dict[str, Any]:
    r = await client.get(f"{core(tenant)}/nodes/{parent}", params={"relativePath": name})
    assert r.status_code == 200, r.text
    return dict(r.json()["entry"])


async def upload(
    client: httpx.AsyncClient, parent: str, name: str, data: bytes, tenant: str = "-default-", **fields: str
) -> httpx.Response:
    return await client.post(
        f"{core(tenant)}/nodes/{parent}/children",
        files={"filedata": (name, data, "application/octet-stream")},
        data={"name": name, **fields},
    )


async def mkdir(client: httpx.AsyncClient, parent: str, name: str, tenant: str = "-default-") -> httpx.Response:
    return await client.post(f"{core(tenant)}/nodes/{parent}/children", json={"name": name, "nodeType": "cm:folder"})


def error_key(r: httpx.Response) -> str:
    return str(r.json()["error"]["errorKey"])


__all__ = ["AUTH", "CORE", "SEARCH", "Path"]

"""Fixtures for the reliability suite: its own Prefect server and its own emulators.

Faults, restarts and killed runs must not disturb the other suites, so this directory starts its own
processes (the same way `ecsync.processes` starts them for the demo). The REST helper (`Api`) and
`make_pair` come from the flow tests; the `emulators` fixture below overrides theirs, so `onprem_api` and
`cloud_api` talk to these emulators.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ecsync.processes import SYNC_ACCOUNTS, Account, Child, free_port, start_emulator, start_prefect_server
from flows import settings as settings_module
from tests.flows.conftest import cloud_api, onprem_api  # noqa: F401  (re-exported fixtures)
from tests.reliability.support import Restartable
from tests.support.prefect_api import using_server

TASK_RETRIES = "6"
"""Enough attempts that a 15% per-request fault rate almost never exhausts them; the next run catches the rest."""
RETRY_BACKOFF = "0.05"


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Child]:
    """A Prefect server of this suite alone; its home (and prefect.db) is `log_path.parent`."""
    home = tmp_path_factory.mktemp("reliability-prefect")
    server = start_prefect_server(home)
    with using_server(server.extra["api_url"]):
        yield server
    server.stop()


@pytest.fixture(scope="session")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Child]]:
    """Emulators of this suite alone (fault rules set here never reach the flow tests' emulators)."""
    logs = tmp_path_factory.mktemp("reliability-emulators")
    onprem = start_emulator("onprem", None, logs / "onprem.log")
    cloud = start_emulator("cloud", None, logs / "cloud.log")
    yield {"onprem": onprem, "cloud": cloud}
    onprem.stop()
    cloud.stop()


SITES = {"onprem": "engineering", "cloud": "partners"}


def cloud_user(name: str) -> str:
    """The cloud account of a name: a member of network acme.com is name@acme.com (a user's tenant is its domain)."""
    return name if "@" in name else f"{name}@acme.com"


def accounts(user: str | None = None, password: str | None = None) -> dict[str, Account]:
    """The sync's ordinary accounts, or `user` on both sides (in the cloud as user@acme.com); `password` replaces
    the password of either."""
    if user is None:
        return {side: Account(a.user, password or a.password) for side, a in SYNC_ACCOUNTS.items()}
    assert password is not None, "a named account needs its password"
    return {"onprem": Account(user, password), "cloud": Account(cloud_user(user), password)}


async def create_accounts(emulators: dict[str, Child], user: str, password: str, roles: dict[str, str]) -> dict[str, Account]:
    """`user` on both emulators (in the cloud as user@acme.com) with a role in each side's site; an existing user
    gets the new password and role."""
    made = accounts(user, password)
    async with httpx.AsyncClient(timeout=10) as client:
        for side, role in roles.items():
            body = {"id": made[side].user, "password": password, "sites": {SITES[side]: role}}
            response = await client.post(f"{emulators[side].url}/_emulator/users", json=body)
            assert response.status_code == 201, response.text
    return made


def _blocks(emulators: dict[str, Child], chosen: dict[str, Account], suffix: str) -> tuple[dict[str, str], list[object]]:
    from connectors.blocks import AlfrescoConnection

    names = {"onprem": f"onprem{suffix}", "cloud": f"cloud{suffix}"}
    tenants = {"onprem": "-default-", "cloud": "acme.com"}
    blocks: list[object] = [
        AlfrescoConnection(
            base_url=emulators[side].url,
            username=chosen[side].user,
            password=chosen[side].password,
            tenant=tenants[side],
            read_timeout=30,
        )
        for side in ("onprem", "cloud")
    ]
    return names, blocks


def save_connections(
    emulators: dict[str, Child], *, user: str | None = None, password: str | None = None, suffix: str = ""
) -> dict[str, str]:
    """Connection blocks for both emulators on the suite's server (the sync's accounts unless `user` is given, see
    `accounts`); returns their names."""
    names, blocks = _blocks(emulators, accounts(user, password), suffix)
    for side, block in zip(("onprem", "cloud"), blocks, strict=True):
        block.save(names[side], overwrite=True)  # type: ignore[attr-defined]
    return names


async def asave_connections(
    emulators: dict[str, Child], *, user: str | None = None, password: str | None = None, suffix: str = ""
) -> dict[str, str]:
    """`save_connections` for async tests (a block's `save` only returns a coroutine inside an event loop)."""
    names, blocks = _blocks(emulators, accounts(user, password), suffix)
    for side, block in zip(("onprem", "cloud"), blocks, strict=True):
        await block.asave(names[side], overwrite=True)  # type: ignore[attr-defined]
    return names


@pytest.fixture(scope="session")
def connections(prefect_server: Child, emulators: dict[str, Child]) -> dict[str, str]:
    return save_connections(emulators)


@pytest.fixture()
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh sync-state database per test, with quick retries (the engine retries TransientError only)."""
    url = f"sqlite:///{tmp_path / f'state-{uuid.uuid4().hex[:8]}.db'}"
    monkeypatch.setenv("ECSYNC_DATABASE_URL", url)
    monkeypatch.setenv("ECSYNC_TASK_RETRIES", TASK_RETRIES)
    monkeypatch.setenv("ECSYNC_RETRY_BACKOFF_SECONDS", RETRY_BACKOFF)
    settings_module.get_settings.cache_clear()
    yield url
    settings_module.get_settings.cache_clear()


@pytest.fixture()
def own_prefect_server(tmp_path: Path) -> Iterator[Restartable]:
    """A Prefect server of this test alone (own home, fixed port), made the client's API for the test.

    Same approach as the suite's server (`tests.support.prefect_api.using_server`).
    """
    home, port = tmp_path / "prefect-home", free_port()

    def start() -> Child:
        return start_prefect_server(home, port)

    server = Restartable(start, start())
    api_url = server.child.extra["api_url"]
    try:
        with using_server(api_url):
            yield server
    finally:
        server.child.stop()

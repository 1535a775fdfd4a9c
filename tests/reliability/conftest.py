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

import pytest

from ecsync.processes import Child, start_emulator, start_prefect_server
from flows import settings as settings_module
from tests.flows.conftest import cloud_api, onprem_api  # noqa: F401  (re-exported fixtures)
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


def save_connections(
    emulators: dict[str, Child], *, user: str = "admin", password: str = "admin", suffix: str = ""
) -> dict[str, str]:
    """Connection blocks for both emulators on the suite's server; returns their names."""
    from connectors.blocks import AlfrescoConnection

    names = {"onprem": f"onprem{suffix}", "cloud": f"cloud{suffix}"}
    AlfrescoConnection(
        base_url=emulators["onprem"].url, username=user, password=password, tenant="-default-", read_timeout=30
    ).save(names["onprem"], overwrite=True)
    AlfrescoConnection(
        base_url=emulators["cloud"].url, username=user, password=password, tenant="acme.com", read_timeout=30
    ).save(names["cloud"], overwrite=True)
    return names


async def asave_connections(
    emulators: dict[str, Child], *, user: str = "admin", password: str = "admin", suffix: str = ""
) -> dict[str, str]:
    """`save_connections` for async tests (a block's `save` only returns a coroutine inside an event loop)."""
    from connectors.blocks import AlfrescoConnection

    names = {"onprem": f"onprem{suffix}", "cloud": f"cloud{suffix}"}
    await AlfrescoConnection(
        base_url=emulators["onprem"].url, username=user, password=password, tenant="-default-", read_timeout=30
    ).asave(names["onprem"], overwrite=True)
    await AlfrescoConnection(
        base_url=emulators["cloud"].url, username=user, password=password, tenant="acme.com", read_timeout=30
    ).asave(names["cloud"], overwrite=True)
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

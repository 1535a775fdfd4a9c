"""A real Prefect server and two Alfresco emulators over loopback, started once for the flow tests.

The same code starts them for `make demo` (`ecsync.processes`), so what the tests exercise is what users run.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ecsync.processes import SYNC_ACCOUNTS, Child, start_emulator, start_prefect_server
from flows import settings as settings_module
from tests.support.prefect_api import using_server


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Child]:
    home = tmp_path_factory.mktemp("prefect")
    server = start_prefect_server(home)
    with using_server(server.extra["api_url"]):
        yield server
    server.stop()


@pytest.fixture(scope="session")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Child]]:
    logs = tmp_path_factory.mktemp("emulators")
    onprem = start_emulator("onprem", None, logs / "onprem.log")
    cloud = start_emulator("cloud", None, logs / "cloud.log")
    yield {"onprem": onprem, "cloud": cloud}
    onprem.stop()
    cloud.stop()


@pytest.fixture(scope="session")
def connections(prefect_server: Child, emulators: dict[str, Child]) -> dict[str, str]:
    """Connection blocks for both emulators, saved on the real server as users would, with the sync's ordinary
    accounts (ecsync.processes.SYNC_ACCOUNTS), not an administrator."""
    from connectors.blocks import AlfrescoConnection

    onprem_account, cloud_account = SYNC_ACCOUNTS["onprem"], SYNC_ACCOUNTS["cloud"]
    onprem = AlfrescoConnection(
        base_url=emulators["onprem"].url,
        username=onprem_account.user,
        password=onprem_account.password,
        tenant="-default-",
        read_timeout=30,
    )
    onprem.save("onprem", overwrite=True)
    cloud = AlfrescoConnection(
        base_url=emulators["cloud"].url,
        username=cloud_account.user,
        password=cloud_account.password,
        tenant="acme.com",
        read_timeout=30,
        web_url_template="{base_url}/{network}/share/page/site/{site}/document-details?nodeRef=workspace://SpacesStore/{id}",
    )
    cloud.save("cloud", overwrite=True)
    return {"onprem": "onprem", "cloud": "cloud"}


@pytest.fixture()
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh sync-state database per test."""
    url = f"sqlite:///{tmp_path / f'state-{uuid.uuid4().hex[:8]}.db'}"
    monkeypatch.setenv("ECSYNC_DATABASE_URL", url)
    monkeypatch.setenv("ECSYNC_RETRY_BACKOFF_SECONDS", "0.2")
    settings_module.get_settings.cache_clear()
    yield url
    settings_module.get_settings.cache_clear()


class Api:
    """Direct REST calls to an emulator, as a person editing in Share would make them.

    The `onprem_api` and `cloud_api` fixtures act as the sync's own accounts: in Hybrid Sync the cloud account is
    the person's own, and on-prem the sync acts for the person who set it up. Someone else is an explicit other
    account (alice on-prem, bob@acme.com in the cloud)."""

    def __init__(self, base_url: str, tenant: str, user: str, password: str) -> None:
        self.base = f"{base_url}/alfresco/api/{tenant}/public/alfresco/versions/1"
        self.client = httpx.AsyncClient(auth=(user, password), timeout=30)

    async def node(self, node_id: str, **params: str) -> dict:
        response = await self.client.get(f"{self.base}/nodes/{node_id}", params=params)
        response.raise_for_status()
        return response.json()["entry"]

    async def library(self, site: str) -> dict:
        library = await self.client.get(f"{self.base}/sites/{site}/containers/documentLibrary")
        library.raise_for_status()
        return library.json()["entry"]

    async def by_path(self, site: str, path: str) -> dict:
        library = await self.library(site)
        return await self.node(library["id"], relativePath=path, include="properties,aspectNames,isLocked")

    async def children(self, node_id: str) -> list[dict]:
        response = await self.client.get(
            f"{self.base}/nodes/{node_id}/children", params={"maxItems": 1000, "include": "properties,isLocked"}
        )
        response.raise_for_status()
        return [e["entry"] for e in response.json()["list"]["entries"]]

    async def tree(self, node_id: str, prefix: str = "") -> dict[str, dict]:
        """Every node below `node_id` by relative path."""
        found: dict[str, dict] = {}
        for child in await self.children(node_id):
            path = f"{prefix}{child['name']}"
            found[path] = child
            if child["isFolder"]:
                found.update(await self.tree(child["id"], path + "/"))
        return found

    async def content(self, node_id: str) -> bytes:
        response = await self.client.get(f"{self.base}/nodes/{node_id}/content")
        response.raise_for_status()
        return response.content

    async def put_content(self, node_id: str, data: bytes) -> dict:
        response = await self.client.put(
            f"{self.base}/nodes/{node_id}/content", content=data, headers={"Content-Type": "application/octet-stream"}
        )
        response.raise_for_status()
        return response.json()["entry"]

    async def update(self, node_id: str, body: dict) -> dict:
        response = await self.client.put(f"{self.base}/nodes/{node_id}", json=body)
        response.raise_for_status()
        return response.json()["entry"]

    async def upload(self, parent_id: str, name: str, data: bytes) -> dict:
        response = await self.client.post(
            f"{self.base}/nodes/{parent_id}/children", files={"filedata": (name, data)}, data={"name": name}
        )
        response.raise_for_status()
        return response.json()["entry"]

    async def create_folder(self, parent_id: str, name: str) -> dict:
        response = await self.client.post(f"{self.base}/nodes/{parent_id}/children", json={"name": name, "nodeType": "cm:folder"})
        response.raise_for_status()
        return response.json()["entry"]

    async def delete(self, node_id: str) -> None:
        response = await self.client.delete(f"{self.base}/nodes/{node_id}")
        response.raise_for_status()

    async def move(self, node_id: str, target_parent_id: str) -> dict:
        response = await self.client.post(f"{self.base}/nodes/{node_id}/move", json={"targetParentId": target_parent_id})
        response.raise_for_status()
        return response.json()["entry"]

    async def lock(self, node_id: str) -> dict:
        response = await self.client.post(f"{self.base}/nodes/{node_id}/lock", json={"type": "ALLOW_OWNER_CHANGES"})
        response.raise_for_status()
        return response.json()["entry"]

    async def versions(self, node_id: str) -> list[dict]:
        response = await self.client.get(f"{self.base}/nodes/{node_id}/versions")
        response.raise_for_status()
        return [e["entry"] for e in response.json()["list"]["entries"]]

    async def faults(self, config: dict | None) -> None:
        """Configure the emulator's fault injection (None clears it)."""
        root = self.base.split("/alfresco/api/")[0]
        if config is None:
            response = await self.client.delete(f"{root}/_emulator/faults")
        else:
            response = await self.client.put(f"{root}/_emulator/faults", json=config)
        response.raise_for_status()

    async def aclose(self) -> None:
        await self.client.aclose()


@dataclass
class Pair:
    """A fresh on-prem folder (in the engineering library) and a fresh cloud target folder for one test."""

    name: str
    onprem_folder: dict
    cloud_target: dict
    files: dict[str, dict]

    @property
    def site_path(self) -> str:
        return f"site:engineering/{self.name}"

    @property
    def destination(self) -> dict:
        return {"network": "acme.com", "site": "partners", "folder": f"Shared/{self.name}"}

    async def push(self, connections: dict[str, str] | None = None) -> Any:
        """`sync-to-cloud` of this pair's folder into its target (with other connection blocks when given);
        the run's final state."""
        from flows.sync_to_cloud import sync_to_cloud

        named = {f"{side}_connection": name for side, name in (connections or {}).items()}
        return await sync_to_cloud(
            items=[self.site_path], destination=self.destination, slug=self.name, return_state=True, **named
        )


async def make_pair(onprem_api: Api, cloud_api: Api, layout: dict[str, bytes | None]) -> Pair:
    """`layout` maps relative paths to bytes (a file) or None (a folder), parents first."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    library = await onprem_api.library("engineering")
    root = await onprem_api.create_folder(library["id"], name)
    ids = {"": root}
    for path, data in layout.items():
        parent_path, _, leaf = path.rpartition("/")
        parent = ids[parent_path]
        ids[path] = (
            await onprem_api.create_folder(parent["id"], leaf)
            if data is None
            else await onprem_api.upload(parent["id"], leaf, data)
        )
    shared = await cloud_api.by_path("partners", "Shared")
    target = await cloud_api.create_folder(shared["id"], name)
    return Pair(name, root, target, {p: n for p, n in ids.items() if p})


@pytest.fixture()
async def onprem_api(emulators: dict[str, Child]) -> AsyncIterator[Api]:
    api = Api(emulators["onprem"].url, "-default-", SYNC_ACCOUNTS["onprem"].user, SYNC_ACCOUNTS["onprem"].password)
    yield api
    await api.aclose()


@pytest.fixture()
async def cloud_api(emulators: dict[str, Child]) -> AsyncIterator[Api]:
    api = Api(emulators["cloud"].url, "acme.com", SYNC_ACCOUNTS["cloud"].user, SYNC_ACCOUNTS["cloud"].password)
    yield api
    await api.aclose()

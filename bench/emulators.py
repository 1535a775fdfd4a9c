"""Driver-side helpers for the benchmarks that run over the Alfresco emulators.

Two emulators on loopback (on-prem seeded with the `engineering` site, cloud with the `acme.com` network and
its `partners` site), a generated tree uploaded into the on-prem one, latency switched at run time through
`PUT /_emulator/faults`, and request counts per route from `/_emulator/stats`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.common import TreeSpec, content_for, run_measure
from ecsync.processes import SYNC_ACCOUNTS, Account, Child, start_emulator

CORE = "/alfresco/api/{tenant}/public/alfresco/versions/1"


@contextlib.contextmanager
def two_emulators(logs: Path, data: Path | None = None) -> Iterator[dict[str, Child]]:
    """On-prem and cloud emulators (in memory unless `data` is given), stopped on exit."""
    onprem = start_emulator("onprem", data / "onprem" if data else None, logs / "onprem.log")
    try:
        cloud = start_emulator("cloud", data / "cloud" if data else None, logs / "cloud.log")
        try:
            yield {"onprem": onprem, "cloud": cloud}
        finally:
            cloud.stop()
    finally:
        onprem.stop()


class Rest:
    """Plain REST calls to one emulator tenant, for seeding trees and making changes as a user would: by default
    the sync's own (non-admin) account of that side, as the flow tests do."""

    def __init__(self, base_url: str, tenant: str, connections: int = 8, account: Account | None = None) -> None:
        self.base_url = base_url
        self.core = CORE.format(tenant=tenant)
        account = account or SYNC_ACCOUNTS["onprem" if tenant == "-default-" else "cloud"]
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        auth = (account.user, account.password)
        self.client = httpx.AsyncClient(base_url=base_url, auth=auth, timeout=120, limits=limits)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.client.request(method, self.core + path, **kwargs)
        response.raise_for_status()
        return dict(response.json())

    async def by_path(self, site: str, path: str) -> dict[str, Any]:
        library = (await self._json("GET", f"/sites/{site}/containers/documentLibrary"))["entry"]
        if not path:
            return dict(library)
        return dict((await self._json("GET", f"/nodes/{library['id']}", params={"relativePath": path}))["entry"])

    async def create_folder(self, parent_id: str, name: str) -> dict[str, Any]:
        body = {"name": name, "nodeType": "cm:folder"}
        return dict((await self._json("POST", f"/nodes/{parent_id}/children", json=body))["entry"])

    async def upload(self, parent_id: str, name: str, data: bytes) -> dict[str, Any]:
        files = {"filedata": (name, data, "application/octet-stream")}
        return dict((await self._json("POST", f"/nodes/{parent_id}/children", files=files, data={"name": name}))["entry"])

    async def put_content(self, node_id: str, data: bytes) -> dict[str, Any]:
        headers = {"Content-Type": "application/octet-stream"}
        return dict((await self._json("PUT", f"/nodes/{node_id}/content", content=data, headers=headers))["entry"])

    async def children(self, node_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        skip = 0
        for _page in range(10_000):
            page = (await self._json("GET", f"/nodes/{node_id}/children", params={"skipCount": skip, "maxItems": 1000}))["list"]
            found.extend(entry["entry"] for entry in page["entries"])
            if not page["pagination"]["hasMoreItems"]:
                break
            skip += len(page["entries"])
        return found

    async def set_latency(self, latency_ms: int) -> None:
        response = await self.client.put("/_emulator/faults", json={"latency_ms": latency_ms})
        response.raise_for_status()

    async def stats(self, reset: bool = False) -> dict[str, int]:
        response = await (self.client.delete if reset else self.client.get)("/_emulator/stats")
        response.raise_for_status()
        return dict(response.json()["routes"])


async def upload_tree(rest: Rest, parent_id: str, name: str, spec: TreeSpec, concurrency: int = 8) -> dict[str, str]:
    """Create `name` under `parent_id` holding the generated tree; returns relative path -> node id."""
    root = await rest.create_folder(parent_id, name)
    ids: dict[str, str] = {"": root["id"]}
    for folder in spec.folder_paths():  # parents come first in folder_paths()
        parent, _, leaf = folder.rpartition("/")
        ids[folder] = (await rest.create_folder(ids[parent], leaf))["id"]
    semaphore = asyncio.Semaphore(concurrency)

    async def one(path: str, size: int) -> None:
        parent, _, leaf = path.rpartition("/")
        async with semaphore:
            ids[path] = (await rest.upload(ids[parent], leaf, content_for(path, size, spec.seed)))["id"]

    await asyncio.gather(*(one(path, size) for path, size in spec.layout()))
    return ids


def save_blocks(env: dict[str, str], onprem_url: str, cloud_url: str) -> None:
    """Connection blocks `onprem` and `cloud` on the benchmark's Prefect server, as users would save them."""
    run_measure(["blocks", "--onprem-url", onprem_url, "--cloud-url", cloud_url], env)


def content_gets(stats: dict[str, int]) -> int:
    """Content downloads among the requests an emulator answered."""
    return sum(count for route, count in stats.items() if route.startswith("GET") and route.endswith("/content"))

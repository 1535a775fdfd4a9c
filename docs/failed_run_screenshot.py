"""Re-create `docs/failed-run.png`: a failed run's page in the Prefect UI, taken by a real headless browser.

    apt-get update && apt-get install -y chromium      # as root (or with sudo): Debian's chromium, once
    .venv/bin/python docs/failed_run_screenshot.py

It starts a throw-away Prefect server and the two emulators, provokes a name clash (a cloud file of the same
name that the sync did not make: TARGET_FOLDER_NAME_CLASH, never overwritten), and photographs that run's page,
where the state message names the error code and the ERROR log carries the technical report.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ecsync.processes import PEOPLE, SYNC_ACCOUNTS, free_port, start_emulator, start_prefect_server  # noqa: E402

OUTPUT = ROOT / "docs" / "failed-run.png"


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise SystemExit("No chromium found: apt-get update && apt-get install -y chromium")


def _upload_clash(cloud_url: str) -> None:
    """An unrelated README.md already in the cloud folder the sync targets, put there by another cloud user."""
    base = f"{cloud_url}/alfresco/api/acme.com/public/alfresco/versions/1"
    person = PEOPLE["cloud"]
    with httpx.Client(base_url=base, auth=(person.user, person.password), timeout=30) as client:
        library = client.get("/sites/partners/containers/documentLibrary").json()["entry"]["id"]
        shared = client.get(f"/nodes/{library}", params={"relativePath": "Shared"}).json()["entry"]["id"]
        files = {"filedata": ("README.md", b"A partner's own read-me, not from on-prem.\n")}
        client.post(f"/nodes/{shared}/children", files=files, data={"name": "README.md"}).raise_for_status()


async def _failed_run() -> str:
    from flows.sync_to_cloud import sync_to_cloud

    state = await sync_to_cloud(
        items=["site:engineering/README.md"],
        destination={"network": "acme.com", "site": "partners", "folder": "Shared"},
        slug="readme-clash",
        return_state=True,
    )
    assert state.is_failed(), f"expected a failed run, got {state.type}: {state.message}"
    return str(state.state_details.flow_run_id)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="ecsync-shot-"))
    port = free_port()
    os.environ["PREFECT_UI_API_URL"] = f"http://127.0.0.1:{port}/api"  # the UI's own API address (default: port 4200)
    server = start_prefect_server(work / "prefect", port)
    onprem = start_emulator("onprem", None, work / "onprem.log")
    cloud = start_emulator("cloud", None, work / "cloud.log")
    try:
        os.environ["PREFECT_API_URL"] = server.extra["api_url"]
        os.environ["ECSYNC_DATABASE_URL"] = f"sqlite:///{work / 'sync-state.db'}"
        from connectors.blocks import AlfrescoConnection

        on, off = SYNC_ACCOUNTS["onprem"], SYNC_ACCOUNTS["cloud"]
        AlfrescoConnection(base_url=onprem.url, username=on.user, password=on.password).save("onprem", overwrite=True)
        AlfrescoConnection(base_url=cloud.url, username=off.user, password=off.password, tenant="acme.com").save(
            "cloud", overwrite=True
        )
        _upload_clash(cloud.url)
        run_id = asyncio.run(_failed_run())
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=10)  # the run's ERROR log (the technical report) reaches the server
        url = f"{server.url}/runs/flow-run/{run_id}"
        argv = [
            _browser(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={work / 'browser'}",
            "--hide-scrollbars",
            "--virtual-time-budget=15000",
            f"--screenshot={OUTPUT}",
            "--window-size=1400,1000",
            url,
        ]
        subprocess.run(argv, check=True, timeout=120, capture_output=True)
        print(f"{OUTPUT.relative_to(ROOT)} <- {url}")
    finally:
        for child in (cloud, onprem, server):
            child.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

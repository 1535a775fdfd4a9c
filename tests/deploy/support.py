"""Helpers for the deployment tests: child processes in their own process groups, blocks, PostgreSQL.

These tests run the product the way an operator does (the `ecsync` command line, `prefect deploy`, `prefect
worker start`) as subprocesses over loopback, so each test starts its own Prefect server and emulators and
stops every process it started.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

from ecsync.processes import SYNC_ACCOUNTS, Child

PROJECT_ROOT = Path(__file__).resolve().parents[2]

PG_ADMIN_URL = os.environ.get("ECSYNC_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
"""The maintenance database used to create and drop the per-run test databases."""

CLOUD_WEB_URL_TEMPLATE = "{base_url}/{network}/share/page/site/{site}/document-details?nodeRef=workspace://SpacesStore/{id}"


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without settings that would point a child at someone else's state."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ECSYNC_", "PREFECT_API_URL", "PREFECT_HOME", "PYTEST_"))
    }
    env["PYTHONIOENCODING"] = "utf-8"
    env["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "false"
    env.update(extra)
    return env


def spawn(name: str, argv: list[str], env: Mapping[str, str], log_path: Path, cwd: Path = PROJECT_ROOT) -> Child:
    """A child in its own process group (so `Child.stop` reaches everything it starts), output to a log."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    return Child(name=name, process=process, url="", log_path=log_path)


def prefect_cli(*args: str, env: Mapping[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`prefect ...` from the checkout, failing the test with its output when it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        env=dict(env),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"prefect {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def save_blocks(api_url: str, onprem_url: str, cloud_url: str) -> None:
    """The two connection blocks on the given server, as `python -m ecsync register-blocks` would save them."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from connectors.blocks import AlfrescoConnection

    onprem, cloud = SYNC_ACCOUNTS["onprem"], SYNC_ACCOUNTS["cloud"]
    with temporary_settings({PREFECT_API_URL: api_url}):
        AlfrescoConnection(base_url=onprem_url, username=onprem.user, password=onprem.password, read_timeout=30).save(
            "onprem", overwrite=True
        )
        AlfrescoConnection(
            base_url=cloud_url,
            username=cloud.user,
            password=cloud.password,
            tenant="acme.com",
            read_timeout=30,
            web_url_template=CLOUD_WEB_URL_TEMPLATE,
        ).save("cloud", overwrite=True)
        from tests.support.prefect_api import restart_prefect_services

        restart_prefect_services()  # nothing of this server's may linger in the process's event worker


class Rest:
    """Alfresco REST calls a person's client would make (setting up content, checking results), as the sync's own
    account of that side (see tests/flows/conftest.py `Api`)."""

    def __init__(self, base_url: str, tenant: str) -> None:
        base = f"{base_url}/alfresco/api/{tenant}/public/alfresco/versions/1"
        account = SYNC_ACCOUNTS["onprem" if tenant == "-default-" else "cloud"]
        self.client = httpx.Client(base_url=base, auth=(account.user, account.password), timeout=30)

    def by_path(self, site: str, path: str) -> dict:
        library = self.client.get(f"/sites/{site}/containers/documentLibrary")
        library.raise_for_status()
        response = self.client.get(f"/nodes/{library.json()['entry']['id']}", params={"relativePath": path})
        response.raise_for_status()
        return response.json()["entry"]

    def children(self, node_id: str) -> list[dict]:
        response = self.client.get(f"/nodes/{node_id}/children", params={"maxItems": 1000})
        response.raise_for_status()
        return [entry["entry"] for entry in response.json()["list"]["entries"]]

    def content(self, node_id: str) -> bytes:
        response = self.client.get(f"/nodes/{node_id}/content")
        response.raise_for_status()
        return response.content

    def put_content(self, node_id: str, data: bytes) -> None:
        headers = {"Content-Type": "application/octet-stream"}
        self.client.put(f"/nodes/{node_id}/content", content=data, headers=headers).raise_for_status()

    def upload(self, parent_id: str, name: str, data: bytes) -> dict:
        response = self.client.post(f"/nodes/{parent_id}/children", files={"filedata": (name, data)}, data={"name": name})
        response.raise_for_status()
        return response.json()["entry"]

    def create_folder(self, parent_id: str, name: str) -> dict:
        response = self.client.post(f"/nodes/{parent_id}/children", json={"name": name, "nodeType": "cm:folder"})
        response.raise_for_status()
        return response.json()["entry"]

    def close(self) -> None:
        self.client.close()

"""Triggering a served deployment through Prefect's REST API, as an outside system would.

A real Prefect server that asks for a password (the generated secrets of ecsync/server_secrets.py), the two
emulators, and `python -m ecsync serve` (the product's own serve command) as subprocesses. A well-formed request
creates a run that completes; a malformed one is refused with HTTP 409 by the server before any run exists, and
the trigger helper names every invalid field; a caller without the password reads no secret and starts nothing.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deployments.trigger import PrefectApi, RunRefused, authorization_header, state_of
from ecsync.processes import SYNC_ACCOUNTS, Child, start_emulator, start_prefect_server
from ecsync.server_secrets import load_or_create
from tests.deploy.support import CLOUD_WEB_URL_TEMPLATE, PROJECT_ROOT, Rest, clean_env, spawn


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, object]]:
    """Server, emulators, blocks and `ecsync serve` (no schedule); everything stopped afterwards."""
    children: list[Child] = []
    try:
        secrets = load_or_create(tmp_path / "data")
        server = start_prefect_server(tmp_path / "prefect", secrets=secrets)
        children.append(server)
        onprem = start_emulator("onprem", None, tmp_path / "onprem.log")
        children.append(onprem)
        cloud = start_emulator("cloud", None, tmp_path / "cloud.log")
        children.append(cloud)
        api_url = server.extra["api_url"]
        env = clean_env(
            PREFECT_API_URL=api_url,
            PREFECT_HOME=str(tmp_path / "prefect-client"),
            ECSYNC_DATABASE_URL=f"sqlite:///{tmp_path / 'sync-state.db'}",
            ECSYNC_DATA_DIR=str(tmp_path / "data"),
            PREFECT_RUNNER_POLL_FREQUENCY="1",
            **secrets.client_env(),
        )
        # The README's command for saving the connection blocks, passwords from the environment.
        on, off = SYNC_ACCOUNTS["onprem"], SYNC_ACCOUNTS["cloud"]
        register = [sys.executable, "-m", "ecsync", "register-blocks", "--onprem-url", onprem.url, "--onprem-user", on.user]
        register += ["--cloud-url", cloud.url, "--cloud-user", off.user, "--cloud-network", "acme.com"]
        register += ["--web-url-template", CLOUD_WEB_URL_TEMPLATE]
        result = subprocess.run(
            register,
            env={**env, "ECSYNC_ONPREM_PASSWORD": on.password, "ECSYNC_CLOUD_PASSWORD": off.password},
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        argv = [sys.executable, "-m", "ecsync", "serve", "--no-schedule", "--limit", "2"]
        children.append(spawn("serve", argv, env, tmp_path / "serve.log"))
        yield {
            "api_url": api_url,
            "onprem": onprem,
            "cloud": cloud,
            "serve": children[-1],
            "auth_string": secrets.auth_string,
            "prefect_home": tmp_path / "prefect",
        }
    finally:
        for child in reversed(children):
            child.stop()


def test_trigger_over_rest(served: dict[str, object]) -> None:
    cloud_child = served["cloud"]
    assert isinstance(cloud_child, Child)
    with PrefectApi(str(served["api_url"]), auth_string=str(served["auth_string"])) as api:
        try:
            ids = api.wait_for_deployments([("sync-to-cloud", "set-up-sync"), ("reconcile", "reconcile-now")])
        except TimeoutError:
            serve = served["serve"]
            assert isinstance(serve, Child)
            pytest.fail(f"serve did not register its deployments:\n{serve.log_tail(60)}")
        deployment_id = ids["sync-to-cloud/set-up-sync"]
        folder = f"rest-{uuid.uuid4().hex[:6]}"
        good = {
            "items": ["site:engineering/README.md"],
            "destination": {"network": "acme.com", "site": "partners", "folder": f"Shared/{folder}"},
            "options": {"create_target_folder": True, "conflict_policy": "keep-both"},
            "slug": folder,
        }

        before = api.count_flow_runs()
        refused: list[str] = []
        for bad in (
            {**good, "options": {"conflict_policy": "maybe"}},
            {**good, "items": "site:engineering/README.md"},
            {**good, "slug": "Not A Slug"},
        ):
            with pytest.raises(RunRefused) as caught:
                api.create_flow_run(deployment_id, bad)
            assert caught.value.status == 409
            refused.append(caught.value.detail)
        assert "maybe" in refused[0] or "conflict_policy" in refused[0], refused[0]
        # The server names the first invalid field only; the helper names each one with its reason.
        with pytest.raises(RunRefused) as caught:
            api.create_flow_run(deployment_id, {**good, "options": {"conflict_policy": "maybe"}, "slug": "Not A Slug"})
        assert [p.split(":")[0] for p in caught.value.problems] == ["options.conflict_policy", "slug"], caught.value.problems
        assert "2 invalid" in str(caught.value) and "'maybe' is not one of" in str(caught.value)
        assert api.count_flow_runs() == before, "a refused request must not create a run"

        run = api.create_flow_run(deployment_id, good, idempotency_key=f"test-{folder}")
        again = api.create_flow_run(deployment_id, good, idempotency_key=f"test-{folder}")
        assert again["id"] == run["id"], "the same idempotency key must return the same run"
        final = api.wait(run["id"], timeout=180)
        kind, message = state_of(final)
        assert kind == "COMPLETED", message
        assert f"sync-set:{folder}" in final["tags"]
        assert api.count_flow_runs() == before + 1

    cloud = Rest(cloud_child.url, "acme.com")
    try:
        copy = cloud.by_path("partners", f"Shared/{folder}/README.md")
        assert copy["isFile"]
    finally:
        cloud.close()


def test_the_api_asks_for_its_password(served: dict[str, object]) -> None:
    """Issue 17 item 8: without the auth string nothing is read or started; the block key is not in prefect.db."""
    api_url = str(served["api_url"])
    anonymous = httpx.Client(base_url=api_url, timeout=30)
    wrong = httpx.Client(base_url=api_url, timeout=30, headers={"Authorization": authorization_header("ecsync:guess")})
    try:
        for client in (anonymous, wrong):
            secrets = client.post("/block_documents/filter", json={"include_secrets": True})
            assert secrets.status_code == 401, secrets.text
            assert SYNC_ACCOUNTS["cloud"].password not in secrets.text
            assert client.post("/flow_runs/filter", json={}).status_code == 401
            assert client.post("/deployments/filter", json={}).status_code == 401
        assert anonymous.get("/health").status_code == 200, "the health check stays open for supervisors"
    finally:
        anonymous.close()
        wrong.close()
    with PrefectApi(api_url, auth_string=str(served["auth_string"])) as api:
        ids = api.wait_for_deployments([("unsync", "stop-syncing")])
        before = api.count_flow_runs()
        unsync = httpx.post(
            f"{api_url}/deployments/{ids['unsync/stop-syncing']}/create_flow_run",
            json={"parameters": {"slug": "anything", "remove_from_cloud": True}},
            timeout=30,
        )
        assert unsync.status_code == 401
        assert api.count_flow_runs() == before, "an unauthenticated caller must not start an unsync"
        # With the password the blocks are readable, as they must be for the flows that use them.
        blocks = api.client.post("/block_documents/filter", json={"include_secrets": False})
        assert blocks.status_code == 200 and {b["name"] for b in blocks.json()} >= {"onprem", "cloud"}
    # The encryption key came from the environment: Prefect stored none beside the blocks it encrypts.
    database = Path(str(served["prefect_home"])) / "prefect.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        keys = connection.execute("SELECT key FROM configuration WHERE key = 'ENCRYPTION_KEY'").fetchall()
    assert keys == []

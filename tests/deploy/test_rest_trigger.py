"""Triggering a served deployment through Prefect's REST API, as an outside system would.

A real Prefect server, the two emulators, and `python -m ecsync serve` (the product's own serve command) as
subprocesses. A well-formed request creates a run that completes; a malformed one is refused with HTTP 409
by the server before any run exists.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployments.trigger import PrefectApi, RunRefused, state_of
from ecsync.processes import SYNC_ACCOUNTS, Child, start_emulator, start_prefect_server
from tests.deploy.support import CLOUD_WEB_URL_TEMPLATE, PROJECT_ROOT, Rest, clean_env, spawn


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, object]]:
    """Server, emulators, blocks and `ecsync serve` (no schedule); everything stopped afterwards."""
    children: list[Child] = []
    try:
        server = start_prefect_server(tmp_path / "prefect")
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
        yield {"api_url": api_url, "onprem": onprem, "cloud": cloud, "serve": children[-1]}
    finally:
        for child in reversed(children):
            child.stop()


def test_trigger_over_rest(served: dict[str, object]) -> None:
    cloud_child = served["cloud"]
    assert isinstance(cloud_child, Child)
    with PrefectApi(str(served["api_url"])) as api:
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

"""Hostile and impossible input: refused by the schema before a run exists, or failed with SPEC's code.

(tests/flows/test_setup.py covers a missing node, the documentLibrary itself, networks and missing folders;
tests/deploy covers three bad parameter shapes. These are the other shapes and failures.)
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from flows.reconcile import reconcile
from flows.sync_to_cloud import sync_to_cloud
from models import store
from tests.flows.conftest import make_pair
from tests.reliability.conftest import asave_connections, create_accounts
from tests.reliability.support import cloud_root, snapshot

GOOD = {
    "items": ["site:engineering/README.md"],
    "destination": {"network": "acme.com", "site": "partners", "folder": "Shared"},
}
BAD_SHAPES = {
    "items empty": {**GOOD, "items": []},
    "items not strings": {**GOOD, "items": [{"id": 1}]},
    "item with a control character": {**GOOD, "items": ["site:engineering/a\nb"]},
    "destination a string": {**GOOD, "destination": "acme.com/partners"},
    "destination without site": {**GOOD, "destination": {"network": "acme.com"}},
    "destination with an unknown key": {**GOOD, "destination": {**GOOD["destination"], "password": "x"}},
    "site with a slash": {**GOOD, "destination": {**GOOD["destination"], "site": "../admin"}},
    "max_delete_percent above 100": {**GOOD, "options": {"max_delete_percent": 150}},
    "an option that does not exist": {**GOOD, "options": {"delete_everything": True}},
    "a boolean option as a list": {**GOOD, "options": {"lock_on_premise": [True]}},
    "a connection name with a path": {**GOOD, "onprem_connection": "../../etc/passwd"},
}
"""Not here: an unknown top-level parameter ({"verbose": true}). Prefect's schema for a flow's own signature
does not forbid extra keys, so the API creates the run (HTTP 201) and it fails when it starts."""


@pytest.fixture(scope="module")
def deployment_id(prefect_server) -> str:
    return str(sync_to_cloud.to_deployment(name="reliability-hostile").apply())


def test_bad_parameter_shapes_are_refused_before_a_run_exists(prefect_server, deployment_id):
    api = prefect_server.extra["api_url"]
    with httpx.Client(timeout=30) as client:

        def runs() -> int:
            response = client.post(f"{api}/flow_runs/count", json={"deployments": {"id": {"any_": [deployment_id]}}})
            response.raise_for_status()
            return int(response.json())

        before = runs()
        for label, parameters in BAD_SHAPES.items():
            response = client.post(f"{api}/deployments/{deployment_id}/create_flow_run", json={"parameters": parameters})
            assert response.status_code == 409, f"{label}: {response.status_code} {response.text}"
            assert "Validation failed" in response.text or "validation" in response.text.lower(), f"{label}: {response.text}"
        assert runs() == before, "no run was created for any refused request"


async def refused(items: list[str], database_url: str, pair) -> str:
    state = await sync_to_cloud(items=items, destination=pair.destination, slug=pair.name, return_state=True)
    assert state.is_failed()
    assert store.get_sync_set(database_url, pair.name) is None, "a refusal records nothing"
    return state.message or ""


async def test_items_outside_a_document_library_are_refused(connections, database_url, onprem_api, cloud_api):
    pair = await make_pair(onprem_api, cloud_api, {})
    library = await onprem_api.library("engineering")
    site_node = (await onprem_api.node(library["id"]))["parentId"]
    home = await onprem_api.upload("-my-", f"home-{uuid.uuid4().hex[:6]}.txt", b"in a user home")
    before = await snapshot(cloud_api, pair.cloud_target["id"])
    for item in (site_node, home["id"], f"site:engineering/../{pair.name}"):
        message = await refused([item], database_url, pair)
        assert message, item
    assert await snapshot(cloud_api, pair.cloud_target["id"]) == before, "nothing reached the cloud"


async def test_full_quota_fails_the_member_with_its_code(connections, database_url, onprem_api, cloud_api, emulators):
    pair = await make_pair(onprem_api, cloud_api, {"ok.txt": b"small"})
    state = await pair.push()
    assert state.is_completed(), state.message
    root = await cloud_root(cloud_api, pair.cloud_target["id"], pair.name)
    before = await snapshot(cloud_api, root["id"])
    await onprem_api.upload(pair.onprem_folder["id"], "big.bin", b"q" * 50_000)
    network = f"{emulators['cloud'].url}/_emulator/networks/acme.com"
    async with httpx.AsyncClient(timeout=10) as client:
        usage = (await client.put(network, json={})).json()
        assert (await client.put(network, json={"storageLimit": int(usage.get("storageUsed") or 0) + 10})).status_code == 200
        try:
            state = await reconcile(slug=pair.name, return_state=True)
        finally:
            await client.put(network, json={"storageLimit": -1})
    assert state.is_failed() and "QUOTA_LIMIT_VIOLATION" in state.message, state.message
    assert await snapshot(cloud_api, root["id"]) == before, "nothing else changed"
    member = next(m for m in store.members_of(database_url, store.get_sync_set(database_url, pair.name).id) if m.error_code)
    assert member.error_code == "QUOTA_LIMIT_VIOLATION" and member.error_report["status"] == 507


async def test_a_consumer_account_gets_access_denied(prefect_server, emulators, database_url, onprem_api, cloud_api):
    """The cloud account may only read the target site: uploads fail TARGET_NODE_ACCESS_DENIED, on-prem is untouched."""
    user, password = f"reader{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    await create_accounts(emulators, user, password, {"onprem": "SiteManager", "cloud": "SiteConsumer"})
    names = await asave_connections(emulators, user=user, password=password, suffix="-consumer")
    pair = await make_pair(onprem_api, cloud_api, {"a.txt": b"a"})
    before = await snapshot(onprem_api, pair.onprem_folder["id"])
    state = await pair.push(names)
    assert state.is_failed()
    assert "ACCESS_DENIED" in state.message, state.message
    assert await snapshot(onprem_api, pair.onprem_folder["id"]) == before
    assert await snapshot(cloud_api, pair.cloud_target["id"]) == {}


async def test_a_wrong_password_is_an_authentication_error(prefect_server, emulators, database_url, onprem_api, cloud_api):
    names = await asave_connections(emulators, password="not-the-password", suffix="-badpw")
    pair = await make_pair(onprem_api, cloud_api, {"a.txt": b"a"})
    state = await pair.push(names)
    assert state.is_failed() and "AUTHENTICATION_ERROR" in state.message, state.message
    assert "not-the-password" not in state.message
    assert await snapshot(cloud_api, pair.cloud_target["id"]) == {}

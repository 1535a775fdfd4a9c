"""Contract: every request the client sends is an operation of Alfresco's official REST definitions, with
known query parameters and a body of the right shape.

Two checks: this module drives every client method once and checks each request (and that together they
cover the operations the connector is meant to use); and every respx test of the Alfresco suite records
its requests in `RECORDED`, which the last test here checks too (it sees the modules that ran before it;
the `api` fixture's records are what the whole suite produced so far).
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
import respx

from connectors.alfresco import AlfrescoRepository
from connectors.base import Metadata
from tests.connectors.alfresco_fixtures import (
    CORE,
    RECORDED,
    SEARCH,
    alfresco,
    api,
    chunks,
    node_entry,
    one,
    page,
)
from tests.support.openapi import SKIP_REASON, match_operation, spec_dir, validate_request

__all__ = ["alfresco", "api"]  # fixtures, imported for pytest

pytestmark = pytest.mark.skipif(spec_dir() is None, reason=SKIP_REASON)

EXPECTED_OPERATIONS = {
    "createTicket",
    "getNode",
    "getSiteContainer",
    "listNodeChildren",
    "createNode",
    "updateNodeContent",
    "getNodeContent",
    "updateNode",
    "moveNode",
    "deleteNode",
    "restoreDeletedNode",
    "lockNode",
    "unlockNode",
    "getPerson",
    "getNetwork",
    "listNetworksForPerson",
    "search",
}


def mock_everything(api: respx.MockRouter) -> None:
    entry = node_entry("n1", "a.txt", aspectNames=["cm:titled"])
    api.get(f"{CORE}/sites/eng/containers/documentLibrary").mock(return_value=one({"id": "lib-1"}))
    api.get(f"{CORE}/nodes/lib-1").mock(return_value=one(entry))
    api.get(f"{CORE}/nodes/n1").mock(return_value=one(entry))
    api.get(f"{CORE}/nodes/f1/children").mock(return_value=page([entry], 0, False))
    api.post(f"{CORE}/nodes/f1/children").mock(return_value=one(entry, 201))
    api.put(f"{CORE}/nodes/n1/content").mock(return_value=one(entry))
    api.get(f"{CORE}/nodes/n1/content").mock(return_value=httpx.Response(200, content=b"abc"))
    api.put(f"{CORE}/nodes/n1").mock(return_value=one(entry))
    api.post(f"{CORE}/nodes/n1/move").mock(return_value=one(entry))
    api.delete(f"{CORE}/nodes/n1").mock(return_value=httpx.Response(204))
    api.post(f"{CORE}/deleted-nodes/n1/restore").mock(return_value=one(entry))
    api.post(f"{CORE}/nodes/n1/lock").mock(return_value=one(entry))
    api.post(f"{CORE}/nodes/n1/unlock").mock(return_value=one(entry))
    api.get(f"{CORE}/people/-me-").mock(return_value=one({"id": "sync-admin"}))
    api.get(f"{CORE}/networks/acme.com").mock(return_value=one({"id": "acme.com", "isEnabled": True}))
    api.get(f"{CORE}/people/-me-/networks").mock(return_value=page([{"id": "acme.com", "isEnabled": True}], 0, False))
    api.post(f"{SEARCH}/search").mock(return_value=page([entry], 0, False))


async def exercise_every_method(alfresco: AlfrescoRepository) -> None:
    await alfresco.get_by_path("site:eng/Specs")
    node = await alfresco.get("n1")
    _ = [nodes async for nodes in alfresco.list_children("f1")]
    await alfresco.create_folder("f1", "New", Metadata(title="T"))
    await alfresco.upload("f1", "a.txt", chunks(b"hello"), metadata=Metadata(title="T"), mime_type="text/plain")
    await alfresco.update_content("n1", chunks(b"hello again"), major=True)
    _ = [chunk async for chunk in alfresco.download("n1")]
    await alfresco.rename("n1", "b.txt")
    await alfresco.update_metadata("n1", Metadata(title="T", description="D", author="A"))
    await alfresco.ensure_versionable("n1")
    await alfresco.move("n1", "f2", "c.txt")
    await alfresco.delete("n1")
    await alfresco.restore("n1", "f1")
    await alfresco.restore("n1")
    await alfresco.lock("n1")
    await alfresco.unlock("n1")
    await alfresco.whoami()
    await alfresco.get_network("acme.com")
    await alfresco.list_networks()
    await alfresco.changed_below(["f1"], datetime(2026, 11, 27, tzinfo=UTC))
    await alfresco.library_of(node)


async def test_every_method_sends_a_request_of_the_official_definitions(
    api: respx.MockRouter, alfresco: AlfrescoRepository
) -> None:
    mock_everything(api)
    await exercise_every_method(alfresco)

    requests = [call.request for call in api.calls]
    problems = [problem for request in requests for problem in validate_request(request)]
    assert problems == []
    covered = set()
    for request in requests:
        operation = match_operation(request.method, str(request.url))
        assert operation is not None
        covered.add(operation.operation_id)
    assert covered == EXPECTED_OPERATIONS


def test_a_request_off_the_definitions_is_caught() -> None:
    """The check itself can fail: an unknown parameter and a bad lock body are reported."""
    bad = httpx.Request("POST", f"{CORE}/nodes/n1/lock?autoRename=true", json={"type": "EXCLUSIVE"})
    problems = validate_request(bad)
    assert any("autoRename" in p for p in problems)
    assert any("EXCLUSIVE" in p for p in problems)


def test_every_request_recorded_by_the_alfresco_suite_conforms() -> None:
    if not RECORDED:
        pytest.skip("no Alfresco respx test ran before this one in this session")
    problems = sorted(
        {f"{request.method} {request.url}: {problem}" for request in RECORDED for problem in validate_request(request)}
    )
    assert problems == []

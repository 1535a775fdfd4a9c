"""Shared helpers for the Alfresco connector tests: a respx router with a ticket endpoint, a client on it,
canned Alfresco JSON, and a record of every request the client sent (for the contract test).

Import the fixtures into a test module with `from tests.connectors.alfresco_fixtures import api, alfresco`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from connectors.alfresco import AlfrescoRepository
from tests.support.openapi import spec_dir, validate_request

BASE = "http://alfresco.test"
CORE = f"{BASE}/alfresco/api/-default-/public/alfresco/versions/1"
AUTH = f"{BASE}/alfresco/api/-default-/public/authentication/versions/1"
SEARCH = f"{BASE}/alfresco/api/-default-/public/search/versions/1"
USERNAME = "sync-admin"
PASSWORD = "s3cret-Pa55word"
TICKET = "TICKET_0a1b2c3d4e5f"
NEW_TICKET = "TICKET_ffeeddccbbaa"

RECORDED: list[httpx.Request] = []
"""Every request the client sent through a respx router in this session (the contract test reads it)."""


def basic(ticket: str) -> str:
    return "Basic " + base64.b64encode(ticket.encode()).decode()


def ticket_response(ticket: str = TICKET) -> httpx.Response:
    return httpx.Response(201, json={"entry": {"id": ticket, "userId": USERNAME}})


def node_entry(
    node_id: str,
    name: str,
    *,
    folder: bool = False,
    parent: str = "parent-1",
    path: str = "/Company Home/Sites/eng/documentLibrary",
    **extra: Any,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": node_id,
        "name": name,
        "nodeType": "cm:folder" if folder else "cm:content",
        "isFolder": folder,
        "isFile": not folder,
        "parentId": parent,
        "modifiedAt": "2026-11-27T14:05:01.123+0000",
        "createdAt": "2026-11-27T14:05:01.123+0000",
        "modifiedByUser": {"id": USERNAME, "displayName": USERNAME},
        "createdByUser": {"id": USERNAME, "displayName": USERNAME},
        "isLocked": False,
        "path": {"name": path, "isComplete": True, "elements": []},
    }
    if not folder:
        entry["content"] = {"mimeType": "text/plain", "mimeTypeName": "Plain Text", "sizeInBytes": 5}
    entry.update(extra)
    return entry


def one(entry: dict[str, Any], status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"entry": entry})


def page(entries: list[dict[str, Any]], skip: int, more: bool, max_items: int = 100) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "list": {
                "pagination": {
                    "count": len(entries),
                    "hasMoreItems": more,
                    "skipCount": skip,
                    "maxItems": max_items,
                },
                "entries": [{"entry": e} for e in entries],
            }
        },
    )


def error(status: int, key: str = "framework.exception.Some", brief: str = "05270001 Something") -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "error": {
                "errorKey": key,
                "statusCode": status,
                "briefSummary": brief,
                "stackTrace": "For security reasons the stack trace is no longer displayed",
                "descriptionURL": "https://api-explorer.alfresco.com",
                "logId": "a1b2c3d4",
            }
        },
    )


def query(request: httpx.Request) -> dict[str, str]:
    return dict(request.url.params)


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


async def chunks(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def contract_problems(requests: list[httpx.Request]) -> list[str]:
    """What the official definitions find wrong with these requests ([] when they are absent: see the
    contract test module, which skips with the reason)."""
    if spec_dir() is None:
        return []
    return [f"{r.method} {r.url}: {problem}" for r in requests for problem in validate_request(r)]


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """A respx router with a working ticket endpoint.

    Every request a test sent through it is recorded for the contract test and checked against the
    official definitions when the test ends, so no respx test can send an off-contract request unnoticed.
    """
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        router.post(f"{AUTH}/tickets", name="tickets").mock(return_value=ticket_response())
        yield router
        requests = [call.request for call in router.calls]
    RECORDED.extend(requests)
    problems = contract_problems(requests)
    if problems:
        pytest.fail("requests off Alfresco's official definitions:\n" + "\n".join(problems))


@pytest.fixture
async def alfresco(api: respx.MockRouter) -> AsyncIterator[AlfrescoRepository]:
    repository = AlfrescoRepository(base_url=BASE, username=USERNAME, password=PASSWORD, page_size=2)
    try:
        yield repository
    finally:
        await repository.aclose()

"""The Alfresco connector against the in-process emulator, which trims listings to `fields` as Alfresco does.

A field `parse_node` reads but the client does not ask for comes back missing from a listing on a real server;
these tests compare what the connector makes of a listing (and of a search) with what it makes of a full GET of
the same node, so such a field fails here instead of in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.alfresco import AlfrescoRepository
from connectors.base import Metadata, Node
from emulator.app import create_app
from emulator.store import Store


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


CORE = "http://emulator.test/alfresco/api/-default-/public/alfresco/versions/1"


@pytest.fixture
def app() -> Iterator[Any]:
    store = Store(None)
    yield create_app(store, mode="onprem")
    store.close()


@pytest.fixture
async def onprem(app: Any) -> AsyncIterator[AlfrescoRepository]:
    """The sync's on-prem account (a SiteManager, not the admin) over the emulator's ASGI app."""
    repository = AlfrescoRepository(
        base_url="http://emulator.test", username="sync", password="sync", transport=httpx.ASGITransport(app=app)
    )
    yield repository
    await repository.aclose()


async def _listed(repository: AlfrescoRepository, folder_id: str) -> list[Node]:
    return [node async for page in repository.list_children(folder_id, page_size=5) for node in page]


async def test_a_listing_parses_like_a_full_get(onprem: AlfrescoRepository) -> None:
    specs = await onprem.get_by_path("site:engineering/Specs")
    lock_me = await onprem.get_by_path("site:engineering/Specs/api.json")
    await onprem.lock(lock_me.id)
    await onprem.update_metadata(lock_me.id, Metadata(title="API", description="d", author="a"))
    listed = await _listed(onprem, specs.id)
    assert len(listed) == 12
    for node in listed:
        assert node == await onprem.get(node.id), node.name
    assert any(n.is_locked and n.lock_owner == "sync" for n in listed)


async def test_search_results_parse_like_a_full_get(onprem: AlfrescoRepository) -> None:
    library = await onprem.get_by_path("site:engineering")
    feed = await onprem.changed_below([library.id], datetime.now(UTC) - timedelta(days=1))
    found = [change.node for change in feed.changes]
    assert len(found) > 20 and feed.server_time is not None
    for change in feed.changes[:10]:
        assert change.node == await onprem.get(change.node.id), change.node.name
        assert library.id in change.ancestors and change.ancestors[-1] == change.node.parent_id


async def test_update_content_keeps_a_node_without_versions_unversioned(app: Any, onprem: AlfrescoRepository) -> None:
    """Only `major=True` asks for a version of a node without one (NodesImpl#shouldCreateVersionOnContentUpdate)."""
    library = await onprem.get_by_path("site:engineering")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), auth=("alice", "alice")) as person:
        made = await person.post(f"{CORE}/nodes/{library.id}/children", json={"name": "plain.txt", "nodeType": "cm:content"})
    assert made.status_code == 201, made.text
    updated = await onprem.update_content(made.json()["entry"]["id"], _chunks(b"2"))
    assert updated.version_label is None and updated.is_versionable is False
    versioned = await onprem.upload(library.id, "versioned.txt", _chunks(b"1"))
    assert versioned.version_label == "1.0"
    assert (await onprem.update_content(versioned.id, _chunks(b"2"))).version_label == "1.1"
    assert (await onprem.update_content(versioned.id, _chunks(b"3"), major=True)).version_label == "2.0"

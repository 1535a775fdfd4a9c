"""Every method of the Alfresco client sends exactly the request Alfresco expects and parses the answer."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
import respx

from connectors.alfresco import AlfrescoRepository, AlfrescoSettings, PagingError
from connectors.alfresco.parsing import parse_datetime, parse_node
from connectors.alfresco.transport import build_client
from connectors.base import LibraryLocation, Metadata, Node, Repository
from tests.connectors.alfresco_fixtures import (
    BASE,
    CORE,
    PASSWORD,
    SEARCH,
    TICKET,
    USERNAME,
    alfresco,
    api,
    basic,
    body,
    chunks,
    node_entry,
    one,
    page,
    query,
)

__all__ = ["alfresco", "api"]  # fixtures, imported for pytest


def test_satisfies_the_repository_protocol() -> None:
    repository = AlfrescoRepository(base_url=BASE, username=USERNAME, password=PASSWORD, label="cloud")
    assert isinstance(repository, Repository)
    assert repository.label == "cloud"
    assert PASSWORD not in repr(repository.settings)


async def test_get_authenticates_with_a_ticket_and_parses_the_node(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    entry = node_entry(
        "n1",
        "Spec.txt",
        aspectNames=["cm:auditable", "cm:versionable", "cm:titled"],
        isLocked=True,
        properties={
            "cm:versionLabel": "1.3",
            "cm:lockOwner": {"id": "jane", "displayName": "Jane"},
            "cm:title": "The spec",
            "cm:description": "What we build",
            "cm:author": "Jane",
        },
    )
    route = api.get(f"{CORE}/nodes/n1").mock(return_value=one(entry))

    node = await alfresco.get("n1")

    login = api.routes["tickets"].calls.last.request
    assert body(login) == {"userId": USERNAME, "password": PASSWORD}
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == basic(TICKET)
    assert query(sent) == {"include": "isLocked,path"}
    assert node.id == "n1" and node.name == "Spec.txt" and node.parent_id == "parent-1"
    assert node.modified_at == datetime(2026, 11, 27, 14, 5, 1, 123000, tzinfo=UTC)
    assert node.version_label == "1.3"
    assert node.is_locked and node.lock_owner == "jane"
    assert node.is_versionable is True
    assert node.metadata == Metadata("The spec", "What we build", "Jane")
    assert node.path == "/Company Home/Sites/eng/documentLibrary"
    assert node.size == 5 and node.mime_type == "text/plain" and not node.is_folder


async def test_one_ticket_serves_many_calls(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    api.get(f"{CORE}/nodes/n1").mock(return_value=one(node_entry("n1", "a")))
    await alfresco.get("n1")
    await alfresco.get("n1")
    assert api.routes["tickets"].call_count == 1


async def test_get_by_site_path_resolves_the_library_once(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    library = api.get(f"{CORE}/sites/eng/containers/documentLibrary").mock(
        return_value=one({"id": "lib-1", "folderId": "documentLibrary"})
    )
    node = api.get(f"{CORE}/nodes/lib-1").mock(return_value=one(node_entry("n9", "Specs", folder=True)))

    first = await alfresco.get_by_path("site:eng/Specs/2026")
    await alfresco.get_by_path("site:eng/Specs/2026")

    assert first.id == "n9" and first.is_folder
    assert library.call_count == 1
    assert query(node.calls.last.request) == {"relativePath": "Specs/2026", "include": "isLocked,path"}


async def test_get_by_path_accepts_a_node_id_or_reference(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    route = api.get(f"{CORE}/nodes/abc-123").mock(return_value=one(node_entry("abc-123", "x")))
    assert (await alfresco.get_by_path("abc-123")).id == "abc-123"
    assert (await alfresco.get_by_path("workspace://SpacesStore/abc-123")).id == "abc-123"
    assert route.call_count == 2


async def test_library_of_reads_the_path_and_caches_the_library_id(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    library = api.get(f"{CORE}/sites/eng/containers/documentLibrary").mock(return_value=one({"id": "lib-1"}))
    inside = parse_node(node_entry("n1", "Spec.txt", path="/Company Home/Sites/eng/documentLibrary/A/B"))
    top = parse_node(node_entry("n2", "Top.txt"))
    the_library = parse_node(node_entry("lib-1", "documentLibrary", folder=True, path="/Company Home/Sites/eng"))
    outside = parse_node(node_entry("n3", "x.txt", path="/Company Home/Shared"))

    assert await alfresco.library_of(inside) == LibraryLocation("eng", "lib-1", "A/B/Spec.txt")
    assert await alfresco.library_of(top) == LibraryLocation("eng", "lib-1", "Top.txt")
    assert await alfresco.library_of(the_library) == LibraryLocation("eng", "lib-1", "")
    assert await alfresco.library_of(outside) is None
    assert library.call_count == 1


async def test_library_of_fetches_the_path_when_missing(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    entry = node_entry("n1", "Spec.txt", path="/Company Home/Sites/eng/documentLibrary/A")
    entry["path"]["elements"] = [
        {"id": "root", "name": "Company Home"},
        {"id": "sites", "name": "Sites"},
        {"id": "site-eng", "name": "eng"},
        {"id": "lib-7", "name": "documentLibrary"},
        {"id": "a", "name": "A"},
    ]
    api.get(f"{CORE}/nodes/n1").mock(return_value=one(entry))

    location = await alfresco.library_of(Node(id="n1", name="Spec.txt", parent_id="a", is_folder=False))
    # the library id came from the path elements: no sites/ call was registered, and respx would refuse it
    assert location == LibraryLocation("eng", "lib-7", "A/Spec.txt")


async def test_list_children_walks_three_pages_with_exact_requests(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    route = api.get(f"{CORE}/nodes/f1/children").mock(
        side_effect=[
            page([node_entry("a", "a"), node_entry("b", "b")], 0, True, 2),
            page([node_entry("c", "c"), node_entry("d", "d")], 2, True, 2),
            page([node_entry("e", "e")], 4, False, 2),
        ]
    )

    seen = [[n.id for n in nodes] async for nodes in alfresco.list_children("f1")]

    assert seen == [["a", "b"], ["c", "d"], ["e"]]
    requests = [call.request for call in route.calls]
    assert [(query(r)["skipCount"], query(r)["maxItems"]) for r in requests] == [("0", "2"), ("2", "2"), ("4", "2")]
    assert {query(r)["include"] for r in requests} == {"properties,aspectNames,isLocked,path"}
    assert all("content" in query(r)["fields"].split(",") for r in requests)


async def test_list_children_stops_on_an_empty_page(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    route = api.get(f"{CORE}/nodes/f1/children").mock(
        side_effect=[page([node_entry("a", "a"), node_entry("b", "b")], 0, True, 2), page([], 2, True, 2)]
    )
    seen = [nodes async for nodes in alfresco.list_children("f1", page_size=2)]
    assert len(seen) == 1 and route.call_count == 2


async def test_a_server_that_ignores_skip_count_is_refused(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    api.get(f"{CORE}/nodes/f1/children").mock(return_value=page([node_entry("a", "a"), node_entry("b", "b")], 0, True, 2))
    with pytest.raises(PagingError, match="skipCount"):
        _ = [nodes async for nodes in alfresco.list_children("f1")]


async def test_a_server_that_repeats_a_page_is_refused(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    def same_page(request: httpx.Request) -> httpx.Response:
        skip = int(request.url.params["skipCount"])
        listing = page([node_entry("a", "a"), node_entry("b", "b")], skip, True, 2)
        return listing

    api.get(f"{CORE}/nodes/f1/children").mock(side_effect=same_page)
    with pytest.raises(PagingError, match="same page"):
        _ = [nodes async for nodes in alfresco.list_children("f1")]


async def test_a_listing_that_never_ends_hits_the_page_cap(api: respx.MockRouter) -> None:
    def endless(request: httpx.Request) -> httpx.Response:
        skip = int(request.url.params["skipCount"])
        return page([node_entry(f"n{skip}", f"n{skip}")], skip, True, 1)

    route = api.get(f"{CORE}/nodes/f1/children").mock(side_effect=endless)
    repository = AlfrescoRepository(base_url=BASE, username=USERNAME, password=PASSWORD, page_size=1, max_pages=5)
    try:
        with pytest.raises(PagingError, match="more than 5 pages"):
            _ = [nodes async for nodes in repository.list_children("f1")]
    finally:
        await repository.aclose()
    assert route.call_count == 5


async def test_create_folder_posts_json(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    route = api.post(f"{CORE}/nodes/p1/children").mock(return_value=one(node_entry("f2", "New", folder=True, parent="p1"), 201))
    node = await alfresco.create_folder("p1", "New", Metadata(title="T", author="A"))
    sent = route.calls.last.request
    assert body(sent) == {"name": "New", "nodeType": "cm:folder", "properties": {"cm:title": "T", "cm:author": "A"}}
    assert "autoRename" not in query(sent)
    assert node.id == "f2" and node.is_folder


async def test_upload_sends_a_streamed_multipart_form(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    route = api.post(f"{CORE}/nodes/p1/children").mock(return_value=one(node_entry("n5", "ünï.txt"), 201))
    data = b"hello world, " * 100

    node = await alfresco.upload(
        "p1", "ünï.txt", chunks(data), metadata=Metadata(title="Hi", description="D"), mime_type="text/plain"
    )

    sent = route.calls.last.request
    assert sent.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert "content-length" not in sent.headers  # streamed (chunked), never assembled in memory
    message = email.message_from_bytes(
        b"Content-Type: " + sent.headers["Content-Type"].encode() + b"\r\n\r\n" + sent.content,
        policy=email.policy.HTTP,
    )
    parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
    assert set(parts) == {"name", "nodeType", "cm:title", "cm:description", "filedata"}
    assert parts["name"].get_payload(decode=True).decode() == "ünï.txt"
    assert parts["nodeType"].get_payload(decode=True) == b"cm:content"
    assert parts["cm:title"].get_payload(decode=True) == b"Hi"
    assert parts["filedata"].get_content_type() == "text/plain"
    assert parts["filedata"].get_payload(decode=True) == data
    assert "autoRename" not in query(sent) and "overwrite" not in query(sent)
    assert node.id == "n5"


async def test_update_content_puts_the_raw_stream(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    route = api.put(f"{CORE}/nodes/n1/content").mock(return_value=one(node_entry("n1", "a.txt")))
    await alfresco.update_content("n1", chunks(b"new bytes"), major=True)
    await alfresco.update_content("n1", chunks(b"newer"))
    first, second = (call.request for call in route.calls)
    assert query(first) == {"majorVersion": "true"} and first.content == b"new bytes"
    assert query(second) == {} and second.content == b"newer", "majorVersion=false would make a node versionable"
    assert first.headers["Content-Type"] == "application/octet-stream"


async def test_download_streams_the_bytes(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    route = api.get(f"{CORE}/nodes/n1/content").mock(return_value=httpx.Response(200, content=b"abcdef" * 1000))
    received = b"".join([chunk async for chunk in alfresco.download("n1")])
    assert received == b"abcdef" * 1000
    assert query(route.calls.last.request) == {"attachment": "false"}


async def test_rename_move_and_metadata(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    update = api.put(f"{CORE}/nodes/n1").mock(return_value=one(node_entry("n1", "b.txt")))
    move = api.post(f"{CORE}/nodes/n1/move").mock(return_value=one(node_entry("n1", "c.txt", parent="p2")))

    await alfresco.rename("n1", "b.txt")
    await alfresco.update_metadata("n1", Metadata(title="T"))
    moved = await alfresco.move("n1", "p2", "c.txt")
    await alfresco.move("n1", "p2")

    rename_request, metadata_request = (call.request for call in update.calls)
    assert body(rename_request) == {"name": "b.txt"}
    assert body(metadata_request) == {"properties": {"cm:title": "T", "cm:description": "", "cm:author": ""}}
    assert body(move.calls[0].request) == {"targetParentId": "p2", "name": "c.txt"}
    assert body(move.calls[1].request) == {"targetParentId": "p2"}
    assert moved.parent_id == "p2"


async def test_ensure_versionable_adds_the_aspect_to_the_full_list(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    api.get(f"{CORE}/nodes/n1").mock(return_value=one(node_entry("n1", "a", aspectNames=["cm:auditable", "cm:titled"])))
    update = api.put(f"{CORE}/nodes/n1").mock(
        return_value=one(node_entry("n1", "a", aspectNames=["cm:auditable", "cm:titled", "cm:versionable"]))
    )
    node = await alfresco.ensure_versionable("n1")
    assert body(update.calls.last.request) == {"aspectNames": ["cm:auditable", "cm:titled", "cm:versionable"]}
    assert node.is_versionable is True


async def test_ensure_versionable_leaves_a_versionable_node_alone(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    api.get(f"{CORE}/nodes/n1").mock(return_value=one(node_entry("n1", "a", aspectNames=["cm:versionable"])))
    update = api.put(f"{CORE}/nodes/n1")
    assert (await alfresco.ensure_versionable("n1")).is_versionable is True
    assert update.call_count == 0


async def test_delete_goes_to_the_trashcan_and_restore_brings_it_back(
    api: respx.MockRouter, alfresco: AlfrescoRepository
) -> None:
    delete = api.delete(f"{CORE}/nodes/n1").mock(return_value=httpx.Response(204))
    restore = api.post(f"{CORE}/deleted-nodes/n1/restore").mock(return_value=one(node_entry("n1", "a")))

    await alfresco.delete("n1")
    await alfresco.restore("n1")
    await alfresco.restore("n1", "p9")

    assert "permanent" not in query(delete.calls.last.request)
    assert body(restore.calls[0].request) == {}
    assert body(restore.calls[1].request) == {"targetParentId": "p9"}


async def test_lock_and_unlock(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    lock = api.post(f"{CORE}/nodes/n1/lock").mock(
        return_value=one(node_entry("n1", "a", isLocked=True, properties={"cm:lockOwner": USERNAME}))
    )
    unlock = api.post(f"{CORE}/nodes/n1/unlock").mock(return_value=one(node_entry("n1", "a")))

    locked = await alfresco.lock("n1")
    unlocked = await alfresco.unlock("n1")

    assert body(lock.calls.last.request) == {"type": "ALLOW_OWNER_CHANGES", "lifetime": "PERSISTENT", "timeToExpire": 0}
    assert unlock.calls.last.request.content == b""
    assert locked.is_locked and locked.lock_owner == USERNAME
    assert not unlocked.is_locked


async def test_whoami_and_networks(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    api.get(f"{CORE}/people/-me-").mock(return_value=one({"id": USERNAME, "firstName": "Sync"}))
    api.get(f"{CORE}/networks/acme.com").mock(
        return_value=one({"id": "acme.com", "isEnabled": True, "subscriptionLevel": "Enterprise"})
    )
    networks = api.get(f"{CORE}/people/-me-/networks").mock(
        side_effect=[
            page(
                [
                    {"id": "acme.com", "isEnabled": True, "subscriptionLevel": "Enterprise"},
                    {"id": "free.org", "isEnabled": True, "subscriptionLevel": "Free"},
                ],
                0,
                True,
                2,
            ),
            page([{"id": "off.net", "isEnabled": False, "subscriptionLevel": "Standard"}], 2, False, 2),
        ]
    )

    assert await alfresco.whoami() == USERNAME
    acme = await alfresco.get_network("acme.com")
    every = await alfresco.list_networks()

    assert acme.sync_enabled
    assert [(n.id, n.sync_enabled) for n in every] == [("acme.com", True), ("free.org", False), ("off.net", False)]
    assert [query(c.request)["skipCount"] for c in networks.calls] == ["0", "2"]


async def test_changed_below_pages_through_afts_with_each_nodes_folders_and_the_servers_clock(
    api: respx.MockRouter, alfresco: AlfrescoRepository
) -> None:
    with_path = node_entry("a", "a")
    with_path["path"] = {
        "name": "/Company Home/x",
        "elements": [{"id": "home", "name": "Company Home"}, {"id": "x", "name": "x"}],
    }
    served = {"Date": "Sun, 29 Nov 2026 17:30:00 GMT"}
    route = api.post(f"{SEARCH}/search").mock(
        side_effect=[
            httpx.Response(200, json=page([with_path, node_entry("b", "b")], 0, True, 2).json(), headers=served),
            page([node_entry("c", "c")], 2, False, 2),
        ]
    )
    since = datetime(2026, 11, 27, 11, 0, tzinfo=timezone(timedelta(hours=1)))

    feed = await alfresco.changed_below(["root-1", "root-2"], since)

    assert [c.node.id for c in feed.changes] == ["a", "b", "c"]
    assert feed.changes[0].ancestors == ("home", "x") and feed.changes[1].ancestors == ()
    assert feed.server_time == datetime(2026, 11, 29, 17, 30, tzinfo=UTC)
    first, second = (body(call.request) for call in route.calls)
    assert first["query"] == {
        "query": '(ANCESTOR:"workspace://SpacesStore/root-1" OR ANCESTOR:"workspace://SpacesStore/root-2")'
        ' AND cm:modified:["2026-11-27T10:00:00.000Z" TO MAX]',
        "language": "afts",
    }
    assert first["sort"] == [{"type": "FIELD", "field": "cm:created", "ascending": True}], "stable while people edit"
    assert first["paging"] == {"maxItems": 2, "skipCount": 0}
    assert second["paging"] == {"maxItems": 2, "skipCount": 2}
    assert set(first["include"]) == {"properties", "aspectNames", "isLocked", "path"}


async def test_tenant_goes_into_every_url(api: respx.MockRouter) -> None:
    tickets = api.post(f"{BASE}/alfresco/api/acme.com/public/authentication/versions/1/tickets").mock(
        return_value=httpx.Response(201, json={"entry": {"id": TICKET, "userId": USERNAME}})
    )
    route = api.get(f"{BASE}/alfresco/api/acme.com/public/alfresco/versions/1/nodes/n1").mock(
        return_value=one(node_entry("n1", "a"))
    )
    repository = AlfrescoRepository(base_url=BASE + "/", username=USERNAME, password=PASSWORD, tenant="acme.com")
    try:
        await repository.get("n1")
    finally:
        await repository.aclose()
    assert tickets.call_count == 1 and route.call_count == 1


def test_web_url_fills_the_template() -> None:
    node = parse_node(node_entry("n1", "Spec.txt", path="/Company Home/Sites/eng/documentLibrary/A"))
    onprem = AlfrescoRepository(base_url=BASE, username=USERNAME, password=PASSWORD)
    cloud = AlfrescoRepository(
        base_url="https://my.alfresco.example",
        username=USERNAME,
        password=PASSWORD,
        tenant="acme.com",
        web_url_template="{base_url}/{network}/page/site/{site}/document-details?nodeRef=workspace://SpacesStore/{id}",
    )
    assert onprem.web_url(node) == (f"{BASE}/share/page/site/eng/document-details?nodeRef=workspace://SpacesStore/n1")
    assert cloud.web_url(node) == (
        "https://my.alfresco.example/acme.com/page/site/eng/document-details?nodeRef=workspace://SpacesStore/n1"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T14:05:01.123+0000", datetime(2026, 11, 27, 14, 5, 1, 123000, tzinfo=UTC)),
        ("2026-11-27T15:05:01.123+0100", datetime(2026, 11, 27, 14, 5, 1, 123000, tzinfo=UTC)),
        ("2026-11-27T14:05:01Z", datetime(2026, 11, 27, 14, 5, 1, tzinfo=UTC)),
        ("2026-11-27T14:05:01.123", datetime(2026, 11, 27, 14, 5, 1, 123000, tzinfo=UTC)),
        (None, None),
    ],
)
def test_alfresco_dates_become_aware_datetimes(text: str | None, expected: datetime | None) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed is None or parsed.tzinfo is not None


async def test_listing_nodes_without_aspects_leave_versionable_unknown(
    api: respx.MockRouter, alfresco: AlfrescoRepository
) -> None:
    api.get(f"{CORE}/nodes/n1").mock(return_value=one(node_entry("n1", "a")))
    assert (await alfresco.get("n1")).is_versionable is None


def test_a_cleared_property_reads_back_as_unset() -> None:
    node = parse_node(node_entry("n1", "a", properties={"cm:title": "", "cm:author": "Jane"}))
    assert node.metadata == Metadata(title=None, description=None, author="Jane")


def test_settings_become_the_connection_pool_configuration() -> None:
    settings = AlfrescoSettings(
        base_url=BASE,
        username=USERNAME,
        password=PASSWORD,
        connect_timeout=3,
        read_timeout=40,
        write_timeout=50,
        pool_timeout=7,
        max_connections=4,
    )
    client = build_client(settings, None)
    assert client.timeout == httpx.Timeout(connect=3, read=40, write=50, pool=7)
    assert not client.follow_redirects


async def test_an_injected_client_is_used_and_left_open(api: respx.MockRouter) -> None:
    api.get(f"{CORE}/nodes/n1").mock(return_value=one(node_entry("n1", "a")))
    async with httpx.AsyncClient() as client:
        repository = AlfrescoRepository(base_url=BASE, username=USERNAME, password=PASSWORD, client=client)
        await repository.get("n1")
        await repository.aclose()
        assert not client.is_closed

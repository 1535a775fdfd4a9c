"""`AlfrescoRepository`: the `Repository` protocol over Alfresco's REST API v1.

Each method is one (or two) REST calls; HTTP, authentication and error mapping live in `transport`, JSON
parsing in `parsing`, paging in `paging`, streaming uploads in `multipart`. Writes never overwrite,
never auto-rename and never delete permanently, because the sync engine relies on a clash or a trashcan
to stay safe.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from connectors.alfresco.multipart import content_type, multipart_body, new_boundary
from connectors.alfresco.paging import pages
from connectors.alfresco.parsing import (
    format_datetime,
    library_ids_in_path,
    parse_network,
    parse_node,
    site_and_relative_path,
)
from connectors.alfresco.settings import AlfrescoSettings, web_address
from connectors.alfresco.transport import AlfrescoTransport, Api
from connectors.base import Change, ChangeFeed, LibraryLocation, Metadata, Network, Node
from connectors.errors import InvalidRequestError, NameNotAllowedError, TechnicalReport

NODE_INCLUDE = "isLocked,path"
"""Single-node answers carry properties and aspects already; add what they leave out."""
LIST_INCLUDE = "properties,aspectNames,isLocked,path"
LIST_FIELDS = "id,name,isFolder,parentId,modifiedAt,content,createdByUser,modifiedByUser"
"""Listings are the bulk of the traffic: ask only for the top-level fields `parse_node` reads; the `include`d ones
(properties, aspectNames, isLocked, path) come in addition. Alfresco returns nothing else, so a field `parse_node`
starts to read must be added here (tests/connectors/test_alfresco_emulator.py compares with a full GET)."""
SEARCH_INCLUDE = ["properties", "aspectNames", "isLocked", "path"]
NODE_REF_PREFIX = "workspace://SpacesStore/"
LOCK_BODY = {"type": "ALLOW_OWNER_CHANGES", "lifetime": "PERSISTENT", "timeToExpire": 0}
_PROPERTY_NAMES = {"title": "cm:title", "description": "cm:description", "author": "cm:author"}


MAX_NAME_LENGTH = 255
"""Names longer than this are refused before any request: Share's own limit for a name, and the limit of
most file systems a synced copy may end up on. Alfresco's REST API would store a longer cm:name."""
_ILLEGAL_NAME = re.compile(r'[*"<>\\/?:|]')


def check_name(name: str, operation: str) -> str:
    """Refuse, before sending, a name Alfresco does not allow, with a message that says what is wrong.

    The server would answer 422 "integrity" (the `cm:filename` constraint of contentModel.xml, an
    IntegrityException), which reads as a server fault; checked here, the member fails NAME_NOT_ALLOWED (not
    retried) and the user learns which name and why.
    """
    problems = []
    bad = sorted(set(_ILLEGAL_NAME.findall(name)))
    if bad:
        problems.append(f"contains {' '.join(bad)}")
    if name.endswith((".", " ")):
        problems.append("ends with a dot or a space")
    if len(name) > MAX_NAME_LENGTH:
        problems.append(f"is {len(name)} characters long (at most {MAX_NAME_LENGTH})")
    if problems:
        shown = name if len(name) <= 80 else name[:80] + "..."
        reason = f"the name {shown!r} is not allowed in Alfresco: " + " and ".join(problems)
        raise NameNotAllowedError(f"{operation}: {reason}", TechnicalReport(operation=operation, brief_summary=reason))
    return name


def _segment(node_id: str) -> str:
    """A node id (or a `workspace://SpacesStore/` reference) as one URL path segment, never more."""
    if node_id.startswith(NODE_REF_PREFIX):
        node_id = node_id[len(NODE_REF_PREFIX) :]
    return quote(node_id, safe="-")


def _properties(metadata: Metadata | None, *, keep_unset: bool) -> dict[str, str]:
    """cm: properties for the metadata.

    With keep_unset, an unset (None) value is sent as "" so the server's copy is cleared too: the official
    definitions allow only strings as property values, and `parse_metadata` reads "" back as unset.
    """
    if metadata is None:
        return {}
    values = metadata.as_dict()
    return {_PROPERTY_NAMES[key]: value or "" for key, value in values.items() if keep_unset or value is not None}


class AlfrescoRepository:
    """One tenant of one Alfresco server (on-premise or a cloud network), with one connection pool."""

    def __init__(
        self,
        settings: AlfrescoSettings | None = None,
        /,
        *,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **fields: Any,
    ) -> None:
        """Pass an `AlfrescoSettings`, or its fields as keywords (base_url=..., username=..., ...)."""
        self.settings = settings if settings is not None else AlfrescoSettings(**fields)
        self.label: str = self.settings.label
        self._http = AlfrescoTransport(self.settings, client=client, transport=transport)
        self._library_ids: dict[str, str] = {}
        self._me: str | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AlfrescoRepository:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---- reading --------------------------------------------------------------------------------

    def _node(self, document: dict[str, Any]) -> Node:
        entry = document["entry"]
        self._library_ids.update(library_ids_in_path(entry))
        return parse_node(entry)

    async def _get_entry(self, node_id: str, operation: str = "get node") -> dict[str, Any]:
        return await self._http.call(operation, "GET", Api.CORE, f"nodes/{_segment(node_id)}", params={"include": NODE_INCLUDE})

    async def get(self, node_id: str) -> Node:
        return self._node(await self._get_entry(node_id))

    async def locate(self, node_id: str) -> Change:
        """The node and the ids of its folders from the top down (its `path.elements`), in one GET."""
        document = await self._get_entry(node_id)
        elements = (document["entry"].get("path") or {}).get("elements") or []
        return Change(self._node(document), tuple(str(element["id"]) for element in elements if element.get("id")))

    async def get_by_path(self, path: str) -> Node:
        """ "site:<site>/<path in its document library>", or a node id / node reference."""
        if not path.startswith("site:"):
            return await self.get(path)
        site, _, relative = path[len("site:") :].partition("/")
        if not site:
            raise InvalidRequestError(f"{path!r} names no site", TechnicalReport(operation="get node by path"))
        library_id = await self._library_id(site)
        relative = relative.strip("/")
        if not relative:
            return await self.get(library_id)
        document = await self._http.call(
            "get node by path",
            "GET",
            Api.CORE,
            f"nodes/{_segment(library_id)}",
            params={"relativePath": relative, "include": NODE_INCLUDE},
        )
        return self._node(document)

    async def _library_id(self, site: str) -> str:
        if site not in self._library_ids:
            document = await self._http.call(
                "get document library",
                "GET",
                Api.CORE,
                f"sites/{quote(site, safe='')}/containers/documentLibrary",
            )
            self._library_ids[site] = str(document["entry"]["id"])
        return self._library_ids[site]

    async def library_of(self, node: Node) -> LibraryLocation | None:
        if node.path is None:
            node = await self.get(node.id)
        located = site_and_relative_path(node)
        if located is None:
            return None
        site, relative = located
        library_id = node.id if relative == "" else await self._library_id(site)
        self._library_ids.setdefault(site, library_id)
        return LibraryLocation(site_id=site, library_id=library_id, relative_path=relative)

    async def list_children(self, folder_id: str, *, page_size: int | None = None) -> AsyncIterator[list[Node]]:
        """Yield the folder's children page by page (include adds properties, aspects, lock, path)."""
        operation = "list children"

        async def fetch(skip: int, size: int) -> dict[str, Any]:
            document = await self._http.call(
                operation,
                "GET",
                Api.CORE,
                f"nodes/{_segment(folder_id)}/children",
                params={"skipCount": skip, "maxItems": size, "include": LIST_INCLUDE, "fields": LIST_FIELDS},
            )
            return document["list"]

        async for entries in pages(
            operation, fetch, page_size=page_size or self.settings.page_size, max_pages=self.settings.max_pages
        ):
            yield [self._node({"entry": entry}) for entry in entries]

    async def changed_below(self, roots: Sequence[str], since: datetime) -> ChangeFeed:
        """Every node below `roots` whose `cm:modified` is at or after `since`, with its folders' ids (the
        search's `path.elements`), and the server's clock when it answered.

        Sorted by creation so that paging stays stable while people keep editing (a node made meanwhile comes
        last). A hint, not the truth: search lags the repository and does not report deletions (see
        `connectors.base.ChangeSource`).
        """
        operation = "search changes"
        if not roots:
            return ChangeFeed([], self._http.server_time)
        ancestors = " OR ".join(f'ANCESTOR:"{NODE_REF_PREFIX}{_segment(root)}"' for root in roots)
        query = f'({ancestors}) AND cm:modified:["{format_datetime(since)}" TO MAX]'

        async def fetch(skip: int, size: int) -> dict[str, Any]:
            document = await self._http.call(
                operation,
                "POST",
                Api.SEARCH,
                "search",
                json={
                    "query": {"query": query, "language": "afts"},
                    "paging": {"maxItems": size, "skipCount": skip},
                    "sort": [{"type": "FIELD", "field": "cm:created", "ascending": True}],
                    "include": SEARCH_INCLUDE,
                    "fields": LIST_FIELDS.split(","),
                },
            )
            return document["list"]

        changes: list[Change] = []
        answered: datetime | None = None
        async for entries in pages(operation, fetch, page_size=self.settings.page_size, max_pages=self.settings.max_pages):
            answered = answered or self._http.server_time
            for entry in entries:
                elements = (entry.get("path") or {}).get("elements") or []
                chain = tuple(str(element["id"]) for element in elements if element.get("id"))
                changes.append(Change(self._node({"entry": entry}), chain))
        return ChangeFeed(changes, answered or self._http.server_time)

    async def download(self, node_id: str) -> AsyncIterator[bytes]:
        """Stream the content; a connection dropped mid-body surfaces as TransientError."""
        async with self._http.stream(
            "download content", "GET", Api.CORE, f"nodes/{_segment(node_id)}/content", params={"attachment": "false"}
        ) as response:
            async for chunk in response.aiter_bytes():
                yield chunk

    async def whoami(self) -> str:
        """The account's id, asked once per client: its credentials, hence its identity, never change."""
        if self._me is None:
            document = await self._http.call("who am I", "GET", Api.CORE, "people/-me-")
            self._me = str(document["entry"]["id"])
        return self._me

    async def get_network(self, network_id: str) -> Network:
        document = await self._http.call("get network", "GET", Api.CORE, f"networks/{quote(network_id, safe='-')}")
        return parse_network(document["entry"])

    async def list_networks(self) -> list[Network]:
        operation = "list networks"

        async def fetch(skip: int, size: int) -> dict[str, Any]:
            document = await self._http.call(
                operation,
                "GET",
                Api.CORE,
                "people/-me-/networks",
                params={"skipCount": skip, "maxItems": size},
            )
            return document["list"]

        networks: list[Network] = []
        async for entries in pages(operation, fetch, page_size=self.settings.page_size, max_pages=self.settings.max_pages):
            networks.extend(parse_network(entry) for entry in entries)
        return networks

    def web_url(self, node: Node, *, site: str | None = None) -> str:
        """The node's page in the web UI; `site` when the caller knows it (a node read without its path)."""
        located = site_and_relative_path(node)
        return web_address(
            self.settings.web_url_template,
            base_url=self.settings.base_url,
            network=self.settings.tenant,
            site=site or (located[0] if located else ""),
            node_id=node.id,
            name=node.name,
        )

    # ---- writing --------------------------------------------------------------------------------

    async def create_folder(self, parent_id: str, name: str, metadata: Metadata | None = None) -> Node:
        body: dict[str, Any] = {"name": check_name(name, "create folder"), "nodeType": "cm:folder"}
        properties = _properties(metadata, keep_unset=False)
        if properties:
            body["properties"] = properties
        document = await self._http.call(
            "create folder",
            "POST",
            Api.CORE,
            f"nodes/{_segment(parent_id)}/children",
            params={"include": NODE_INCLUDE},
            json=body,
        )
        return self._node(document)

    async def upload(
        self,
        parent_id: str,
        name: str,
        content: AsyncIterable[bytes],
        *,
        metadata: Metadata | None = None,
        mime_type: str | None = None,
    ) -> Node:
        """Multipart create, streamed; no autoRename and no overwrite, so a clash is a NameClashError."""
        check_name(name, "upload file")
        boundary = new_boundary()
        fields = {"name": name, "nodeType": "cm:content", **_properties(metadata, keep_unset=False)}
        body = multipart_body(boundary, fields, "filedata", name, mime_type or "application/octet-stream", content)
        document = await self._http.call(
            "upload file",
            "POST",
            Api.CORE,
            f"nodes/{_segment(parent_id)}/children",
            params={"include": NODE_INCLUDE},
            content=body,
            headers={"Content-Type": content_type(boundary)},
            replayable=False,
        )
        return self._node(document)

    async def update_content(self, node_id: str, content: AsyncIterable[bytes], *, major: bool = False) -> Node:
        """New bytes. `majorVersion` is sent only for a major version: Alfresco reads its presence, not its value, as
        a request for a version (NodesImpl#shouldCreateVersionOnContentUpdate), so `majorVersion=false` would make
        a node without versions versionable at 0.1. Omitted, a versioned node gets its next minor version and any
        other node just new bytes; the engine makes a node versionable itself when it must keep the old bytes."""
        document = await self._http.call(
            "update content",
            "PUT",
            Api.CORE,
            f"nodes/{_segment(node_id)}/content",
            params={"majorVersion": "true"} if major else None,
            content=_passthrough(content),
            headers={"Content-Type": "application/octet-stream"},
            replayable=False,
        )
        return self._node(document)

    async def _update(self, operation: str, node_id: str, body: dict[str, Any]) -> Node:
        document = await self._http.call(
            operation, "PUT", Api.CORE, f"nodes/{_segment(node_id)}", params={"include": NODE_INCLUDE}, json=body
        )
        return self._node(document)

    async def rename(self, node_id: str, new_name: str) -> Node:
        return await self._update("rename", node_id, {"name": check_name(new_name, "rename")})

    async def update_metadata(self, node_id: str, metadata: Metadata) -> Node:
        """Sets all three common properties; an unset (None) value clears the property (sent as "")."""
        return await self._update("update metadata", node_id, {"properties": _properties(metadata, keep_unset=True)})

    async def ensure_versionable(self, node_id: str) -> Node:
        """Add cm:versionable when missing; aspects are replaced as a whole, so send the full list."""
        entry = (await self._get_entry(node_id, "read aspects"))["entry"]
        aspects = list(entry.get("aspectNames") or [])
        if "cm:versionable" in aspects:
            return self._node({"entry": entry})
        return await self._update("make versionable", node_id, {"aspectNames": [*aspects, "cm:versionable"]})

    async def move(self, node_id: str, target_parent_id: str, new_name: str | None = None) -> Node:
        body: dict[str, Any] = {"targetParentId": target_parent_id}
        if new_name is not None:
            body["name"] = check_name(new_name, "move")
        document = await self._http.call(
            "move", "POST", Api.CORE, f"nodes/{_segment(node_id)}/move", params={"include": NODE_INCLUDE}, json=body
        )
        return self._node(document)

    async def delete(self, node_id: str) -> None:
        """To the trashcan: `permanent` is never sent."""
        await self._http.call("delete", "DELETE", Api.CORE, f"nodes/{_segment(node_id)}")

    async def restore(self, node_id: str, target_parent_id: str | None = None) -> Node:
        body = {} if target_parent_id is None else {"targetParentId": target_parent_id}
        document = await self._http.call("restore", "POST", Api.CORE, f"deleted-nodes/{_segment(node_id)}/restore", json=body)
        return self._node(document)

    async def lock(self, node_id: str) -> Node:
        document = await self._http.call(
            "lock",
            "POST",
            Api.CORE,
            f"nodes/{_segment(node_id)}/lock",
            params={"include": NODE_INCLUDE},
            json=LOCK_BODY,
        )
        return self._node(document)

    async def unlock(self, node_id: str) -> Node:
        document = await self._http.call(
            "unlock", "POST", Api.CORE, f"nodes/{_segment(node_id)}/unlock", params={"include": NODE_INCLUDE}
        )
        return self._node(document)


async def _passthrough(content: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """httpx wants an async iterator it can drive; skip empty chunks (they would end a chunked body)."""
    async for chunk in content:
        if chunk:
            yield bytes(chunk)

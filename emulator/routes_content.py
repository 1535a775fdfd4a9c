"""Content download (streamed, Range, If-Modified-Since) and upload (streamed PUT), plus the trashcan."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from emulator import repo, rules
from emulator.clock import http_date
from emulator.context import Reply, api, bool_param, caller, include_param, json_body, ok, paging, state
from emulator.errors import ApiError, error_response
from emulator.routes_nodes import find_version, java_bool
from emulator.serialize import node_entry, paged_slice
from emulator.upload import stream_body

CORE = "/alfresco/api/{tenant}/public/alfresco/versions/1"
CHUNK = 64 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


async def _file_chunks(path: Path, start: int, length: int) -> AsyncIterator[bytes]:
    with open(path, "rb") as f:
        f.seek(start)
        remaining = length
        while remaining > 0:
            chunk = f.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def _not_modified(request: Request, modified_ms: int) -> bool:
    raw = request.headers.get("if-modified-since")
    if not raw:
        return False
    try:
        since = parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return False
    return modified_ms // 1000 <= int(since)


def content_disposition(disposition: str, name: str) -> str:
    """`disposition; filename="ascii"; filename*=UTF-8''pct` (RFC 6266 / RFC 5987).

    HTTP headers are Latin-1 on the wire: a raw non-Latin-1 name (an NFD accent, CJK) made the response
    fail with a 500. The ASCII fallback keeps old clients working; `filename*` carries the exact name.
    """
    fallback = "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\' else "_" for ch in name)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def serve_blob(request: Request, path: Path, size: int, mime: str, name: str, modified_ms: int) -> Response:
    headers = {"Last-Modified": http_date(modified_ms), "Accept-Ranges": "bytes"}
    if _not_modified(request, modified_ms):
        return Response(status_code=304, headers=headers)
    disposition = "attachment" if bool_param(request, "attachment", True) else "inline"
    headers["Content-Disposition"] = content_disposition(disposition, name)
    content_type = f"{mime};charset=UTF-8" if mime.startswith("text/") else mime
    start, length, status = 0, size, 200
    raw_range = request.headers.get("range")
    if raw_range:
        m = _RANGE.match(raw_range.strip())
        if not m or (not m.group(1) and not m.group(2)):
            raise ApiError(416, f"Invalid range: {raw_range}")
        if m.group(1):
            start = int(m.group(1))
            end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
        else:
            start = max(size - int(m.group(2)), 0)
            end = size - 1
        if start >= size or end < start:
            return error_response(416, f"Range not satisfiable: {raw_range}", headers={"Content-Range": f"bytes */{size}"})
        length, status = end - start + 1, 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(length)
    return StreamingResponse(_file_chunks(path, start, length), status_code=status, headers=headers, media_type=content_type)


@api
async def get_content(request: Request) -> Reply:
    c = caller(request)
    store = state(request).store
    node = repo.get_node(store, c.tenant, c.user, request.path_params["nodeId"])
    if node.is_folder or node.blob is None:
        raise ApiError(400, f"Node {node.id} has no content")
    return serve_blob(
        request, store.blobs.path(node.blob), node.size, node.mime_type or rules.OCTET[0], node.name, node.modified_at
    )


@api
async def get_version_content(request: Request) -> Reply:
    c = caller(request)
    store = state(request).store
    node = repo.get_node(store, c.tenant, c.user, request.path_params["nodeId"])
    v = find_version(store, node, request.path_params["versionId"])
    return serve_blob(
        request, store.blobs.path(v["blob"]), v["size"], v["mime_type"] or rules.OCTET[0], v["name"], v["modified_at"]
    )


@api
async def put_content(request: Request) -> Reply:
    """NodesImpl#updateContent: new content (`name` renames first), checks before streaming so that a refused write
    does not consume the body into a blob. `majorVersion` (Boolean.valueOf) and `comment` are what make a node
    without versions versionable (`repo.set_content`): sending `majorVersion=false` is not the same as omitting it."""
    c = caller(request)
    store = state(request).store
    node = repo.get_node(store, c.tenant, c.user, request.path_params["nodeId"])
    if node.is_folder:
        raise ApiError(400, f"Cannot set content of a folder: {node.id}")
    rules.require(rules.can_write(store, c.user, node))
    rules.check_unlocked_for(store, c.user, node)
    new_name = request.query_params.get("name")
    if new_name:
        rules.check_name(new_name)
        other = store.child_by_name(node.parent_id or "", new_name)
        if other is not None and other.id != node.id:
            raise rules.name_clash(new_name)
    net = repo.network(store, c.tenant)
    blob, size = await stream_body(request, store.blobs, net["size_limit"])
    try:
        repo.check_quota(store, c.tenant, size - node.size, size)
        node = repo.get_node(store, c.tenant, c.user, node.id)
        rules.check_unlocked_for(store, c.user, node)
        renamed = bool(new_name) and new_name != node.name
        if new_name:
            node.name = new_name
        mime = rules.guess_mime(node.name, request.headers.get("content-type"))
        raw_major = request.query_params.get("majorVersion")
        with store.tx():
            node = repo.set_content(
                store,
                c.user,
                node,
                blob,
                size,
                mime,
                major=None if raw_major is None else java_bool(raw_major),
                comment=request.query_params.get("comment"),
            )
            if renamed:
                repo.propagate_timestamp(store, node.parent_id, c.user, node.modified_at)
    except BaseException:
        store.blobs.discard(blob)
        raise
    return ok({"entry": node_entry(store, node, c.user, include_param(request), full=True)})


@api
async def list_deleted(request: Request) -> Reply:
    c = caller(request)
    store = state(request).store
    include = include_param(request)
    # NodeArchiveServiceImpl#listArchivedNodes: the admin sees the whole trashcan, anyone else only the items
    # linked to them as the user who deleted them (cm:archiveUserLink).
    nodes = store.archived(c.tenant, None if rules.is_admin(c.user) else c.user)
    skip, max_items = paging(request)
    return ok(paged_slice([node_entry(store, n, c.user, include) for n in nodes], skip, max_items))


@api
async def get_deleted(request: Request) -> Reply:
    c = caller(request)
    store = state(request).store
    node = repo.get_archived(store, c.tenant, c.user, request.path_params["nodeId"])
    return ok({"entry": node_entry(store, node, c.user, include_param(request), full=True)})


@api
async def get_deleted_content(request: Request) -> Reply:
    """DeletedNodesImpl#getContent: a deleted file's bytes, to whoever may read the deleted node."""
    c = caller(request)
    store = state(request).store
    node = repo.get_archived(store, c.tenant, c.user, request.path_params["nodeId"])
    if node.is_folder or node.blob is None:
        raise ApiError(400, f"Node {node.id} has no content")
    return serve_blob(
        request, store.blobs.path(node.blob), node.size, node.mime_type or rules.OCTET[0], node.name, node.modified_at
    )


@api
async def purge_deleted(request: Request) -> Reply:
    c = caller(request)
    repo.purge(state(request).store, c.tenant, c.user, request.path_params["nodeId"])
    return Response(status_code=204)


@api
async def restore_deleted(request: Request) -> Reply:
    c = caller(request)
    store = state(request).store
    body = await json_body(request)
    target = body.get("targetParentId")
    if target is not None and not isinstance(target, str):
        raise ApiError(400, "targetParentId must be a string")
    node = repo.restore_node(store, c.tenant, c.user, request.path_params["nodeId"], target)
    return ok({"entry": node_entry(store, node, c.user, include_param(request), full=True)})


def routes() -> list[Route]:
    n = f"{CORE}/nodes/{{nodeId}}"
    d = f"{CORE}/deleted-nodes"
    return [
        Route(f"{n}/content", get_content, methods=["GET"]),
        Route(f"{n}/content", put_content, methods=["PUT"]),
        Route(f"{n}/versions/{{versionId}}/content", get_version_content, methods=["GET"]),
        Route(d, list_deleted, methods=["GET"]),
        Route(f"{d}/{{nodeId}}", get_deleted, methods=["GET"]),
        Route(f"{d}/{{nodeId}}", purge_deleted, methods=["DELETE"]),
        Route(f"{d}/{{nodeId}}/restore", restore_deleted, methods=["POST"]),
        Route(f"{d}/{{nodeId}}/content", get_deleted_content, methods=["GET"]),
    ]

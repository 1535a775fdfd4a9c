"""Nodes: get, update, delete, children (list and create), move, copy, lock, unlock, versions."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator import repo, rules
from emulator.context import (
    Caller,
    api,
    bool_param,
    caller,
    include_param,
    json_body,
    ok,
    paging,
    state,
)
from emulator.errors import ApiError, not_found
from emulator.serialize import node_entry, paged, paged_slice, version_entry
from emulator.store import Node, Store
from emulator.upload import parse_multipart

CORE = "/alfresco/api/{tenant}/public/alfresco/versions/1"

ORDER_FIELDS = {
    "name": "name_lc",
    "modifiedat": "modified_at",
    "createdat": "created_at",
    "sizeinbytes": "size",
    "isfolder": "is_folder",
    "isfile": "is_folder",
    "nodetype": "node_type",
    "id": "id",
}
_WHERE = re.compile(r"^\(\s*(isFolder|isFile)\s*=\s*(true|false)\s*\)$", re.IGNORECASE)


def order_sql(raw: str | None) -> str:
    """`orderBy=name ASC,modifiedAt DESC`; default folders first, then by name, as Alfresco lists."""
    if not raw:
        return "is_folder DESC, name_lc ASC, id"
    parts = []
    for item in raw.split(","):
        words = item.split()
        if not words or len(words) > 2:
            raise ApiError(400, f"Invalid orderBy: {raw}")
        column = ORDER_FIELDS.get(words[0].lower())
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if column is None or direction not in ("ASC", "DESC"):
            raise ApiError(400, f"Invalid orderBy: {raw}")
        if words[0].lower() == "isfile":
            direction = "ASC" if direction == "DESC" else "DESC"
        parts.append(f"{column} {direction}")
    return ", ".join([*parts, "id"])


def where_folder(raw: str | None) -> bool | None:
    if not raw:
        return None
    m = _WHERE.match(raw.strip())
    if not m:
        raise ApiError(400, f"Invalid where clause: {raw}")
    is_folder_field = m.group(1).lower() == "isfolder"
    value = m.group(2).lower() == "true"
    return value if is_folder_field else not value


def _node(request: Request, c: Caller, *, key: str = "nodeId") -> Node:
    return repo.get_node(state(request).store, c.tenant, c.user, request.path_params[key])


def _reply(store: Store, c: Caller, node: Node, request: Request, status: int = 200) -> Response:
    return ok({"entry": node_entry(store, node, c.user, include_param(request), full=True)}, status)


@api
async def get_node(request: Request) -> Response:
    c = caller(request)
    store = state(request).store
    node = _node(request, c)
    rel = request.query_params.get("relativePath")
    if rel:
        node = repo.resolve_relative(store, c.tenant, c.user, node, rel)
    return _reply(store, c, node, request)


@api
async def update_node(request: Request) -> Response:
    c = caller(request)
    store = state(request).store
    body = await json_body(request)
    node = repo.update_node(store, c.user, _node(request, c), body)
    return _reply(store, c, node, request)


@api
async def delete_node(request: Request) -> Response:
    c = caller(request)
    repo.delete_node(state(request).store, c.user, _node(request, c), bool_param(request, "permanent"))
    return Response(status_code=204)


@api
async def list_children(request: Request) -> Response:
    c = caller(request)
    store = state(request).store
    parent = _node(request, c)
    rel = request.query_params.get("relativePath")
    if rel:
        parent = repo.resolve_relative(store, c.tenant, c.user, parent, rel)
    if not parent.is_folder:
        raise ApiError(400, f"Node is not a folder: {parent.id}")
    skip, max_items = paging(request)
    rows, total = store.list_children(
        parent.id,
        where_folder=where_folder(request.query_params.get("where")),
        order_sql=order_sql(request.query_params.get("orderBy")),
        skip=skip,
        limit=max_items,
    )
    include = include_param(request)
    return ok(paged([node_entry(store, n, c.user, include) for n in rows], skip, max_items, total))


def _props_from(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if ":" in k}


@api
async def create_child(request: Request) -> Response:
    c = caller(request)
    store = state(request).store
    parent = _node(request, c)
    if request.headers.get("content-type", "").lower().startswith("multipart/"):
        return await _upload(request, c, parent)
    body = await json_body(request)
    name, node_type = body.get("name"), body.get("nodeType")
    if not isinstance(node_type, str) or not node_type:
        raise ApiError(400, "nodeType is mandatory")
    rules.check_name(name)
    assert isinstance(name, str)
    props = body.get("properties") or {}
    aspects = body.get("aspectNames") or []
    if not isinstance(props, dict) or not isinstance(aspects, list):
        raise ApiError(400, "properties must be an object and aspectNames a list")
    with store.tx():
        target = repo.ensure_folders(store, c.user, parent, body.get("relativePath"))
        if bool_param(request, "autoRename") and store.child_by_name(target.id, name):
            name = repo.auto_rename(store, target.id, name)
        node = repo.create_node(
            store, c.user, target, name, node_type, props=props, aspects=aspects, versioned="cm:versionable" in aspects
        )
    return _reply(store, c, node, request, 201)


def _flag(fields: dict[str, str], request: Request, name: str, default: bool) -> bool:
    raw = fields.get(name, request.query_params.get(name))
    if raw is None or raw == "":
        return default
    if raw.lower() not in ("true", "false"):
        raise ApiError(400, f"Invalid boolean parameter {name}: {raw}")
    return raw.lower() == "true"


async def _upload(request: Request, c: Caller, parent: Node) -> Response:
    """Multipart create: versioned by default; `overwrite` updates an existing file's content."""
    store = state(request).store
    rules.require(rules.can_write(store, c.user, parent))
    net = repo.network(store, c.tenant)
    up = await parse_multipart(request, store.blobs, net["size_limit"])
    try:
        if up.blob is None:
            raise ApiError(400, "Required parameter filedata is missing")
        name = up.fields.get("name") or up.filename
        rules.check_name(name)
        assert name is not None
        node_type = up.fields.get("nodeType") or "cm:content"
        major = _flag(up.fields, request, "majorVersion", False)
        versioned = _flag(up.fields, request, "versioningEnabled", True)
        overwrite = _flag(up.fields, request, "overwrite", False)
        auto = _flag(up.fields, request, "autoRename", False)
        mime = rules.guess_mime(name, up.content_type)
        with store.tx():
            target = repo.ensure_folders(store, c.user, parent, up.fields.get("relativePath"))
            existing = store.child_by_name(target.id, name)
            if existing is not None and overwrite:
                if existing.is_folder:
                    raise rules.name_clash(name)
                rules.require(rules.can_write(store, c.user, existing))
                rules.check_unlocked_for(store, c.user, existing)
                repo.check_quota(store, c.tenant, up.size - existing.size, up.size)
                node = repo.set_content(
                    store, c.user, existing, up.blob, up.size, mime, major=major, comment=up.fields.get("comment")
                )
            else:
                if existing is not None and auto:
                    name = repo.auto_rename(store, target.id, name)
                repo.check_quota(store, c.tenant, up.size, up.size)
                node = repo.create_node(
                    store,
                    c.user,
                    target,
                    name,
                    node_type,
                    props=_props_from(up.fields),
                    blob=up.blob,
                    size=up.size,
                    mime=mime,
                    versioned=versioned,
                )
                if versioned and up.fields.get("comment"):
                    store.db.execute("UPDATE versions SET comment=? WHERE node_id=?", (up.fields["comment"], node.id))
    except BaseException:
        if up.blob:
            store.blobs.discard(up.blob)
        raise
    return _reply(store, c, node, request, 201)


async def _target(request: Request, c: Caller) -> tuple[Node, Node, str | None]:
    store = state(request).store
    body = await json_body(request)
    target_id = body.get("targetParentId")
    if not isinstance(target_id, str) or not target_id:
        raise ApiError(400, "targetParentId is mandatory")
    node = _node(request, c)
    target = repo.get_node(store, c.tenant, c.user, target_id)
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise ApiError(400, "name must be a string")
    return node, target, name


@api
async def move_node(request: Request) -> Response:
    c = caller(request)
    store = state(request).store
    node, target, name = await _target(request, c)
    return _reply(store, c, repo.move_node(store, c.user, node, target, name), request)


@api
async def copy_node(request: Request) -> Response:
    c = caller(request)
    store = state(request).store
    node, target, name = await _target(request, c)
    return _reply(store, c, repo.copy_node(store, c.user, node, target, name), request, 201)


@api
async def lock_node(request: Request) -> Response:
    c = caller(request)
    store = state(request).store
    body = await json_body(request)
    return _reply(store, c, repo.lock_node(store, c.user, _node(request, c), body), request)


@api
async def unlock_node(request: Request) -> Response:
    c = caller(request)
    store = state(request).store
    return _reply(store, c, repo.unlock_node(store, c.user, _node(request, c)), request)


@api
async def list_versions(request: Request) -> Response:
    c = caller(request)
    store = state(request).store
    node = _node(request, c)
    if node.is_folder:
        raise ApiError(400, "Folders have no versions")
    entries = [version_entry(store, node, v) for v in store.versions(node.id)]
    skip, max_items = paging(request)
    return ok(paged_slice(entries, skip, max_items))


def find_version(store: Store, node: Node, label: str) -> dict[str, Any]:
    for v in store.versions(node.id):
        if v["label"] == label:
            return v
    raise not_found("version", label)


@api
async def get_version(request: Request) -> Response:
    c = caller(request)
    store = state(request).store
    node = _node(request, c)
    v = find_version(store, node, request.path_params["versionId"])
    return ok({"entry": version_entry(store, node, v)})


def routes() -> list[Route]:
    n = f"{CORE}/nodes/{{nodeId}}"
    return [
        Route(n, get_node, methods=["GET"]),
        Route(n, update_node, methods=["PUT"]),
        Route(n, delete_node, methods=["DELETE"]),
        Route(f"{n}/children", list_children, methods=["GET"]),
        Route(f"{n}/children", create_child, methods=["POST"]),
        Route(f"{n}/move", move_node, methods=["POST"]),
        Route(f"{n}/copy", copy_node, methods=["POST"]),
        Route(f"{n}/lock", lock_node, methods=["POST"]),
        Route(f"{n}/unlock", unlock_node, methods=["POST"]),
        Route(f"{n}/versions", list_versions, methods=["GET"]),
        Route(f"{n}/versions/{{versionId}}", get_version, methods=["GET"]),
    ]

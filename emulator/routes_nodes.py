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
    Reply,
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


def _reply(store: Store, c: Caller, node: Node, request: Request, status: int = 200) -> Reply:
    return ok({"entry": node_entry(store, node, c.user, include_param(request), full=True)}, status)


@api
async def get_node(request: Request) -> Reply:
    c = caller(request)
    store = state(request).store
    node = _node(request, c)
    rel = request.query_params.get("relativePath")
    if rel:
        node = repo.resolve_relative(store, c.tenant, c.user, node, rel)
    return _reply(store, c, node, request)


@api
async def update_node(request: Request) -> Reply:
    c = caller(request)
    store = state(request).store
    body = await json_body(request)
    node = repo.update_node(store, c.user, _node(request, c), body)
    return _reply(store, c, node, request)


@api
async def delete_node(request: Request) -> Reply:
    c = caller(request)
    repo.delete_node(state(request).store, c.user, _node(request, c), bool_param(request, "permanent"))
    return Response(status_code=204)


@api
async def list_children(request: Request) -> Reply:
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
    body = paged([node_entry(store, n, c.user, include) for n in rows], skip, max_items, total)
    if bool_param(request, "includeSource"):
        # NodesImpl#listChildren: the parent as getFolderOrDocumentFullInfo makes it (properties and aspects).
        body["list"]["source"] = node_entry(store, parent, c.user, set(), full=True)
    return ok(body)


def _props_from(fields: dict[str, Any]) -> dict[str, Any]:
    """Form fields with a namespace prefix (`cm:title`) are properties (NodesImpl#upload, default case)."""
    return {k: v for k, v in fields.items() if ":" in k}


def java_bool(raw: str | None) -> bool:
    """Boolean.valueOf: "true" in any case is true, anything else (a typo included) is false, never an error."""
    return raw is not None and raw.strip().lower() == "true"


def _optional_bool(raw: str | None) -> bool | None:
    return None if raw is None else java_bool(raw)


@api
async def create_child(request: Request) -> Reply:
    """NodesImpl#createNode (JSON) or NodesImpl#upload (multipart).

    JSON: `autoRename`, `majorVersion`, `versioningEnabled` and `comment` are query parameters; a cm:content node
    made this way has no version unless one of them asks (`versioningEnabled=true` alone means MAJOR)."""
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
    query = request.query_params
    major = _optional_bool(query.get("majorVersion"))
    if query.get("versioningEnabled") is not None:
        major = (major if major is not None else True) if java_bool(query.get("versioningEnabled")) else None
    with store.tx():
        target = repo.ensure_folders(store, c.user, parent, body.get("relativePath"))
        if java_bool(query.get("autoRename")) and store.child_by_name(target.id, name):
            name = repo.auto_rename(store, target.id, name)
        node = repo.create_node(
            store,
            c.user,
            target,
            name,
            node_type,
            props=props,
            aspects=aspects,
            version_major=major,
            version_comment=query.get("comment") or None,
        )
    return _reply(store, c, node, request, 201)


async def _upload(request: Request, c: Caller, parent: Node) -> Reply:
    """NodesImpl#upload. Every option is a form field (the query string is not read: NodesImpl reads
    `formData.getFields()` only). A new file is versioned by default: 1.0, or 0.1 with `majorVersion=false`, none
    with `versioningEnabled=false`. An existing name is a 409 unless `autoRename` (a new name, NodesImpl#findUniqueName)
    or `overwrite` of a versionable file (a new version of it); `overwrite` of a file without cm:versionable is a
    409 too, and `overwrite` with `autoRename` a 400."""
    store = state(request).store
    if not parent.is_folder:
        raise ApiError(400, f"NodeId of folder is expected: {parent.id}")
    rules.require(rules.can_create_children(store, c.user, parent))
    net = repo.network(store, c.tenant)
    up = await parse_multipart(request, store.blobs, net["size_limit"])
    try:
        fields = {k.lower(): v for k, v in up.fields.items()}
        name = _text(fields.get("name")) or up.filename
        if up.blob is None or not name:
            raise ApiError(400, "Required parameters are missing")
        rules.check_name(name)
        node_type = _text(fields.get("nodetype")) or "cm:content"
        if node_type == "cm:folder" or node_type.endswith(":folder"):
            raise ApiError(400, f"Can only upload type of cm:content: {node_type}")
        auto, overwrite = java_bool(fields.get("autorename")), java_bool(fields.get("overwrite"))
        if auto and overwrite:
            raise ApiError(400, "Both 'overwrite' and 'autoRename' should not be true when uploading a file")
        major = _optional_bool(fields.get("majorversion"))
        enabled = _text(fields.get("versioningenabled"))
        versioning = enabled is None or enabled.lower() != "false"
        comment = _text(fields.get("comment"))
        mime = rules.guess_mime(name, up.content_type)
        with store.tx():
            target = repo.ensure_folders(store, c.user, parent, _text(fields.get("relativepath")))
            existing = store.child_by_name(target.id, name)
            if existing is not None and auto:
                name = repo.auto_rename(store, target.id, name)
            elif existing is not None and overwrite and existing.is_versionable:
                rules.require(rules.can_write(store, c.user, existing))
                rules.check_unlocked_for(store, c.user, existing)
                repo.check_quota(store, c.tenant, up.size - existing.size, up.size)
                node = repo.set_content(store, c.user, existing, up.blob, up.size, mime, major=major, comment=comment)
                return _reply(store, c, node, request, 201)
            elif existing is not None:
                raise ApiError(409, f"{name} already exists.", "framework.exception.ConstraintViolated")
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
                version_major=(True if major is None else major) if versioning else None,
                version_comment=comment,
            )
    except BaseException:
        if up.blob:
            store.blobs.discard(up.blob)
        raise
    return _reply(store, c, node, request, 201)


def _text(value: str | None) -> str | None:
    """NodesImpl#getStringOrNull: empty and the literal "null" are no value."""
    return None if not value or value.lower() == "null" else value


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
async def move_node(request: Request) -> Reply:
    c = caller(request)
    store = state(request).store
    node, target, name = await _target(request, c)
    return _reply(store, c, repo.move_node(store, c.user, node, target, name), request)


@api
async def copy_node(request: Request) -> Reply:
    c = caller(request)
    store = state(request).store
    node, target, name = await _target(request, c)
    return _reply(store, c, repo.copy_node(store, c.user, node, target, name), request, 201)


@api
async def lock_node(request: Request) -> Reply:
    c = caller(request)
    store = state(request).store
    body = await json_body(request)
    return _reply(store, c, repo.lock_node(store, c.user, _node(request, c), body), request)


@api
async def unlock_node(request: Request) -> Reply:
    c = caller(request)
    store = state(request).store
    return _reply(store, c, repo.unlock_node(store, c.user, _node(request, c)), request)


@api
async def list_versions(request: Request) -> Reply:
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
async def get_version(request: Request) -> Reply:
    c = caller(request)
    store = state(request).store
    node = _node(request, c)
    v = find_version(store, node, request.path_params["versionId"])
    return ok({"entry": version_entry(store, node, v)})


@api
async def revert_version(request: Request) -> Reply:
    """POST .../versions/{versionId}/revert {majorVersion?, comment?}: NodeVersionsRelation#revertById."""
    c = caller(request)
    store = state(request).store
    node = _node(request, c)
    body = await json_body(request)
    major, comment = body.get("majorVersion", False), body.get("comment")
    if not isinstance(major, bool) or (comment is not None and not isinstance(comment, str)):
        raise ApiError(400, "majorVersion must be a boolean and comment a string")
    v = find_version(store, node, request.path_params["versionId"])
    node = repo.revert_version(store, c.user, node, v, major=major, comment=comment)
    return ok({"entry": version_entry(store, node, store.versions(node.id)[0])})


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
        Route(f"{n}/versions/{{versionId}}/revert", revert_version, methods=["POST"]),
    ]

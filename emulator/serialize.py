"""Store rows to Alfresco's JSON shapes (Node, Version, DeletedNode, ResultNode, list pagination).

One place decides which fields appear for which `include`, so listing, search and single-node GETs stay
consistent with each other and with the official definitions.
"""

from __future__ import annotations

from typing import Any

from emulator import rules
from emulator.clock import fmt
from emulator.store import Node, Store


def user_info(store: Store, user_id: str) -> dict[str, str]:
    return {"id": user_id, "displayName": store.display_name(user_id)}


def content_info(mime: str | None, size: int, encoding: str | None) -> dict[str, Any]:
    mime = mime or rules.OCTET[0]
    return {
        "mimeType": mime,
        "mimeTypeName": rules.mime_name(mime),
        "sizeInBytes": size,
        "encoding": encoding or "UTF-8",
    }


def properties(store: Store, node: Node) -> dict[str, Any]:
    """NodesImpl#mapFromNodeProperties: sys: properties are never shown; person properties (cm:owner,
    cm:lockOwner: nodes.personLookupProperties in public-rest-context.xml) come as {id, displayName}."""
    props = {k: v for k, v in node.props.items() if not k.startswith("sys:")}
    if "cm:owner" in props:
        props["cm:owner"] = user_info(store, str(props["cm:owner"]))
    if rules.lock_active(node, store.clock.wall_ms()):
        props["cm:lockOwner"] = user_info(store, node.lock_owner or "")
        props["cm:lockType"] = "READ_ONLY_LOCK" if node.lock_type == "FULL" else "WRITE_LOCK"
        props["cm:lockLifetime"] = node.lock_lifetime or "PERSISTENT"
    return props


def aspect_names(store: Store, node: Node) -> list[str]:
    aspects = list(node.aspects)
    if rules.lock_active(node, store.clock.wall_ms()) and "cm:lockable" not in aspects:
        aspects.append("cm:lockable")
    return aspects


def path_info(store: Store, node: Node) -> dict[str, Any]:
    """Alfresco's `path` describes the node's parent folder: ancestors from Company Home down."""
    elements: list[dict[str, Any]] = []
    parent_id = node.parent_id
    while parent_id:
        parent = store.get_node(parent_id, state=None)
        if parent is None:
            break
        elements.append({"id": parent.id, "name": parent.name, "nodeType": parent.node_type, "aspectNames": parent.aspects})
        parent_id = parent.parent_id
    elements.reverse()
    return {"name": "/" + "/".join(e["name"] for e in elements), "isComplete": True, "elements": elements}


def allowable_operations(store: Store, user: str, node: Node) -> list[str]:
    ops: list[str] = []
    if rules.can_delete(store, user, node):
        ops.append("delete")
    if rules.can_write(store, user, node):
        ops.append("update")
    if node.is_folder and rules.can_create_children(store, user, node):
        ops.append("create")
    if rules.is_admin(user):
        ops.append("updatePermissions")
    return ops


def node_entry(store: Store, node: Node, user: str, include: set[str], *, full: bool = False) -> dict[str, Any]:
    """`full` is the single-node default: properties and aspects even without `include`."""
    e: dict[str, Any] = {
        "id": node.id,
        "name": node.name,
        "nodeType": node.node_type,
        "isFolder": node.is_folder,
        "isFile": not node.is_folder,
        "modifiedAt": fmt(node.modified_at),
        "modifiedByUser": user_info(store, node.modified_by),
        "createdAt": fmt(node.created_at),
        "createdByUser": user_info(store, node.created_by),
    }
    if node.parent_id and node.state == 0:
        e["parentId"] = node.parent_id  # DeletedNodesImpl#mapArchiveInfo: "Don't show parent id"
    if not node.is_folder:
        e["content"] = content_info(node.mime_type, node.size, node.encoding)
    if full or "aspectNames" in include:
        e["aspectNames"] = aspect_names(store, node)
    if full or "properties" in include:
        e["properties"] = properties(store, node)
    if "isLocked" in include:
        e["isLocked"] = rules.lock_active(node, store.clock.wall_ms())
    if "path" in include:
        e["path"] = path_info(store, node)
    if "allowableOperations" in include:
        e["allowableOperations"] = allowable_operations(store, user, node)
    if node.state != 0 and node.archived_at is not None:
        e["archivedAt"] = fmt(node.archived_at)
        e["archivedByUser"] = user_info(store, node.archived_by or "")
    return e


def version_entry(store: Store, node: Node, v: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": v["label"],
        "versionComment": v["comment"] or "",
        "name": v["name"],
        "nodeType": node.node_type,
        "isFolder": False,
        "isFile": True,
        "modifiedAt": fmt(v["modified_at"]),
        "modifiedByUser": user_info(store, v["modified_by"]),
        "content": content_info(v["mime_type"], v["size"], v["encoding"]),
    }


def paged(entries: list[dict[str, Any]], skip: int, max_items: int, total: int) -> dict[str, Any]:
    return {
        "list": {
            "pagination": {
                "count": len(entries),
                "hasMoreItems": skip + len(entries) < total,
                "totalItems": total,
                "skipCount": skip,
                "maxItems": max_items,
            },
            "entries": [{"entry": e} for e in entries],
        }
    }


def paged_slice(items: list[dict[str, Any]], skip: int, max_items: int) -> dict[str, Any]:
    return paged(items[skip : skip + max_items], skip, max_items, len(items))

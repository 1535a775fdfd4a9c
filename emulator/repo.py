"""Repository operations with Alfresco's semantics, on top of the store.

Routes parse HTTP and call these; seeding and the admin helpers call them too, so seeded content obeys the
same rules (unique names, versions, quotas) as content created through the API.
"""

from __future__ import annotations

import uuid
from typing import Any

from emulator import rules
from emulator.errors import ApiError, not_found
from emulator.store import ARCHIVED, ARCHIVED_WITH_PARENT, LIVE, Node, Store

UPDATABLE_PROPS = {"cm:title", "cm:description", "cm:author"}
SYSTEM_ASPECTS = ["cm:auditable"]


def new_id() -> str:
    return str(uuid.uuid4())


def network(store: Store, tenant: str) -> dict[str, Any]:
    net = store.get_network(tenant)
    if net is None:
        raise ApiError(401, "Authentication failed: unknown network", "framework.exception.ApiDefault")
    return net


def make_tenant(store: Store, tenant: str, *, enabled: bool, level: str, paid: bool = True, ids: list[str] | None = None) -> None:
    """A tenant's skeleton: Company Home with Sites and User Homes, as a fresh Alfresco has."""
    ids = ids or [new_id(), new_id(), new_id()]
    now = store.clock.now_ms()
    root = Node(
        ids[0],
        tenant,
        None,
        "Company Home",
        "cm:folder",
        True,
        now,
        "System",
        now,
        "System",
        now,
        aspects=list(SYSTEM_ASPECTS),
    )
    store.insert_node(root)
    for nid, name in ((ids[1], "Sites"), (ids[2], "User Homes")):
        store.insert_node(
            Node(
                nid,
                tenant,
                root.id,
                name,
                "cm:folder",
                True,
                now,
                "System",
                now,
                "System",
                now,
                aspects=list(SYSTEM_ASPECTS),
            )
        )
    store.add_network(tenant, enabled=enabled, level=level, root_id=ids[0], sites_id=ids[1], homes_id=ids[2], paid=paid)


def make_site(
    store: Store, tenant: str, site_id: str, title: str, *, visibility: str = "PUBLIC", ids: list[str] | None = None
) -> str:
    ids = ids or [new_id(), new_id()]
    net = network(store, tenant)
    now = store.clock.now_ms()
    site = Node(
        ids[0],
        tenant,
        net["sites_id"],
        site_id,
        "st:site",
        True,
        now,
        "admin",
        now,
        "admin",
        now,
        aspects=list(SYSTEM_ASPECTS),
        site_id=site_id,
    )
    site.props = {"cm:title": title}
    store.insert_node(site)
    doclib = Node(
        ids[1],
        tenant,
        site.id,
        "documentLibrary",
        "cm:folder",
        True,
        now,
        "admin",
        now,
        "admin",
        now,
        aspects=list(SYSTEM_ASPECTS),
        site_id=site_id,
    )
    store.insert_node(doclib)
    store.add_site(tenant, site_id, ids[0], title, f"{title} site", visibility, doclib.id)
    return doclib.id


def home_folder(store: Store, tenant: str, user: str) -> Node:
    """`-my-`: the user's home folder, created on first use like Alfresco's home folder provider."""
    net = network(store, tenant)
    node = store.child_by_name(net["homes_id"], user)
    if node is None:
        now = store.clock.now_ms()
        node = Node(
            new_id(),
            tenant,
            net["homes_id"],
            user,
            "cm:folder",
            True,
            now,
            user,
            now,
            user,
            now,
            aspects=list(SYSTEM_ASPECTS),
        )
        store.insert_node(node)
    return node


def get_node(store: Store, tenant: str, user: str, node_id: str, *, for_read: bool = True) -> Node:
    net = network(store, tenant)
    if node_id == "-root-":
        node_id = net["root_id"]
    elif node_id == "-my-":
        return home_folder(store, tenant, user)
    elif node_id == "-shared-":
        node_id = net["root_id"]
    node = store.get_node(node_id)
    if node is None or node.tenant != tenant:
        raise not_found("node", node_id)
    if for_read:
        rules.require(rules.can_read(store, user, node))
    return node


def resolve_relative(store: Store, tenant: str, user: str, base: Node, relative: str) -> Node:
    node = base
    for part in [p for p in relative.split("/") if p]:
        child = store.child_by_name(node.id, part)
        if child is None:
            raise not_found("node", relative)
        rules.require(rules.can_read(store, user, child))
        node = child
    return node


def ensure_folders(store: Store, user: str, parent: Node, relative: str | None) -> Node:
    """`relativePath` on create: walk, creating missing folders as the caller."""
    for part in [p for p in (relative or "").split("/") if p]:
        child = store.child_by_name(parent.id, part)
        if child is None:
            child = create_node(store, user, parent, part, "cm:folder")
        elif not child.is_folder:
            raise ApiError(409, f"relativePath element is not a folder: {part}")
        parent = child
    return parent


def auto_rename(store: Store, parent_id: str, name: str) -> str:
    stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
    for i in range(1, 10_000):
        candidate = f"{stem}-{i}{dot}{ext}"
        if store.child_by_name(parent_id, candidate) is None:
            return candidate
    raise ApiError(409, f"Could not auto-rename {name}")


def create_node(
    store: Store,
    user: str,
    parent: Node,
    name: str,
    node_type: str,
    *,
    props: dict[str, Any] | None = None,
    aspects: list[str] | None = None,
    blob: str | None = None,
    size: int = 0,
    mime: str | None = None,
    versioned: bool = False,
    node_id: str | None = None,
    created_at: int | None = None,
) -> Node:
    """Create a child after the checks every create path shares (type, name, permission, clash)."""
    if not parent.is_folder:
        raise ApiError(400, f"Could not create a child of a file: {parent.id}")
    is_folder = node_type in ("cm:folder", "st:site") or node_type.endswith(":folder")
    if node_type not in ("cm:folder", "cm:content") and ":" not in node_type:
        raise ApiError(400, f"Invalid nodeType: {node_type}")
    rules.check_name(name)
    rules.require(rules.can_write(store, user, parent))
    if store.child_by_name(parent.id, name) is not None:
        raise rules.name_clash(name)
    now = created_at or store.clock.now_ms()
    node_props = {k: v for k, v in (props or {}).items() if v is not None}
    node_aspects = list(dict.fromkeys([*SYSTEM_ASPECTS, *(aspects or [])]))
    if "cm:title" in node_props or "cm:description" in node_props:
        node_aspects.append("cm:titled")
    if "cm:author" in node_props:
        node_aspects.append("cm:author")
    node = Node(
        node_id or new_id(),
        parent.tenant,
        parent.id,
        name,
        node_type,
        is_folder,
        now,
        user,
        now,
        user,
        now,
        site_id=parent.site_id,
        props=node_props,
        aspects=list(dict.fromkeys(node_aspects)),
    )
    if not is_folder:
        node.mime_type = mime or rules.guess_mime(name)
        node.size = size
        node.blob = blob or store.blobs.write_bytes(b"")
        node.encoding = "UTF-8"
        if versioned:
            node.aspects.append("cm:versionable")
            node.props["cm:versionLabel"] = "1.0"
            node.props["cm:versionType"] = "MAJOR"
    with store.tx():
        store.insert_node(node)
        if versioned and not is_folder:
            store.add_version(node, "1.0")
    return node


def check_quota(store: Store, tenant: str, added: int, size: int) -> None:
    """413 above the network's per-file limit, 507 when the storage quota would be exceeded."""
    net = network(store, tenant)
    if net["size_limit"] >= 0 and size > net["size_limit"]:
        raise ApiError(
            413,
            f"Content size {size} exceeds the limit of {net['size_limit']} bytes",
            "framework.exception.ContentLimitViolation",
        )
    if net["storage_limit"] >= 0 and store.usage(tenant) + added > net["storage_limit"]:
        raise ApiError(507, "Storage quota exceeded", "framework.exception.InsufficientStorage")


def next_label(label: str | None, major: bool) -> str:
    if not label:
        return "1.0"
    hi, _, lo = label.partition(".")
    return f"{int(hi) + 1}.0" if major else f"{hi}.{int(lo or 0) + 1}"


def touch(store: Store, node: Node, user: str) -> None:
    node.modified_at = store.clock.now_ms()
    node.changed_at = node.modified_at
    node.modified_by = user


def set_content(
    store: Store, user: str, node: Node, blob: str, size: int, mime: str, *, major: bool, comment: str | None
) -> Node:
    """New bytes: a versionable node gets its next label, any other node just has its content replaced."""
    touch(store, node, user)
    node.blob, node.size, node.mime_type = blob, size, mime
    with store.tx():
        if node.is_versionable:
            label = next_label(node.props.get("cm:versionLabel"), major)
            node.props["cm:versionLabel"] = label
            node.props["cm:versionType"] = "MAJOR" if major else "MINOR"
            store.add_version(node, label, comment)
        store.save_node(node)
    return node


def update_node(store: Store, user: str, node: Node, body: dict[str, Any]) -> Node:
    rules.require(rules.can_write(store, user, node))
    rules.check_unlocked_for(store, user, node)
    make_versionable = False
    with store.tx():
        if "name" in body and body["name"] != node.name:
            name = rules.check_name(body["name"])
            other = store.child_by_name(node.parent_id or "", name) if node.parent_id else None
            if other is not None and other.id != node.id:
                raise rules.name_clash(name)
            node.name = name
        props = body.get("properties") or {}
        if not isinstance(props, dict):
            raise ApiError(400, "properties must be an object")
        for key, value in props.items():
            if key in ("cm:versionLabel", "cm:lockOwner", "cm:lockType"):
                raise ApiError(400, f"Property {key} cannot be set")
            if value is None:
                node.props.pop(key, None)
            else:
                node.props[key] = value
        if "aspectNames" in body:
            wanted = body["aspectNames"]
            if not isinstance(wanted, list) or not all(isinstance(a, str) for a in wanted):
                raise ApiError(400, "aspectNames must be a list of strings")
            make_versionable = "cm:versionable" in wanted and not node.is_versionable and not node.is_folder
            if "cm:versionable" not in wanted and node.is_versionable:
                node.props.pop("cm:versionLabel", None)
                node.props.pop("cm:versionType", None)
            node.aspects = list(dict.fromkeys([*SYSTEM_ASPECTS, *[a for a in wanted if a != "cm:lockable"]]))
        if ("cm:title" in node.props or "cm:description" in node.props) and "cm:titled" not in node.aspects:
            node.aspects.append("cm:titled")
        if "cm:author" in node.props and "cm:author" not in node.aspects:
            node.aspects.append("cm:author")
        touch(store, node, user)
        if make_versionable:
            node.props["cm:versionLabel"] = "1.0"
            node.props["cm:versionType"] = "MAJOR"
            store.add_version(node, "1.0")
        store.save_node(node)
    return node


def _check_subtree_unlocked(store: Store, user: str, node: Node) -> None:
    rules.check_unlocked_for(store, user, node)
    if node.is_folder:
        for child in store.descendants(node.id):
            rules.check_unlocked_for(store, user, child)


def _is_within(store: Store, node_id: str, ancestor_id: str) -> bool:
    current: str | None = node_id
    while current:
        if current == ancestor_id:
            return True
        n = store.get_node(current, state=None)
        current = n.parent_id if n else None
    return False


def _is_structural(store: Store, node: Node) -> bool:
    """Company Home, a site and a site's documentLibrary cannot be moved or deleted through this API."""
    if node.parent_id is None or node.node_type == "st:site":
        return True
    parent = store.get_node(node.parent_id)
    return parent is not None and parent.node_type == "st:site"


def move_node(store: Store, user: str, node: Node, target: Node, name: str | None) -> Node:
    if _is_structural(store, node):
        raise ApiError(403, "This node cannot be moved")
    rules.require(rules.can_write(store, user, node))
    rules.require(rules.can_write(store, user, target))
    _check_subtree_unlocked(store, user, node)
    if not target.is_folder:
        raise ApiError(400, "Target parent is not a folder")
    if _is_within(store, target.id, node.id):
        raise ApiError(400, "Cannot move a node into itself or its own descendant")
    new_name = rules.check_name(name) if name else node.name
    other = store.child_by_name(target.id, new_name)
    if other is not None and other.id != node.id:
        raise rules.name_clash(new_name)
    with store.tx():
        node.parent_id, node.name = target.id, new_name
        touch(store, node, user)
        if node.site_id != target.site_id:
            node.site_id = target.site_id
            store.set_site_id(store.descendant_ids(node.id), target.site_id)
        store.save_node(node)
    return node


def copy_node(store: Store, user: str, node: Node, target: Node, name: str | None) -> Node:
    rules.require(rules.can_write(store, user, target))
    if node.is_folder and _is_within(store, target.id, node.id):
        raise ApiError(400, "Cannot copy a folder into itself")
    new_name = rules.check_name(name) if name else node.name
    size = node.size if not node.is_folder else sum(d.size for d in store.descendants(node.id))
    check_quota(store, target.tenant, size, 0)
    with store.tx():
        copy = _copy_one(store, user, node, target, new_name)
        if node.is_folder:
            _copy_children(store, user, node, copy)
    return copy


def _copy_one(store: Store, user: str, node: Node, target: Node, name: str) -> Node:
    props = {k: v for k, v in node.props.items() if k in UPDATABLE_PROPS}
    aspects = [a for a in node.aspects if a not in ("cm:versionable", "cm:lockable")]
    blob = None
    if node.blob is not None:
        src = store.blobs.path(node.blob)
        blob, f = store.blobs.open_new()
        with f, open(src, "rb") as s:
            while chunk := s.read(1 << 20):
                f.write(chunk)
    return create_node(
        store,
        user,
        target,
        name,
        node.node_type,
        props=props,
        aspects=aspects,
        blob=blob,
        size=node.size,
        mime=node.mime_type,
        versioned=node.is_versionable,
    )


def _copy_children(store: Store, user: str, src: Node, dst: Node) -> None:
    children, _ = store.list_children(src.id, where_folder=None, order_sql="name_lc", skip=0, limit=1 << 30)
    for child in children:
        c = _copy_one(store, user, child, dst, child.name)
        if child.is_folder:
            _copy_children(store, user, child, c)


def delete_node(store: Store, user: str, node: Node, permanent: bool) -> None:
    if _is_structural(store, node):
        raise ApiError(403, "This node cannot be deleted")
    rules.require(rules.can_delete(store, user, node))
    _check_subtree_unlocked(store, user, node)
    below = store.descendant_ids(node.id)
    with store.tx():
        if permanent:
            if not (rules.is_admin(user) or node.created_by == user):
                raise ApiError(403, "Only the owner or an administrator can delete permanently")
            store.delete_rows([node.id, *below])
            return
        node.state, node.archived_at, node.archived_by = ARCHIVED, store.clock.now_ms(), user
        node.lock_owner = node.lock_type = node.lock_lifetime = None
        node.lock_expires = None
        store.save_node(node)
        store.set_state(below, ARCHIVED_WITH_PARENT)


def get_archived(store: Store, tenant: str, user: str, node_id: str) -> Node:
    node = store.get_node(node_id, state=ARCHIVED)
    if node is None or node.tenant != tenant:
        raise not_found("deleted node", node_id)
    if not (rules.is_admin(user) or node.archived_by == user or node.created_by == user):
        raise ApiError(403, "Permission was denied")
    return node


def restore_node(store: Store, tenant: str, user: str, node_id: str, target_parent_id: str | None) -> Node:
    node = get_archived(store, tenant, user, node_id)
    parent_id = target_parent_id or node.parent_id
    parent = store.get_node(parent_id or "")
    if parent is None or parent.tenant != tenant:
        raise ApiError(404, f"Restore target does not exist: {parent_id}")
    rules.require(rules.can_write(store, user, parent))
    if store.child_by_name(parent.id, node.name) is not None:
        raise rules.name_clash(node.name)
    below = store.descendant_ids(node.id, state=ARCHIVED_WITH_PARENT)
    with store.tx():
        node.state, node.parent_id = LIVE, parent.id
        node.archived_at = None
        node.archived_by = None
        touch(store, node, user)
        if node.site_id != parent.site_id:
            node.site_id = parent.site_id
            store.set_site_id(below, parent.site_id)
        store.save_node(node)
        store.set_state(below, LIVE)
    return node


def purge(store: Store, tenant: str, user: str, node_id: str) -> None:
    node = get_archived(store, tenant, user, node_id)
    with store.tx():
        store.delete_rows([node.id, *store.descendant_ids(node.id, state=ARCHIVED_WITH_PARENT)])


def lock_node(store: Store, user: str, node: Node, body: dict[str, Any]) -> Node:
    if node.is_folder:
        raise ApiError(400, "Only files can be locked", "framework.exception.InvalidArgument")
    lock_type = body.get("type", "ALLOW_OWNER_CHANGES")
    lifetime = body.get("lifetime", "PERSISTENT")
    ttl = body.get("timeToExpire", 0)
    if lock_type not in ("ALLOW_OWNER_CHANGES", "FULL") or lifetime not in ("PERSISTENT", "EPHEMERAL"):
        raise ApiError(400, "Invalid lock type or lifetime")
    if not isinstance(ttl, int) or ttl < 0:
        raise ApiError(400, "timeToExpire must be a non-negative integer")
    rules.require(rules.can_write(store, user, node))
    now = store.clock.wall_ms()
    if rules.lock_active(node, now) and node.lock_owner != user:
        raise ApiError(
            422, f"Cannot lock node {node.id}: already locked by another user", "framework.exception.IntegrityException"
        )
    node.lock_owner, node.lock_type, node.lock_lifetime = user, lock_type, lifetime
    node.lock_expires = now + ttl * 1000 if ttl else None
    touch(store, node, user)
    store.save_node(node)
    return node


def unlock_node(store: Store, user: str, node: Node) -> Node:
    rules.require(rules.can_read(store, user, node))
    if not rules.lock_active(node, store.clock.wall_ms()):
        raise ApiError(422, f"Cannot unlock node {node.id}: it is not locked", "framework.exception.IntegrityException")
    if node.lock_owner != user and not rules.is_admin(user):
        raise ApiError(403, "Only the lock owner or an administrator can unlock", "framework.exception.PermissionDenied")
    node.lock_owner = node.lock_type = node.lock_lifetime = None
    node.lock_expires = None
    touch(store, node, user)
    store.save_node(node)
    return node

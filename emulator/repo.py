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
    store: Store,
    tenant: str,
    site_id: str,
    title: str,
    *,
    visibility: str = "PUBLIC",
    ids: list[str] | None = None,
    creator: str = "admin",
) -> str:
    """A site and its documentLibrary, made by `creator` (the site's first SiteManager in Alfresco)."""
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
        creator,
        now,
        creator,
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
        creator,
        now,
        creator,
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
    """NodesImpl#findUniqueName: `name-1.ext` (before the last dot), `name-1` without a dot, and `1.ext` for a
    name that is only a suffix (`.hidden`), counting up until the name is free (names clash case-insensitively)."""
    dot = name.rfind(".")
    counter = 1
    while True:
        if dot == 0:
            candidate = f"{counter}{name}"
        elif dot > 0:
            candidate = f"{name[:dot]}-{counter}{name[dot:]}"
        else:
            candidate = f"{name}-{counter}"
        if store.child_by_name(parent_id, candidate) is None:
            return candidate
        counter += 1


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
    version_major: bool | None = None,
    version_comment: str | None = None,
    node_id: str | None = None,
    created_at: int | None = None,
) -> Node:
    """Create a child after the checks every create path shares (type, name, permission, clash).

    A file gets a first version as NodesImpl#createNewFile makes one: only when `version_major` or a comment is
    given, MAJOR (1.0) unless `version_major` is False (0.1). Adding cm:versionable through `aspects` also starts
    the history at 1.0 (VersionableAspect on add). The parent folder's modifiedAt moves (`propagate_timestamp`).
    """
    if not parent.is_folder:
        # NodesImpl#createNode does not check the parent's type; the repository's integrity checker refuses a
        # cm:contains child under cm:content, which the REST API answers as 422 (IntegrityException).
        raise ApiError(422, f"Cannot create a child of a file: {parent.id}", "framework.exception.IntegrityException")
    is_folder = node_type in ("cm:folder", "st:site") or node_type.endswith(":folder")
    if node_type not in ("cm:folder", "cm:content") and ":" not in node_type:
        raise ApiError(400, f"Invalid nodeType: {node_type}")
    rules.check_name(name)
    rules.require(rules.can_create_children(store, user, parent))
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
    label: str | None = None
    if not is_folder:
        node.mime_type = mime or rules.guess_mime(name)
        node.size = size
        node.blob = blob or store.blobs.write_bytes(b"")
        node.encoding = "UTF-8"
        if version_major is not None or version_comment is not None:
            label = next_label(None, version_major is not False)
        elif "cm:versionable" in node.aspects:
            label = "1.0"
        if label is not None:
            node.aspects = list(dict.fromkeys([*node.aspects, "cm:versionable"]))
            node.props["cm:versionLabel"] = label
            node.props["cm:versionType"] = "MAJOR" if label.endswith(".0") else "MINOR"
    else:
        node.aspects = [a for a in node.aspects if a != "cm:versionable"]
    with store.tx():
        store.insert_node(node)
        if label is not None:
            store.add_version(node, label, version_comment)
        propagate_timestamp(store, parent.id, user, node.modified_at)
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
    """SerialVersionLabelPolicy: the first version is 1.0 (major) or 0.1 (minor); then 2.0 or 1.1."""
    if not label:
        return "1.0" if major else "0.1"
    hi, _, lo = label.partition(".")
    return f"{int(hi) + 1}.0" if major else f"{hi}.{int(lo or 0) + 1}"


def touch(store: Store, node: Node, user: str) -> None:
    node.modified_at = store.clock.now_ms()
    node.changed_at = node.modified_at
    node.modified_by = user


def propagate_timestamp(store: Store, parent_id: str | None, user: str, child_modified: int | None) -> None:
    """DbNodeServiceImpl#propagateTimeStamps: a child association change (create, delete, move in or out, rename)
    touches the cm:auditable parent: cm:modified becomes now and cm:modifier the child's modifier (the caller;
    for a child that is gone, the deleting user), unless the parent was modified after the child
    (AuditableTransactionListener#processSingle, "Did another child get there first?"). `child_modified` is the
    child's cm:modified, None for a child that has gone away. Restores do not propagate (restoreNode disables
    the cm:auditable behaviour), and property or content changes are not child association changes."""
    parent = store.get_node(parent_id) if parent_id else None
    if parent is None or "cm:auditable" not in parent.aspects:
        return
    if child_modified is not None and parent.modified_at > child_modified:
        return
    touch(store, parent, user)
    store.save_node(parent)


def set_content(
    store: Store, user: str, node: Node, blob: str, size: int, mime: str, *, major: bool | None, comment: str | None
) -> Node:
    """NodesImpl#updateExistingFile: new bytes, and a new version when the node is versioned or the caller asked
    for one (`major` given, i.e. `majorVersion` sent, or a comment: NodesImpl#shouldCreateVersionOnContentUpdate).
    The version is MAJOR/MINOR as asked, else MAJOR for a node without a label and MINOR after one; a node that
    was not versionable becomes so (NodesImpl#createVersion adds cm:versionable). cm:autoVersion=false on a
    versioned node skips the version."""
    touch(store, node, user)
    node.blob, node.size, node.mime_type = blob, size, mime
    versioned = node.is_versionable
    wanted = versioned or major is not None or comment is not None
    if versioned and node.props.get("cm:autoVersion") is False:
        wanted = False
    with store.tx():
        if wanted:
            current = node.props.get("cm:versionLabel") if versioned else None
            is_major = major if major is not None else current is None
            label = next_label(current, is_major)
            if not versioned:
                node.aspects = list(dict.fromkeys([*node.aspects, "cm:versionable"]))
            node.props["cm:versionLabel"] = label
            node.props["cm:versionType"] = "MAJOR" if is_major else "MINOR"
            store.add_version(node, label, comment)
        store.save_node(node)
    return node


def revert_version(store: Store, user: str, node: Node, version: dict[str, Any], *, major: bool, comment: str | None) -> Node:
    """NodeVersionsRelation#revertById: the version's content (and name) become current again, then a checkout and
    check-in records them as a new version, MINOR unless `majorVersion` is true."""
    rules.require(rules.can_write(store, user, node))
    rules.check_unlocked_for(store, user, node)
    if version["name"] != node.name:
        other = store.child_by_name(node.parent_id or "", version["name"])
        if other is not None and other.id != node.id:
            raise rules.name_clash(version["name"])
    with store.tx():
        renamed = version["name"] != node.name
        node.name = version["name"]
        node.encoding = version["encoding"]
        blob, size, mime = version["blob"], version["size"], version["mime_type"]
        node = set_content(store, user, node, blob, size, mime, major=major, comment=comment)
        if renamed:
            propagate_timestamp(store, node.parent_id, user, node.modified_at)
    return node


def update_node(store: Store, user: str, node: Node, body: dict[str, Any]) -> Node:
    rules.require(rules.can_write(store, user, node))
    rules.check_unlocked_for(store, user, node)
    make_versionable = False
    renamed = False
    with store.tx():
        if "name" in body and body["name"] != node.name:
            name = rules.check_name(body["name"])
            other = store.child_by_name(node.parent_id or "", name) if node.parent_id else None
            if other is not None and other.id != node.id:
                raise rules.name_clash(name)
            node.name = name
            renamed = True
        props = body.get("properties") or {}
        if not isinstance(props, dict):
            raise ApiError(400, "properties must be an object")
        for key, value in props.items():
            if key in ("cm:versionLabel", "cm:lockOwner", "cm:lockType", "cm:owner") or key.startswith("sys:"):
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
        if renamed:
            # NodesImpl#rename -> FileFolderService.rename moves the node within its parent (ALF-10884 in moveNode).
            propagate_timestamp(store, node.parent_id, user, node.modified_at)
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
    """FileFolderService.move=ACL_NODE.0.sys:base.DeleteNode,ACL_NODE.1.sys:base.CreateChildren: moving needs the
    right to delete the node (so a SiteCollaborator moves only what it owns) and to add children to the target.
    Both parents' modifiedAt move (DbNodeServiceImpl#moveNode propagates on the old and the new parent)."""
    if _is_structural(store, node):
        raise ApiError(403, "This node cannot be moved")
    rules.require(rules.can_delete(store, user, node))
    rules.require(rules.can_create_children(store, user, target))
    _check_subtree_unlocked(store, user, node)
    if not target.is_folder:
        raise ApiError(400, "Target parent is not a folder")
    if _is_within(store, target.id, node.id):
        raise ApiError(400, "Cannot move a node into itself or its own descendant")
    new_name = rules.check_name(name) if name else node.name
    other = store.child_by_name(target.id, new_name)
    if other is not None and other.id != node.id:
        raise rules.name_clash(new_name)
    old_parent = node.parent_id
    with store.tx():
        node.parent_id, node.name = target.id, new_name
        touch(store, node, user)
        if node.site_id != target.site_id:
            node.site_id = target.site_id
            store.set_site_id(store.descendant_ids(node.id), target.site_id)
        store.save_node(node)
        if old_parent != target.id:
            propagate_timestamp(store, old_parent, user, node.modified_at)
        propagate_timestamp(store, target.id, user, node.modified_at)
    return node


def copy_node(store: Store, user: str, node: Node, target: Node, name: str | None) -> Node:
    rules.require(rules.can_create_children(store, user, target))
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
        version_major=True if node.is_versionable else None,
    )


def _copy_children(store: Store, user: str, src: Node, dst: Node) -> None:
    children, _ = store.list_children(src.id, where_folder=None, order_sql="name_lc", skip=0, limit=1 << 30)
    for child in children:
        c = _copy_one(store, user, child, dst, child.name)
        if child.is_folder:
            _copy_children(store, user, child, c)


NO_OWNER = ""
"""OwnableService.NO_OWNER: what sys:archivedOriginalOwner holds for a node that was not cm:ownable."""
ORIGINAL_OWNER = "sys:archivedOriginalOwner"


def delete_node(store: Store, user: str, node: Node, permanent: bool) -> None:
    """NodesImpl#deleteNode, to the trashcan unless `permanent` (owner or admin only).

    Archiving (DbNodeServiceImpl#archiveHierarchyImpl) records who deleted the node and makes that user its
    owner (cm:ownable, cm:owner), keeping the original owner to give back on restore; it disables cm:auditable,
    so the node's own modifiedAt stays. A PERSISTENT lock is a set of properties and goes to the trashcan with
    the node; an EPHEMERAL one lives in the lock store under the old node reference and is gone. The parent's
    modifiedAt moves (DbNodeServiceImpl#deleteNode propagates before archiving).
    """
    if _is_structural(store, node):
        raise ApiError(403, "This node cannot be deleted")
    rules.require(rules.can_delete(store, user, node))
    _check_subtree_unlocked(store, user, node)
    below = store.descendant_ids(node.id)
    with store.tx():
        if permanent:
            if not (rules.is_admin(user) or rules.owner(node) == user):
                raise ApiError(403, "Non-owner/non-admin cannot permanently delete", "framework.exception.PermissionDenied")
            store.delete_rows([node.id, *below])
        else:
            original = rules.owner(node) if "cm:ownable" in node.aspects else NO_OWNER
            node.props[ORIGINAL_OWNER] = original
            node.props["cm:owner"] = user
            node.aspects = list(dict.fromkeys([*node.aspects, "cm:ownable"]))
            node.state, node.archived_at, node.archived_by = ARCHIVED, store.clock.now_ms(), user
            if node.lock_lifetime == "EPHEMERAL":
                node.lock_owner = node.lock_type = node.lock_lifetime = None
                node.lock_expires = None
            store.save_node(node)
            store.set_state(below, ARCHIVED_WITH_PARENT)
        propagate_timestamp(store, node.parent_id, user, None)


def get_archived(store: Store, tenant: str, user: str, node_id: str) -> Node:
    """A top-level trashcan item the caller may see: NodeArchiveServiceImpl#hasFullAccess allows the admin and the
    user who deleted it (archivedBy) only; anyone else is refused (403)."""
    node = store.get_node(node_id, state=ARCHIVED)
    if node is None or node.tenant != tenant:
        raise not_found("deleted node", node_id)
    if not (rules.is_admin(user) or node.archived_by == user):
        raise ApiError(403, "Permission was denied", "framework.exception.PermissionDenied")
    return node


def restore_node(store: Store, tenant: str, user: str, node_id: str, target_parent_id: str | None) -> Node:
    """DeletedNodesImpl#restoreArchivedNode -> DbNodeServiceImpl#restoreNode.

    Ownership goes back to what it was before the delete; a lock taken before the delete is still there. The
    cm:auditable behaviour is off during a restore, so neither the node's nor the parent's modifiedAt moves.
    """
    node = get_archived(store, tenant, user, node_id)
    parent_id = target_parent_id or node.parent_id
    parent = store.get_node(parent_id or "")
    if parent is None or parent.tenant != tenant:
        raise ApiError(404, f"Invalid parent id {parent_id}", "framework.exception.EntityNotFound")
    rules.require(rules.can_create_children(store, user, parent))
    if not parent.is_folder:
        raise ApiError(422, "Restore failed due to an integrity error", "framework.exception.IntegrityException")
    if store.child_by_name(parent.id, node.name) is not None:
        raise ApiError(409, "Name already exists in target", "framework.exception.ConstraintViolated")
    below = store.descendant_ids(node.id, state=ARCHIVED_WITH_PARENT)
    with store.tx():
        node.state, node.parent_id = LIVE, parent.id
        node.archived_at = None
        node.archived_by = None
        original = node.props.pop(ORIGINAL_OWNER, NO_OWNER)
        if original == NO_OWNER:
            node.props.pop("cm:owner", None)
            node.aspects = [a for a in node.aspects if a != "cm:ownable"]
        else:
            node.props["cm:owner"] = original
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
    """NodesImpl#unlock: 422 when the node is not locked; then the Unlock permission (`rules.can_unlock`: the lock
    owner, the node's owner, a SiteManager, the admin), else 403."""
    rules.require(rules.can_read(store, user, node))
    if not rules.lock_active(node, store.clock.wall_ms()):
        raise ApiError(422, f"Cannot unlock node {node.id}: it is not locked", "framework.exception.IntegrityException")
    if not rules.can_unlock(store, user, node):
        raise ApiError(403, "Current user doesn't have permission to unlock this node", "framework.exception.PermissionDenied")
    node.lock_owner = node.lock_type = node.lock_lifetime = None
    node.lock_expires = None
    touch(store, node, user)
    store.save_node(node)
    return node

"""Alfresco's rules that do not depend on HTTP: names, permissions, locks, mime types.

Kept apart from the routes so that every write path (create, upload, update, move, copy, restore) applies
exactly the same checks, as the real repository does in its service layer.
"""

from __future__ import annotations

import re

from emulator.errors import ApiError
from emulator.store import Node, Store

ADMIN = "admin"
WRITE_ROLES = {"SiteCollaborator", "SiteManager"}
"""Roles whose permission group includes Write on every node of the site (sitePermissionDefinitions.xml: SiteManager
has full control, SiteCollaborator = Collaborator = Editor + Contributor). A SiteContributor only adds children
and writes what it owns (permissionDefinitions.xml: "Contributor ... can modify via the owner permissions")."""
CREATE_ROLES = {"SiteCollaborator", "SiteManager", "SiteContributor"}
_BAD_NAME = re.compile(r'[*"<>\\/?:|]')


def check_name(name: object) -> str:
    """Alfresco refuses `* " < > \\ / ? : |` and a trailing dot or space with 422 (integrity)."""
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "Name is mandatory and must be a non-empty string")
    if _BAD_NAME.search(name) or name.endswith((".", " ")):
        raise ApiError(422, f"Name contains invalid characters: {name}", "framework.exception.IntegrityException")
    return name


def name_clash(name: str) -> ApiError:
    return ApiError(409, f"Duplicate child name not allowed: {name}", "framework.exception.ConstraintViolated")


def is_admin(user: str) -> bool:
    """The administrator of the caller's own domain: `admin` on-prem (the default domain), `admin@acme.com` for the
    tenant acme.com (Alfresco names a tenant's administrator admin@<domain>). Tenants cannot be crossed (a call
    to another network's URL is a 401, see `context.resolve_tenant`), so neither is an administrator elsewhere."""
    name, at, domain = user.partition("@")
    return name == ADMIN and (not at or ("@" not in domain and bool(domain)))


def owner(node: Node) -> str:
    """OwnableServiceImpl#getOwner: cm:owner when the node is cm:ownable (e.g. after it was deleted, see
    `repo.delete_node`), else its creator."""
    value = node.props.get("cm:owner")
    return str(value) if value and "cm:ownable" in node.aspects else node.created_by


def _role(store: Store, user: str, node: Node) -> str | None:
    return store.site_role(node.tenant, node.site_id, user) if node.site_id else None


def is_site_manager(store: Store, user: str, node: Node) -> bool:
    """SiteManager is the site's Coordinator (allowFullControl in sitePermissionDefinitions.xml)."""
    return _role(store, user, node) == "SiteManager"


def can_read(store: Store, user: str, node: Node) -> bool:
    if is_admin(user) or owner(node) == user:
        return True
    if node.site_id:
        site = store.get_site(node.tenant, node.site_id)
        return _role(store, user, node) is not None or bool(site and site["visibility"] == "PUBLIC")
    return True


def can_write(store: Store, user: str, node: Node) -> bool:
    """Write: admin, the owner (ROLE_OWNER has FullControl, permissionDefinitions.xml), or a site role with Write."""
    if is_admin(user) or owner(node) == user:
        return True
    if node.site_id:
        return _role(store, user, node) in WRITE_ROLES
    return False


def can_create_children(store: Store, user: str, folder: Node) -> bool:
    """CreateChildren (AddChildren): Contributor and up, the folder's owner, admin."""
    if is_admin(user) or owner(folder) == user:
        return True
    if folder.site_id:
        return _role(store, user, folder) in CREATE_ROLES
    return False


def can_delete(store: Store, user: str, node: Node) -> bool:
    """DeleteNode: SiteManager (Coordinator) anything in the site; anyone else only what they own (ROLE_OWNER),
    because Collaborator and Contributor do not include Delete (permissionDefinitions.xml)."""
    if is_admin(user) or owner(node) == user:
        return True
    return is_site_manager(store, user, node)


def can_unlock(store: Store, user: str, node: Node) -> bool:
    """LockService.unlock=ACL_NODE.0.cm:lockable.Unlock (public-services-security-context.xml): Unlock is granted
    to the lock owner (globalPermission ROLE_LOCK_OWNER), the node's owner (ROLE_OWNER: FullControl), a
    Coordinator (SiteManager) and the administrator; a SiteCollaborator cannot break someone else's lock."""
    return is_admin(user) or node.lock_owner == user or owner(node) == user or is_site_manager(store, user, node)


def require(allowed: bool, what: str = "Permission was denied") -> None:
    if not allowed:
        raise ApiError(403, what, "framework.exception.PermissionDenied")


def lock_active(node: Node, now_ms: int) -> bool:
    return node.lock_owner is not None and (node.lock_expires is None or node.lock_expires > now_ms)


def check_unlocked_for(store: Store, user: str, node: Node) -> None:
    """Writing to a node locked by someone else is 409, not 423; FULL locks stop the owner too."""
    if lock_active(node, store.clock.wall_ms()) and (node.lock_type == "FULL" or node.lock_owner != user):
        raise ApiError(
            409,
            f"Cannot perform operation since the node (id:{node.id}) is locked.",
            "framework.exception.ConstraintViolated",
        )


MIME_TYPES: dict[str, tuple[str, str]] = {
    "txt": ("text/plain", "Plain Text"),
    "md": ("text/markdown", "Markdown"),
    "csv": ("text/csv", "Comma Separated Values (CSV)"),
    "json": ("application/json", "JSON"),
    "xml": ("text/xml", "XML"),
    "html": ("text/html", "HTML"),
    "png": ("image/png", "PNG Image"),
    "jpg": ("image/jpeg", "JPEG Image"),
    "jpeg": ("image/jpeg", "JPEG Image"),
    "gif": ("image/gif", "GIF Image"),
    "pdf": ("application/pdf", "Adobe PDF Document"),
    "doc": ("application/msword", "Microsoft Word"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Microsoft Word 2007"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "Microsoft Excel 2007"),
    "zip": ("application/zip", "ZIP"),
}
OCTET = ("application/octet-stream", "Binary File (Octet Stream)")
_NAMES_BY_MIME = {m: n for m, n in MIME_TYPES.values()}


def guess_mime(name: str, declared: str | None = None) -> str:
    """By extension first (as Alfresco's mimetype service does), then a specific declared type."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext in MIME_TYPES:
        return MIME_TYPES[ext][0]
    if declared:
        base = declared.split(";")[0].strip().lower()
        if base and base not in ("application/octet-stream", "multipart/form-data"):
            return base
    return OCTET[0]


def mime_name(mime: str) -> str:
    return _NAMES_BY_MIME.get(mime, OCTET[1] if mime == OCTET[0] else mime)

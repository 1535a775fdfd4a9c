"""Turns Alfresco's JSON entries into our plain values (`Node`, `Network`, library locations).

Pure functions with no I/O, so the quirks of the wire format (dates with "+0000", optional fields that
only appear when included) are tested in one place.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from connectors.base import Metadata, Network, Node

_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")
_LIBRARY_PATH = re.compile(r"^/Company Home/Sites/(?P<site>[^/]+)(?P<rest>/documentLibrary(?:/.*)?)?$")


def parse_datetime(value: str | None) -> datetime | None:
    """Alfresco writes "2026-11-27T14:05:01.123+0000"; always return an aware datetime (UTC if unzoned)."""
    if not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    text = _COMPACT_OFFSET.sub(r"\1:\2", text)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def format_datetime(value: datetime) -> str:
    """The UTC form AFTS range queries accept, e.g. "2026-11-27T10:00:00.000Z"."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _text_or_unset(value: Any) -> str | None:
    """We clear a property by writing "" (the API takes strings only), so "" reads back as unset."""
    return None if value is None or value == "" else str(value)


def parse_metadata(properties: dict[str, Any]) -> Metadata:
    return Metadata(
        title=_text_or_unset(properties.get("cm:title")),
        description=_text_or_unset(properties.get("cm:description")),
        author=_text_or_unset(properties.get("cm:author")),
    )


def parse_node(entry: dict[str, Any]) -> Node:
    """A node entry (from GET, a listing, a search or a write) as a `Node`."""
    properties: dict[str, Any] = entry.get("properties") or {}
    content: dict[str, Any] = entry.get("content") or {}
    aspects = entry.get("aspectNames")
    is_locked = entry.get("isLocked")
    if is_locked is None:
        is_locked = "cm:lockType" in properties
    path = entry.get("path") or {}
    is_folder = bool(entry.get("isFolder", False))
    return Node(
        id=str(entry["id"]),
        name=str(entry["name"]),
        parent_id=_optional_str(entry.get("parentId")),
        is_folder=is_folder,
        size=0 if is_folder else int(content.get("sizeInBytes") or 0),
        modified_at=parse_datetime(entry.get("modifiedAt")),
        version_label=_optional_str(properties.get("cm:versionLabel")),
        mime_type=_optional_str(content.get("mimeType")),
        is_locked=bool(is_locked),
        lock_owner=_lock_owner(properties.get("cm:lockOwner")),
        path=_optional_str(path.get("name")),
        metadata=parse_metadata(properties),
        is_versionable=None if aspects is None else "cm:versionable" in aspects,
        created_by=_user_id(entry.get("createdByUser")),
        modified_by=_user_id(entry.get("modifiedByUser")),
    )


def _user_id(value: Any) -> str | None:
    """`createdByUser` / `modifiedByUser`: a {"id", "displayName"} object."""
    return _optional_str(value.get("id")) if isinstance(value, dict) else None


def _lock_owner(value: Any) -> str | None:
    """cm:lockOwner is a user id on some servers and a {"id", "displayName"} object on others."""
    if isinstance(value, dict):
        return _optional_str(value.get("id"))
    return _optional_str(value)


def library_ids_in_path(entry: dict[str, Any]) -> dict[str, str]:
    """{site: documentLibrary node id} seen in a node's path elements; feeds the per-site cache for free."""
    elements = (entry.get("path") or {}).get("elements") or []
    found: dict[str, str] = {}
    names = [str(e.get("name", "")) for e in elements]
    for index in range(3, len(elements)):
        if names[index] == "documentLibrary" and names[index - 2] == "Sites" and names[0] == "Company Home":
            element_id = elements[index].get("id")
            if element_id:
                found[names[index - 1]] = str(element_id)
    return found


def site_and_relative_path(node: Node) -> tuple[str, str] | None:
    """(site, path from the documentLibrary to the node) or None when the node is outside every library."""
    if node.path is None:
        return None
    match = _LIBRARY_PATH.match(node.path.rstrip("/"))
    if match is None:
        return None
    site, rest = match.group("site"), match.group("rest")
    if rest is None:
        return (site, "") if node.name == "documentLibrary" else None
    below = rest[len("/documentLibrary") :].strip("/")
    return site, f"{below}/{node.name}" if below else node.name


def parse_network(entry: dict[str, Any]) -> Network:
    return Network(
        id=str(entry["id"]),
        is_enabled=bool(entry.get("isEnabled", False)),
        subscription_level=_optional_str(entry.get("subscriptionLevel")),
    )

"""Stable digests shared by the planner and the flows.

The base stores a digest of the common metadata rather than the values, so a change is one string
comparison; both sides and every run must compute it the same way, hence one function used everywhere.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

from connectors.base import Metadata, Node


@lru_cache(maxsize=65536)
def metadata_digest(metadata: Metadata) -> str:
    """SHA-256 (hex, 64 chars) of title/description/author; `None` and "" are told apart.

    Cached: most nodes of a sync set share a few metadata values, and planning 100k members would
    otherwise spend most of its time here."""
    payload = json.dumps([metadata.title, metadata.description, metadata.author], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _node_state(node: Node | None) -> list[object]:
    if node is None:
        return ["-"]
    return [
        node.id,
        node.name,
        node.parent_id,
        node.size,
        node.modified_at.isoformat() if node.modified_at else None,
        node.version_label,
        metadata_digest(node.metadata),
    ]


def fingerprint(onprem: Node | None, cloud: Node | None) -> str:
    """What both nodes of a member look like now; a failed member is retried once this changes.

    Stored with a failure, it lets the schedule skip the member until one of its nodes changes (SPEC:
    "not retried by the schedule until one of its nodes changes") without comparing against our clock.
    """
    payload = json.dumps([_node_state(onprem), _node_state(cloud)], separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]

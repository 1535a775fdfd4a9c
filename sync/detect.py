"""Change detection of one side of one member against its base (Unison's update detection).

"Changed" means different from the base, not different from the other side: that is how a change is
told apart from a difference, and how renames and moves are seen by node id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from connectors.base import Node
from sync.digest import metadata_digest
from sync.model import Observation, SideBase
from sync.tree import SideTree


class Presence(Enum):
    PRESENT = "present"
    GONE = "gone"
    """Deleted, or moved out of the synced tree: both count as deleted on that side."""
    UNKNOWN = "unknown"
    """Not seen, and its folder was not fully listed: never treat as deleted."""
    NONE = "none"
    """The member has no node on this side yet."""


class Content(Enum):
    NO = 0
    YES = 1
    MAYBE = 2
    """modifiedAt moved but size and version say nothing: only a hash can tell (Alfresco moves modifiedAt
    on metadata edits too)."""


@dataclass(slots=True)
class SideView:
    presence: Presence
    node: Node | None = None
    content: Content = Content.NO
    meta: bool = False
    renamed: bool = False
    moved: bool = False
    sha256: str | None = None
    stale: bool = False
    """The node's size, version or modifiedAt differ from the base, changed or not: record the base anew
    so the next run does not have to compare again."""

    @property
    def changed(self) -> bool:
        return self.content is not Content.NO or self.meta or self.renamed or self.moved

    @property
    def present(self) -> bool:
        return self.presence is Presence.PRESENT


def _content(node: Node, base: SideBase, sha: str | None) -> Content:
    if sha is not None and base.sha256 is not None:
        return Content.YES if sha != base.sha256 else Content.NO
    if base.size is not None and node.size != base.size:
        return Content.YES
    if node.version_label is not None and base.version is not None:
        return Content.YES if node.version_label != base.version else Content.NO
    if node.modified_at is not None and base.modified_at is not None and node.modified_at != base.modified_at:
        return Content.MAYBE
    return Content.NO


def view_side(
    base: SideBase | None,
    obs: Observation,
    tree: SideTree,
    *,
    is_folder: bool,
    track_parent: bool,
    listing_covers: Callable[[str | None], bool],
) -> SideView:
    """`track_parent` is False for direct members: their on-prem parent is outside the tree and their
    cloud parent is the target folder, so a "move" of them means leaving the tree (handled as GONE).
    `listing_covers(parent)` says whether a complete listing would have shown the node under its base
    parent (see `_Planner.listing_covers`)."""
    if base is None:
        return SideView(Presence.NONE)
    node = obs.nodes.get(base.node_id)
    if node is None:
        if not listing_covers(base.parent_id):
            return SideView(Presence.UNKNOWN)
        return SideView(Presence.GONE)
    if not tree.contains(node.id):
        return SideView(Presence.GONE)
    sha = obs.sha256.get(node.id)
    view = SideView(Presence.PRESENT, node, sha256=sha)
    if not is_folder:
        view.content = _content(node, base, sha)
    view.stale = (
        node.modified_at != base.modified_at or node.version_label != base.version or (not is_folder and node.size != base.size)
    )
    view.meta = base.meta is not None and metadata_digest(node.metadata) != base.meta
    view.renamed = base.name is not None and node.name != base.name
    view.moved = track_parent and base.parent_id is not None and node.parent_id != base.parent_id
    return view

"""Which observed nodes belong to the synced tree of one side.

A node is synced when it is a direct member's node (on the cloud side: sitting in the target folder) or
when its parent is a synced folder; with include_subfolders off only the direct folders' files count.
Anything else that was seen (other children of the target folder, ignored subfolders) still holds names.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.base import Node
from vocabulary import Side


class SideTree:
    """Memoised membership test; walks parent chains iteratively so deep trees cannot overflow."""

    __slots__ = ("_anchor_parent", "_anchors", "_folders_only_direct", "_memo", "nodes", "side")

    def __init__(
        self,
        side: Side,
        nodes: Mapping[str, Node],
        anchors: frozenset[str],
        anchor_parent: str | None,
        include_subfolders: bool,
    ) -> None:
        self.side = side
        self.nodes = nodes
        self._anchors = anchors
        self._anchor_parent = anchor_parent
        self._folders_only_direct = not include_subfolders
        self._memo: dict[str, bool] = {}

    def _decide_locally(self, node: Node) -> bool | None:
        """True/False when the node decides by itself, None when it depends on its parent."""
        if node.id in self._anchors:
            return self._anchor_parent is None or node.parent_id == self._anchor_parent
        parent = self.nodes.get(node.parent_id) if node.parent_id else None
        if parent is None or not parent.is_folder:
            return False
        if self._folders_only_direct:
            return (not node.is_folder) and parent.id in self._anchors and self.contains(parent.id)
        return None

    def contains(self, node_id: str) -> bool:
        known = self._memo.get(node_id)
        if known is not None:
            return known
        chain: list[str] = []
        current: str | None = node_id
        result = False
        seen: set[str] = set()
        while current is not None:
            known = self._memo.get(current)
            if known is not None:
                result = known
                break
            node = self.nodes.get(current)
            if node is None or current in seen:
                result = False
                break
            seen.add(current)
            chain.append(current)
            local = self._decide_locally(node)
            if local is not None:
                result = local
                break
            current = node.parent_id
        for item in chain:
            self._memo[item] = result
        return result

    def is_ignored_subfolder(self, node: Node) -> bool:
        """A subfolder of a direct folder while include_subfolders is off (SPEC: ignored and reported)."""
        return (
            self._folders_only_direct
            and node.is_folder
            and node.id not in self._anchors
            and node.parent_id in self._anchors
            and self.contains(node.parent_id)
        )

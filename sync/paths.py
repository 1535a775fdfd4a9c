"""Items by their path in the sync set (`Specs/Drafts/a.txt`), on either side: how people name them.

A node's path is its name after the names of its folders, up to the synced root (included) on-prem, or up to
the destination folder (excluded) in the cloud: the walk stops at the first folder the scan did not see. Both
sides give the same path for a pair in step. Nothing is cached, so a folder renamed during the run names its
children by its new name at once (a walk costs one dictionary lookup per level).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from connectors.base import Node
from vocabulary import SIDES, Side


class NodeLookup(Protocol):
    def __call__(self, side: Side, node_id: str) -> Node | None: ...


class ItemPaths:
    """Display paths of the nodes a run saw or made (see the module docstring)."""

    def __init__(self, lookup: NodeLookup) -> None:
        self._lookup = lookup

    @classmethod
    def of_nodes(cls, nodes: Mapping[Side, Mapping[str, Node]]) -> ItemPaths:
        return cls(lambda side, node_id: nodes[side].get(node_id))

    def path(self, side: Side, node_id: str | None) -> str | None:
        """The node's path, or None when the node was not seen."""
        if node_id is None:
            return None
        node = self._lookup(side, node_id)
        if node is None:
            return None
        return self._join(self.folder(side, node.parent_id), node.name)

    def folder(self, side: Side, folder_id: str | None) -> str:
        """The path of a folder ("" for the folder the synced items sit in, or a folder not seen)."""
        names: list[str] = []
        current = folder_id
        seen: set[str] = set()
        while current is not None and current not in seen:
            node = self._lookup(side, current)
            if node is None:
                break
            seen.add(current)
            names.append(node.name)
            current = node.parent_id
        return "/".join(reversed(names))

    def under(self, side: Side, parent_id: str | None, name: str) -> str:
        """The path a node named `name` would have in `parent_id`."""
        return self._join(self.folder(side, parent_id), name)

    def either(self, ids: Mapping[Side, str | None]) -> str | None:
        """The path of whichever of a pair's nodes was seen, on-prem first."""
        for side in SIDES:
            found = self.path(side, ids.get(side))
            if found is not None:
                return found
        return None

    @staticmethod
    def _join(folder: str, name: str) -> str:
        return f"{folder}/{name}" if folder else name


def below_root(path: str) -> str:
    """The part of an item's path below the synced root folder ("" for the root itself)."""
    return path.partition("/")[2]


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, keeping the end (the item's own name is the useful part)."""
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]

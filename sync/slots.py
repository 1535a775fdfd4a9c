"""Name slots: (side, parent, case-folded name). Shared by the clash check and the ordering.

A parent created by the plan has no id yet, so its slot is named after the member that creates it.
"""

from __future__ import annotations

from collections.abc import Mapping

from sync.model import CREATES, Action, ActionKind, Observation, Ref
from sync.names import name_key
from vocabulary import Side

Slot = tuple[Side, str, str]

VACATES = frozenset({ActionKind.MOVE, ActionKind.RENAME, ActionKind.DELETE})
CLAIMS = CREATES | {ActionKind.MOVE, ActionKind.RENAME}


def parent_slot(ref: Ref) -> str:
    return ref.node_id if ref.node_id is not None else f"new:{ref.member}"


def claim_slot(action: Action) -> Slot | None:
    """The name an action makes a node take, or None."""
    if action.kind not in CLAIMS or action.parent is None or action.name is None:
        return None
    return (action.side, parent_slot(action.parent), name_key(action.name))


def vacate_slot(action: Action, observations: Mapping[Side, Observation]) -> Slot | None:
    """The name an action frees (the node's current place), or None."""
    if action.kind not in VACATES or action.node is None or action.node.node_id is None:
        return None
    node = observations[action.side].nodes.get(action.node.node_id)
    if node is None or node.parent_id is None:
        return None
    return (action.side, node.parent_id, name_key(node.name))


def creator_key(action: Action) -> tuple[str, Side] | None:
    """(member, side) of the node an action creates, so refs with no id can find their creator."""
    if action.kind == ActionKind.CONFLICT_COPY and action.new_member:
        return (action.new_member, action.side)
    if action.kind in (ActionKind.CREATE_FOLDER, ActionKind.UPLOAD):
        return (action.member, action.side)
    return None


def pending_refs(action: Action) -> list[Ref]:
    """References to nodes the plan itself must create first."""
    return [
        r for r in (action.node, action.parent, action.source, action.onprem, action.cloud) if r is not None and r.node_id is None
    ]

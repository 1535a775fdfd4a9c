"""Name clashes inside the plan: never overwrite, never auto-rename (SPEC: TARGET_FOLDER_NAME_CLASH).

A claim clashes when, after the plan, its slot would also hold an unrelated node that stays, or another
claim. Failing a member undoes its moves (its node then keeps its name), so the check runs to a fixpoint.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping

from connectors.base import Node
from sync.model import Action, Observation, Skip
from sync.names import name_key
from sync.paths import ItemPaths
from sync.slots import Slot, claim_slot, creator_key, pending_refs, vacate_slot
from vocabulary import CLOUD, ErrorCode, Side, side_label


def holder_description(side: Side, holder: Node, folder: str) -> str:
    """Which node holds a name, where, and who made it: what a person needs to settle a name clash."""
    where = f"in {folder}" if folder else "in the destination folder" if side == CLOUD else "in the synced folder"
    made = f", made by {holder.created_by}" if holder.created_by else ""
    changed = ""
    if holder.modified_at is not None:
        by = f" by {holder.modified_by}" if holder.modified_by else ""
        changed = f", last modified {holder.modified_at:%Y-%m-%d %H:%M} UTC{by}"
    kind = "folder" if holder.is_folder else "file"
    return f"{side_label(side)} already has a {kind} named {holder.name!r} {where} (node {holder.id}{made}{changed})"


def _find_clashes(
    decisions: dict[str, list[Action]], observations: Mapping[Side, Observation]
) -> tuple[dict[str, str], set[str]]:
    """(members whose claim clashes, with why; members waiting for a node the plan no longer creates)."""
    creators: set[tuple[str, Side]] = set()
    vacating: set[tuple[Side, str]] = set()
    claims: dict[Slot, list[tuple[str, str | None]]] = defaultdict(list)
    for key, actions in decisions.items():
        for a in actions:
            made = creator_key(a)
            if made is not None:
                creators.add(made)
            if vacate_slot(a, observations) is not None and a.node and a.node.node_id:
                vacating.add((a.side, a.node.node_id))
            slot = claim_slot(a)
            if slot is not None:
                claims[slot].append((key, a.node.node_id if a.node else None))
    orphans = {
        key for key, actions in decisions.items() for a in actions for r in pending_refs(a) if (r.member, r.side) not in creators
    }
    wanted = {(s, p) for (s, p, _n) in claims}
    holders: dict[Slot, list[str]] = defaultdict(list)
    for side, obs in observations.items():
        for node in obs.nodes.values():
            if node.parent_id is not None and (side, node.parent_id) in wanted:
                holders[(side, node.parent_id, name_key(node.name))].append(node.id)
    paths = ItemPaths.of_nodes({side: obs.nodes for side, obs in observations.items()})
    clashing: dict[str, str] = {}
    for slot, claimers in claims.items():
        side, parent, _name = slot
        own = {node_id for _k, node_id in claimers if node_id}
        staying = [h for h in holders.get(slot, ()) if h not in own and (side, h) not in vacating]
        if staying:
            holder = observations[side].nodes[staying[0]]
            why = holder_description(side, holder, paths.folder(side, parent))
        elif len({k for k, _n in claimers}) > 1:
            why = f"another item of this run takes the same name in the same {side_label(side)} folder"
        else:
            continue
        for key, _node in claimers:
            clashing.setdefault(key, why)
    return clashing, orphans


def settle_name_clashes(
    decisions: dict[str, list[Action]],
    observations: Mapping[Side, Observation],
    skipped: dict[str, Skip],
    copy_origin: Mapping[str, str],
    mark_failed: Callable[[str, ErrorCode, str], Action],
) -> None:
    """Replace the actions of clashing members by MARK_FAILED; skip members whose parent is not made."""
    while True:
        clashing, orphans = _find_clashes(decisions, observations)
        if not clashing and not orphans:
            return
        for key in sorted(clashing):
            origin = copy_origin.get(key, key)
            decisions.pop(f"conflict:{origin}", None)
            decisions[origin] = [mark_failed(origin, ErrorCode.TARGET_FOLDER_NAME_CLASH, clashing[key])]
        for key in sorted(orphans - clashing.keys()):
            origin = copy_origin.get(key, key)
            decisions.pop(f"conflict:{origin}", None)
            decisions.pop(origin, None)
            skipped[origin] = Skip(origin, "waits for a parent folder this run cannot make")

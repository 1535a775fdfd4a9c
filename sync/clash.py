"""Name clashes inside the plan: never overwrite, never auto-rename (SPEC: TARGET_FOLDER_NAME_CLASH).

A claim clashes when, after the plan, its slot would also hold an unrelated node that stays, or another
claim. Failing a member undoes its moves (its node then keeps its name), so the check runs to a fixpoint.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping

from sync.model import Action, Observation, Skip
from sync.names import name_key
from sync.slots import Slot, claim_slot, creator_key, pending_refs, vacate_slot
from vocabulary import ErrorCode, Side


def _find_clashes(decisions: dict[str, list[Action]], observations: Mapping[Side, Observation]) -> tuple[set[str], set[str]]:
    """(members whose claim clashes, members waiting for a node the plan no longer creates)."""
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
    clashing: set[str] = set()
    for slot, claimers in claims.items():
        own = {node_id for _k, node_id in claimers if node_id}
        staying = [h for h in holders.get(slot, ()) if h not in own and (slot[0], h) not in vacating]
        if staying or len({k for k, _n in claimers}) > 1:
            clashing.update(k for k, _n in claimers)
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
            decisions[origin] = [mark_failed(origin, ErrorCode.TARGET_FOLDER_NAME_CLASH, "the other side already has that name")]
        for key in sorted(orphans - clashing):
            origin = copy_origin.get(key, key)
            decisions.pop(f"conflict:{origin}", None)
            decisions.pop(origin, None)
            skipped[origin] = Skip(origin, "waits for a parent folder this run cannot make")

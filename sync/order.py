"""An order of the plan's actions that always works, whatever order the decisions came in.

Dependencies: a member's own steps in sequence; a node's creation before anything that refers to it
(parents before children); the step that frees a name before the step that takes it; children moved out
or deleted before their folder is deleted. Ties break on (kind rank, member key, position) so the same
input gives the same order. A cycle of names (a swap) is broken by a rename to a temporary name.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping

from sync.model import Action, ActionKind, Observation, Ref
from sync.names import temp_name
from sync.slots import Slot, claim_slot, creator_key, pending_refs, vacate_slot
from vocabulary import Side

RANK = {kind: i for i, kind in enumerate(ActionKind)}


class _Graph:
    __slots__ = ("actions", "indeg", "name_out", "out", "prio")

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.prio: list[tuple[int, str, int]] = []
        self.out: list[set[int]] = []
        self.name_out: list[set[int]] = []
        self.indeg: list[int] = []

    def add(self, action: Action, prio: tuple[int, str, int]) -> int:
        self.actions.append(action)
        self.prio.append(prio)
        self.out.append(set())
        self.name_out.append(set())
        self.indeg.append(0)
        return len(self.actions) - 1

    def edge(self, a: int, b: int, *, name: bool = False) -> None:
        if a == b:
            return
        target = self.name_out[a] if name else self.out[a]
        if b not in target and b not in (self.out[a] if name else self.name_out[a]):
            target.add(b)
            self.indeg[b] += 1


def _build(decisions: Mapping[str, list[Action]], observations: Mapping[Side, Observation]) -> _Graph:
    g = _Graph()
    for key in sorted(decisions):
        previous: int | None = None
        for pos, action in enumerate(decisions[key]):
            i = g.add(action, (RANK[action.kind], key, pos))
            if previous is not None:
                g.edge(previous, i)
            previous = i
    creators: dict[tuple[str, Side], int] = {}
    vacaters: dict[Slot, list[int]] = defaultdict(list)
    vacaters_by_parent: dict[tuple[Side, str], list[int]] = defaultdict(list)
    for i, a in enumerate(g.actions):
        made = creator_key(a)
        if made is not None:
            creators[made] = i
        slot = vacate_slot(a, observations)
        if slot is not None:
            vacaters[slot].append(i)
            vacaters_by_parent[(slot[0], slot[1])].append(i)
    moves = {
        (a.side, a.node.node_id): i
        for i, a in enumerate(g.actions)
        if a.kind == ActionKind.MOVE and a.node is not None and a.node.node_id is not None
    }
    for i, a in enumerate(g.actions):
        if a.kind == ActionKind.MOVE and a.node and a.node.node_id and a.parent and a.parent.node_id:
            _untangle(g, i, a.side, a.node.node_id, a.parent.node_id, moves, observations)
    for i, a in enumerate(g.actions):
        for ref in pending_refs(a):
            c = creators.get((ref.member, ref.side))
            if c is not None:
                g.edge(c, i)
        slot = claim_slot(a)
        if slot is not None:
            for v in vacaters.get(slot, ()):
                g.edge(v, i, name=True)
        if a.kind == ActionKind.DELETE and a.node is not None and a.node.node_id is not None:
            for v in vacaters_by_parent.get((a.side, a.node.node_id), ()):
                g.edge(v, i)
    _inside_before_delete(g, observations)
    return g


def _inside_before_delete(g: _Graph, observations: Mapping[Side, Observation]) -> None:
    """A folder's delete takes its whole subtree to the trashcan, so whatever the plan does to a node inside it
    (move it out, release the sync's lock, rename it aside) happens first, however deep the node lies."""
    deletes = {
        (a.side, a.node.node_id): i
        for i, a in enumerate(g.actions)
        if a.kind == ActionKind.DELETE and a.node is not None and a.node.node_id is not None
    }
    if not deletes:
        return
    for i, a in enumerate(g.actions):
        if a.node is None or a.node.node_id is None or a.kind == ActionKind.DELETE:
            continue
        nodes = observations[a.side].nodes
        node = nodes.get(a.node.node_id)
        parent = node.parent_id if node is not None else None
        seen: set[str] = set()
        while parent is not None and parent not in seen:
            d = deletes.get((a.side, parent))
            if d is not None:
                g.edge(i, d)
            seen.add(parent)
            above = nodes.get(parent)
            parent = above.parent_id if above is not None else None


def _untangle(
    g: _Graph,
    i: int,
    side: Side,
    node_id: str,
    target: str,
    moves: Mapping[tuple[Side, str], int],
    observations: Mapping[Side, Observation],
) -> None:
    """A folder moving under what is now its own descendant waits for the folders between them to leave."""
    nodes = observations[side].nodes
    path: list[str] = []
    current: str | None = target
    while current is not None and current != node_id and len(path) <= len(nodes):
        path.append(current)
        node = nodes.get(current)
        current = node.parent_id if node else None
    if current != node_id:
        return
    for between in path:
        j = moves.get((side, between))
        if j is not None:
            g.edge(j, i)


def _break_cycle(g: _Graph, remaining: set[int], observations: Mapping[Side, Observation]) -> int:
    """Send one stuck move/rename/delete through a temporary name; returns the new action's index.

    A folder deleted while a child moves out of it and takes its name is such a cycle: the folder is
    renamed aside first, then the child moves, then the folder goes to the trashcan (under the temporary
    name)."""
    breakable = (ActionKind.MOVE, ActionKind.RENAME, ActionKind.DELETE)
    candidates = [i for i in remaining if g.actions[i].kind in breakable and g.name_out[i] & remaining]
    if not candidates:
        raise RuntimeError("the plan's dependencies form a cycle that no temporary name can break")
    r = min(candidates, key=lambda i: g.prio[i])
    action = g.actions[r]
    assert action.node is not None and action.node.node_id is not None
    node = observations[action.side].nodes[action.node.node_id]
    tmp = Action(
        ActionKind.RENAME,
        action.side,
        action.member,
        "step aside through a temporary name: another step needs this name first",
        member_id=action.member_id,
        node=action.node,
        parent=Ref(action.side, "", node.parent_id),
        name=temp_name(node.name, action.member),
    )
    t = g.add(tmp, (g.prio[r][0], g.prio[r][1], -1))
    # The temporary rename frees the old name instead of r; r now waits for it.
    for c in g.name_out[r]:
        g.name_out[t].add(c)
    g.name_out[r].clear()
    g.edge(t, r)
    return t


def order_actions(
    decisions: Mapping[str, list[Action]],
    observations: Mapping[Side, Observation],
) -> tuple[list[Action], list[tuple[int, ...]]]:
    """Topological order (Kahn) with a deterministic priority among the ready actions, and each action's
    dependencies as positions in that order (always earlier ones).

    The dependencies are what the executor waits for, and all it waits for: an action may run as soon as
    they are done, beside any other action whose dependencies are done. A rename therefore waits only for
    the steps that free its name in its own folder, not for every earlier name change of the sync set.
    """
    g = _build(decisions, observations)
    heap = [(g.prio[i], i) for i in range(len(g.actions)) if g.indeg[i] == 0]
    heapq.heapify(heap)
    remaining = set(range(len(g.actions)))
    order: list[int] = []
    while remaining:
        if not heap:
            t = _break_cycle(g, remaining, observations)
            remaining.add(t)
            heapq.heappush(heap, (g.prio[t], t))
            continue
        _p, i = heapq.heappop(heap)
        remaining.discard(i)
        order.append(i)
        for j in (*g.out[i], *g.name_out[i]):
            g.indeg[j] -= 1
            if g.indeg[j] == 0:
                heapq.heappush(heap, (g.prio[j], j))
    position = {node: pos for pos, node in enumerate(order)}
    waits: list[list[int]] = [[] for _ in order]
    for i in order:
        for j in (*g.out[i], *g.name_out[i]):
            waits[position[j]].append(position[i])
    return [g.actions[i] for i in order], [tuple(sorted(set(w))) for w in waits]

"""The reconciliation rules of SPEC.md "How changes travel", member by member (Unison's recon.ml).

`plan()` is the entry point. It decides each member from the two side views (see `sync.detect`), then
runs the whole-plan passes: parents that must exist, the delete guard, name clashes, and ordering.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import partial

from connectors.base import Node
from sync.clash import settle_name_clashes
from sync.detect import Content, Presence, SideView, view_side
from sync.digest import fingerprint
from sync.guard import apply_delete_guard
from sync.model import (
    CLOUD,
    ONPREM,
    OUTSIDE_KEY,
    SIDES,
    TARGET_KEY,
    Action,
    ActionKind,
    BaseRecord,
    Conflict,
    Ignored,
    Observation,
    Options,
    Plan,
    Ref,
    Skip,
    new_key,
    other,
)
from sync.names import free_conflict_name, name_key
from sync.order import order_actions
from sync.tree import SideTree
from vocabulary import ConflictPolicy, ErrorCode, MemberStatus, Side, parse_new_key

K = ActionKind


class _Planner:
    """Holds the indexes of one planning run; `run()` produces the plan."""

    def __init__(
        self,
        records: Sequence[BaseRecord],
        observations: dict[Side, Observation],
        target_folder_id: str,
        options: Options,
        now: datetime,
        scope: int | None,
        member_count: int | None = None,
    ) -> None:
        self.records = sorted(records, key=lambda r: r.member_id)
        self.member_count = len(self.records) if member_count is None else member_count
        """All members of the sync set (an incremental run plans from the changed ones only)."""
        self.obs = observations
        self.target = target_folder_id
        self.options = options
        self.now = now
        self.by_id: dict[Side, dict[str, BaseRecord]] = {ONPREM: {}, CLOUD: {}}
        self.by_key: dict[str, BaseRecord] = {}
        anchors: dict[Side, set[str]] = {ONPREM: set(), CLOUD: set()}
        for rec in self.records:
            self.by_key[rec.key] = rec
            for side in SIDES:
                b = rec.base(side)
                if b is not None:
                    self.by_id[side][b.node_id] = rec
                    if rec.direct:
                        anchors[side].add(b.node_id)
        self.trees = {
            ONPREM: SideTree(ONPREM, observations[ONPREM].nodes, frozenset(anchors[ONPREM]), None, options.include_subfolders),
            CLOUD: SideTree(
                CLOUD,
                observations[CLOUD].nodes,
                frozenset(anchors[CLOUD]),
                target_folder_id,
                options.include_subfolders,
            ),
        }
        self.decisions: dict[str, list[Action]] = {}
        self.skipped: dict[str, Skip] = {}
        self.conflicts: list[Conflict] = []
        self.ignored: list[Ignored] = []
        self.needs: list[tuple[str, Side]] = []
        self.copy_origin: dict[str, str] = {}
        self._names_in: dict[tuple[Side, str], set[str]] | None = None
        """Name keys by (side, folder id): built on the first keep-both copy, then grown by each copy named."""
        self.scope_key: str | None = None
        self.scope_members: set[str] = set()
        self.scope_nodes: dict[Side, set[str]] = {ONPREM: set(), CLOUD: set()}
        if scope is not None:
            self._compute_scope(scope)

    # ----------------------------------------------------------------- views and scope
    def view(self, rec: BaseRecord) -> tuple[SideView, SideView]:
        """Both sides' views; recomputed when asked again (cheap) so 100k members keep no view alive."""
        op, cl = (
            view_side(
                rec.base(side),
                self.obs[side],
                self.trees[side],
                is_folder=rec.is_folder,
                track_parent=not rec.direct,
                listing_covers=partial(self.listing_covers, side),
            )
            for side in SIDES
        )
        return op, cl

    def listing_covers(self, side: Side, parent_id: str | None) -> bool:
        """Would the scan have seen a node whose base parent is `parent_id`, if it were still there?

        Yes when that folder was listed completely, or when the folder itself is known to be gone (its
        own base parent was listed and did not show it). A folder seen but not listed, or a chain that
        leaves what we know, means "unknown": an unseen child must never look deleted.
        """
        obs, seen = self.obs[side], set()
        while parent_id is not None and parent_id not in seen:
            if parent_id in obs.listed:
                return True
            if parent_id in obs.nodes:
                return False
            seen.add(parent_id)
            rec = self.by_id[side].get(parent_id)
            base = rec.base(side) if rec else None
            if base is None:
                return False
            parent_id = base.parent_id
        return False

    def _descends(self, side: Side, node_id: str | None, root: str) -> bool:
        """Is `node_id` at or below `root` on `side`, by its current parent or else its base parent?"""
        seen: set[str] = set()
        nodes = self.obs[side].nodes
        while node_id is not None and node_id not in seen:
            if node_id == root:
                return True
            seen.add(node_id)
            node = nodes.get(node_id)
            if node is not None:
                node_id = node.parent_id
                continue
            rec = self.by_id[side].get(node_id)
            b = rec.base(side) if rec else None
            node_id = b.parent_id if b else None
        return False

    def _compute_scope(self, member_id: int) -> None:
        root = next((r for r in self.records if r.member_id == member_id), None)
        if root is None:
            raise ValueError(f"member {member_id} is not in this sync set")
        self.scope_key = root.key
        for rec in self.records:
            for side in SIDES:
                rb, b = root.base(side), rec.base(side)
                if rb and b and self._descends(side, b.node_id, rb.node_id):
                    self.scope_members.add(rec.key)
        for side in SIDES:
            rb = root.base(side)
            if rb is None:
                continue
            for node_id in self.obs[side].nodes:
                if self._descends(side, node_id, rb.node_id):
                    self.scope_nodes[side].add(node_id)

    def in_scope_member(self, rec: BaseRecord) -> bool:
        return self.scope_key is None or rec.key in self.scope_members

    # ----------------------------------------------------------------- references
    def ref_existing(self, side: Side, node_id: str) -> Ref:
        """A reference to a node that exists now, named by the member (or pseudo-member) it belongs to."""
        rec = self.by_id[side].get(node_id)
        if rec is not None:
            return Ref(side, rec.key, node_id)
        if side == CLOUD and node_id == self.target:
            return Ref(side, TARGET_KEY, node_id)
        node = self.obs[side].nodes.get(node_id)
        if node is not None and self.trees[side].contains(node_id):
            return Ref(side, new_key(side, node_id), node_id)
        return Ref(side, OUTSIDE_KEY, node_id)

    def node_on(self, rec: BaseRecord, side: Side, *, register: bool = True) -> Ref:
        """The member's node on `side`; registers a need when the plan must (re-)create it there."""
        v = self.view(rec)[SIDES.index(side)]
        b = rec.base(side)
        if v.presence in (Presence.PRESENT, Presence.UNKNOWN) and b is not None:
            return Ref(side, rec.key, b.node_id)
        if register:
            self.needs.append((rec.key, side))
        return Ref(side, rec.key, None)

    def paired_parent(self, src: Side, node: Node, rec: BaseRecord | None, *, register: bool = True) -> Ref | None:
        """Where the copy of `node` (seen on `src`) belongs on the other side."""
        dst = other(src)
        if rec is not None and rec.direct:
            if dst == CLOUD:
                return Ref(CLOUD, TARGET_KEY, self.target)
            base = rec.base(ONPREM)
            return Ref(ONPREM, OUTSIDE_KEY, base.parent_id) if base and base.parent_id else None
        parent_id = node.parent_id
        if parent_id is None:
            return None
        parent_rec = self.by_id[src].get(parent_id)
        if parent_rec is not None:
            return self.node_on(parent_rec, dst, register=register)
        return Ref(dst, new_key(src, parent_id), None)

    # ----------------------------------------------------------------- building blocks
    def _act(self, kind: ActionKind, side: Side, key: str, reason: str, **fields: object) -> Action:
        rec = self.by_key.get(key)
        return Action(kind, side, key, reason, member_id=rec.member_id if rec else None, **fields)  # type: ignore[arg-type]

    def _record_base(self, key: str, onprem: Ref, cloud: Ref, is_folder: bool, direct: bool) -> Action:
        return self._act(
            K.RECORD_BASE,
            ONPREM,
            key,
            "record the new base",
            onprem=onprem,
            cloud=cloud,
            is_folder=is_folder,
            direct=direct,
        )

    def _wants_lock(self, is_folder: bool, rec: BaseRecord | None, node: Node | None) -> bool:
        if not self.options.lock_on_premise or is_folder:
            return False
        return not (rec is not None and rec.locked_by_sync and node is not None and node.is_locked)

    def create_on(self, key: str, dst: Side, src_node: Node, rec: BaseRecord | None, reason: str) -> list[Action] | None:
        """Copy `src_node` to `dst` as a new node: a new member, or a re-created copy of a member."""
        src = other(dst)
        parent = self.paired_parent(src, src_node, rec)
        if parent is None:
            return None
        source = Ref(src, key, src_node.id)
        made = Ref(dst, key, None)
        kind = K.CREATE_FOLDER if src_node.is_folder else K.UPLOAD
        actions = [
            self._act(
                kind,
                dst,
                key,
                reason,
                parent=parent,
                name=src_node.name,
                source=source,
                metadata=src_node.metadata,
                is_folder=src_node.is_folder,
            )
        ]
        pair = {src: source, dst: made}
        direct = rec.direct if rec else False
        actions.append(self._record_base(key, pair[ONPREM], pair[CLOUD], src_node.is_folder, direct))
        onprem_node = src_node if src == ONPREM else None
        if self._wants_lock(src_node.is_folder, rec if src == ONPREM else None, onprem_node):
            actions.append(self._act(K.LOCK, ONPREM, key, "lock_on_premise: lock the on-prem file", node=pair[ONPREM]))
        return actions

    def delete_on(self, rec: BaseRecord, side: Side, node: Node, reason: str) -> list[Action]:
        actions: list[Action] = []
        ref = Ref(side, rec.key, node.id)
        if side == ONPREM and rec.locked_by_sync and node.is_locked:
            actions.append(self._act(K.UNLOCK, side, rec.key, "release the sync's lock before deleting", node=ref))
        actions.append(self._act(K.DELETE, side, rec.key, reason, node=ref, parent=self.ref_existing(side, node.parent_id or "")))
        actions.append(self._act(K.DROP_MEMBER, side, rec.key, "the pair no longer exists"))
        return actions

    def mark_failed(self, key: str, code: ErrorCode, reason: str) -> Action:
        rec = self.by_key.get(key)
        refs: dict[Side, Ref | None] = {ONPREM: None, CLOUD: None}
        if rec is not None:
            for side in SIDES:
                b = rec.base(side)
                refs[side] = Ref(side, key, b.node_id) if b else None
        else:
            new = parse_new_key(key)
            if new is not None:
                refs[new[0]] = Ref(new[0], key, new[1])
        return self._act(K.MARK_FAILED, ONPREM, key, reason, error_code=code, onprem=refs[ONPREM], cloud=refs[CLOUD])

    # ----------------------------------------------------------------- per member
    def _waiting_after_failure(self, rec: BaseRecord, op: SideView, cl: SideView) -> bool:
        if rec.status != MemberStatus.FAILED or rec.requested or self.scope_key is not None:
            return False
        if rec.failed_fingerprint is not None:
            return fingerprint(op.node, cl.node) == rec.failed_fingerprint
        if rec.error_at is None:
            return False
        return not any(
            v.node is not None and v.node.modified_at is not None and v.node.modified_at > rec.error_at for v in (op, cl)
        )

    def decide(self, rec: BaseRecord) -> list[Action] | None:
        op, cl = self.view(rec)
        key = rec.key
        if Presence.UNKNOWN in (op.presence, cl.presence):
            self.skipped[key] = Skip(key, "a folder on the way was not fully listed; nothing is assumed")
            return None
        if self._waiting_after_failure(rec, op, cl):
            code = rec.error_code.value if rec.error_code else "failed"
            self.skipped[key] = Skip(key, f"failed ({code}); waits for a change or Request Sync", parked=True)
            return None
        views = {ONPREM: op, CLOUD: cl}
        alive = [s for s in SIDES if views[s].present]
        if not alive:
            return [self._act(K.DROP_MEMBER, ONPREM, key, "deleted on both sides (or never made)")]
        if len(alive) == 1:
            return self._decide_one_sided(rec, alive[0], views)
        return self._decide_both(rec, op, cl)

    def _decide_one_sided(self, rec: BaseRecord, alive: Side, views: dict[Side, SideView]) -> list[Action] | None:
        key, dead = rec.key, other(alive)
        here, there = views[alive], views[dead]
        node = here.node
        assert node is not None
        if there.presence is Presence.NONE:
            return self.create_on(key, dead, node, rec, f"not yet on {dead}: create it")
        forced = rec.requested or self.scope_key is not None
        if here.changed:
            return self.create_on(key, dead, node, rec, f"changed on {alive} since deleted on {dead}: the change wins")
        if alive == CLOUD:
            return self.delete_on(rec, CLOUD, node, "deleted on-prem: delete the cloud copy (to the trashcan)")
        if forced:
            return self.create_on(key, CLOUD, node, rec, "Request Sync re-creates the deleted cloud copy")
        if not self.options.allow_cloud_delete:
            return self.create_on(key, CLOUD, node, rec, "allow_cloud_delete is off: restore the cloud copy")
        if self.options.delete_on_premise:
            return self.delete_on(rec, ONPREM, node, "deleted in the cloud and delete_on_premise: delete on-prem")
        return [self.mark_failed(key, ErrorCode.TARGET_NODE_NO_LONGER_EXISTS, "no longer exists in the cloud; on-prem copy kept")]

    def _winner(self, op: Node, cl: Node) -> Side:
        policy = self.options.conflict_policy
        if policy == ConflictPolicy.ONPREM_WINS:
            return ONPREM
        if policy == ConflictPolicy.NEWER_WINS and op.modified_at and cl.modified_at and op.modified_at > cl.modified_at:
            return ONPREM
        return CLOUD

    def _same_place(self, op: Node, cl: Node, rec: BaseRecord) -> bool:
        ref = self.paired_parent(ONPREM, op, rec, register=False)
        return ref is not None and ref.node_id is not None and ref.node_id == cl.parent_id

    def _content_direction(self, rec: BaseRecord, op: SideView, cl: SideView) -> str | tuple[Side, ...]:
        """ "" nothing, "same", "conflict", ONPREM/CLOUD (the side whose content travels), or sides to hash."""
        oc, cc = op.content, cl.content
        hashes = op.sha256 is not None and cl.sha256 is not None
        if oc is Content.NO and cc is Content.NO:
            return ""
        if cc is Content.NO or oc is Content.NO:
            side = ONPREM if cc is Content.NO else CLOUD
            if (oc if side == ONPREM else cc) is Content.YES:
                return side
            if hashes:
                return "same" if op.sha256 == cl.sha256 else side
            base = rec.base(side)
            return (side,) if base is not None and base.sha256 is not None else SIDES
        if hashes:
            return "same" if op.sha256 == cl.sha256 else "conflict"
        assert op.node is not None and cl.node is not None
        if oc is Content.YES and cc is Content.YES and op.node.size != cl.node.size:
            return "conflict"
        return SIDES

    def _decide_both(self, rec: BaseRecord, op: SideView, cl: SideView) -> list[Action] | None:
        key = rec.key
        assert op.node is not None and cl.node is not None
        quiet = not (op.changed or cl.changed or op.stale or cl.stale or rec.requested)
        if quiet and rec.status == MemberStatus.SYNCED and not self._wants_lock(rec.is_folder, rec, op.node):
            return None  # the common case: nothing moved since the base
        nodes = {ONPREM: op.node, CLOUD: cl.node}
        content = self._content_direction(rec, op, cl)
        if isinstance(content, tuple):
            return [
                self._act(
                    K.COMPARE,
                    ONPREM,
                    key,
                    "sizes match but version/modifiedAt moved: hash to tell a change from a touch",
                    onprem=Ref(ONPREM, key, op.node.id),
                    cloud=Ref(CLOUD, key, cl.node.id),
                    hash_sides=content,
                )
            ]
        # direction per aspect: the side whose value travels, "" for nothing.
        direction: dict[str, str] = {"content": content if content in SIDES else ""}
        conflicting: list[str] = ["content"] if content == "conflict" else []
        same_content = content == "same"

        def settle(aspect: str, o: bool, c: bool, same: bool) -> None:
            if o and c and not same:
                conflicting.append(aspect)
            direction[aspect] = ONPREM if o and not c else CLOUD if c and not o else ""

        settle("metadata", op.meta, cl.meta, op.meta and cl.meta and op.node.metadata == cl.node.metadata)
        settle("name", op.renamed, cl.renamed, op.node.name == cl.node.name)
        settle("location", op.moved, cl.moved, op.moved and cl.moved and self._same_place(op.node, cl.node, rec))
        winner: Side | None = None
        loser_copy: str | None = None
        if conflicting:
            winner = self._winner(op.node, cl.node)
            for aspect in conflicting:
                direction[aspect] = winner
            keep_both = self.options.conflict_policy == ConflictPolicy.KEEP_BOTH and "content" in conflicting
            if keep_both:
                loser_copy = self._conflict_copy_name(rec, other(winner), nodes[other(winner)])
            self.conflicts.append(
                Conflict(key, tuple(conflicting), self.options.conflict_policy, winner, loser_copy or "version")
            )
        actions: list[Action] = []
        for dst in SIDES:
            src = other(dst)
            copy = loser_copy if winner == src else None
            actions.extend(self._bring(rec, dst, nodes, direction, src, copy, conflicting))
        anything = any(direction.values()) or same_content or op.changed or cl.changed or op.stale or cl.stale
        if anything or rec.status != MemberStatus.SYNCED or rec.requested:
            actions.append(
                self._record_base(key, Ref(ONPREM, key, op.node.id), Ref(CLOUD, key, cl.node.id), rec.is_folder, rec.direct)
            )
        if self._wants_lock(rec.is_folder, rec, op.node):
            actions.append(
                self._act(K.LOCK, ONPREM, key, "lock_on_premise: lock the on-prem file", node=Ref(ONPREM, key, op.node.id))
            )
        return actions

    def _bring(
        self,
        rec: BaseRecord,
        dst: Side,
        nodes: dict[Side, Node],
        direction: dict[str, str],
        src: Side,
        copy_name: str | None,
        conflicting: list[str],
    ) -> list[Action]:
        """The actions that bring `dst`'s node to `src`'s values for every aspect travelling that way."""
        key, here, there = rec.key, nodes[dst], nodes[src]
        node = Ref(dst, key, here.id)
        out: list[Action] = []
        renamed = direction["name"] == src
        if direction["location"] == src:
            parent = self.paired_parent(src, there, rec)
            if parent is not None:
                name = there.name if renamed else here.name
                out.append(self._act(K.MOVE, dst, key, f"moved on {src}: move here too", node=node, parent=parent, name=name))
                renamed = False
        if renamed:
            parent = self.ref_existing(dst, here.parent_id or "")
            out.append(self._act(K.RENAME, dst, key, f"renamed on {src}", node=node, parent=parent, name=there.name))
        if direction["content"] == src:
            if copy_name is not None:
                copy_key = f"conflict:{key}"
                self.copy_origin[copy_key] = key
                out.append(
                    self._act(
                        K.CONFLICT_COPY,
                        dst,
                        key,
                        f"keep-both: keep the {dst} bytes beside the winner",
                        node=node,
                        parent=self.ref_existing(dst, here.parent_id or ""),
                        name=copy_name,
                        new_member=copy_key,
                        is_folder=False,
                    )
                )
                self.decisions[copy_key] = self._copy_to_winner(rec, copy_key, copy_name, dst, here)
            if here.is_versionable is not True:
                out.append(self._act(K.ENSURE_VERSIONABLE, dst, key, "keep the bytes about to be overwritten", node=node))
            why = f"conflict settled: {src} wins" if "content" in conflicting else f"content changed on {src}"
            out.append(self._act(K.UPDATE_CONTENT, dst, key, why, node=node, source=Ref(src, key, there.id)))
        if direction["metadata"] == src:
            out.append(
                self._act(
                    K.UPDATE_METADATA,
                    dst,
                    key,
                    f"title/description/author changed on {src}",
                    node=node,
                    source=Ref(src, key, there.id),
                    metadata=there.metadata,
                )
            )
        return out

    def _conflict_copy_name(self, rec: BaseRecord, loser: Side, loser_node: Node) -> str:
        """A keep-both copy name free in both folders the copy goes to: beside the loser's node, and in the
        paired folder on the winner's side. A second conflict of the same file in the same second (or a
        user's file of that name) would otherwise fail the member as a name clash until Request Sync."""
        if self._names_in is None:
            self._names_in = {}
            for side in SIDES:
                for node in self.obs[side].nodes.values():
                    if node.parent_id is not None:
                        self._names_in.setdefault((side, node.parent_id), set()).add(name_key(node.name))
        names = self._names_in
        folders: list[tuple[Side, str]] = []
        if loser_node.parent_id is not None:
            folders.append((loser, loser_node.parent_id))
        paired = self.paired_parent(loser, loser_node, rec, register=False)
        if paired is not None and paired.node_id is not None:
            folders.append((other(loser), paired.node_id))
        chosen = free_conflict_name(
            loser_node.name, loser, self.now, lambda key: any(key in names.get(folder, ()) for folder in folders)
        )
        for folder in folders:
            names.setdefault(folder, set()).add(name_key(chosen))
        return chosen

    def _copy_to_winner(self, rec: BaseRecord, copy_key: str, name: str, loser: Side, loser_node: Node) -> list[Action]:
        """The copy sits beside the loser's node; its twin goes to the paired folder on the winner's side."""
        winner = other(loser)
        made_loser = Ref(loser, copy_key, None)
        made_winner = Ref(winner, copy_key, None)
        parent = self.paired_parent(loser, loser_node, rec)
        if parent is None:
            return []
        actions = [
            self._act(
                K.UPLOAD,
                winner,
                copy_key,
                "keep-both: the conflict copy goes to both sides",
                parent=parent,
                name=name,
                source=made_loser,
                is_folder=False,
            ),
        ]
        pair = {loser: made_loser, winner: made_winner}
        actions.append(self._record_base(copy_key, pair[ONPREM], pair[CLOUD], False, rec.direct))
        if self.options.lock_on_premise:
            actions.append(self._act(K.LOCK, ONPREM, copy_key, "lock_on_premise: lock the on-prem file", node=pair[ONPREM]))
        return actions

    # ----------------------------------------------------------------- new nodes
    def new_nodes(self) -> None:
        for side in SIDES:
            tree, known = self.trees[side], self.by_id[side]
            for node_id in sorted(self.obs[side].nodes):
                node = self.obs[side].nodes[node_id]
                if node_id in known:
                    continue
                if tree.is_ignored_subfolder(node):
                    self.ignored.append(Ignored(side, node_id, node.name, "subfolder ignored: include_subfolders is off"))
                    continue
                if not tree.contains(node_id):
                    continue
                if self.scope_key is not None and node_id not in self.scope_nodes[side]:
                    continue
                key = new_key(side, node_id)
                actions = self.create_on(key, other(side), node, None, f"new on {side}: create on {other(side)}")
                if actions is not None:
                    self.decisions[key] = actions

    # ----------------------------------------------------------------- passes
    def materialise_needs(self) -> None:
        """A change or a new child inside a folder deleted on one side re-creates that folder there:
        the change wins over the delete, for the folders on its way too."""
        while self.needs:
            key, side = self.needs.pop()
            actions = self.decisions.get(key)
            if actions and any(a.kind in (K.CREATE_FOLDER, K.UPLOAD) and a.side == side for a in actions):
                continue
            rec = self.by_key.get(key)
            if rec is None:
                continue
            src = other(side)
            src_view = self.view(rec)[SIDES.index(src)]
            if src_view.node is None:
                continue
            waiting = self.skipped.get(key)
            if waiting is not None and rec.error_code != ErrorCode.TARGET_NODE_NO_LONGER_EXISTS:
                continue  # failed and waiting: whatever needs it waits too (no retry loop)
            self.skipped.pop(key, None)
            made = self.create_on(key, side, src_view.node, rec, f"needed on {side} by changed content inside it")
            if made is not None:
                self.decisions[key] = made

    def refuse_crossed_moves(self) -> None:
        """Folder A moved into B on one side while B moved into A on the other: either move alone is
        fine, together they would put a folder inside itself (Alfresco refuses). No rule can pick a tree
        shape for the user, so both members wait, reported, until one side is moved back."""
        while True:
            moves: dict[tuple[Side, str], str] = {}
            for actions in self.decisions.values():
                for a in actions:
                    if a.kind == K.MOVE and a.node and a.node.node_id and a.parent and a.parent.node_id:
                        moves[(a.side, a.node.node_id)] = a.parent.node_id
            crossed: set[str] = set()
            for key, actions in self.decisions.items():
                for a in actions:
                    if a.kind != K.MOVE or not (a.node and a.node.node_id and a.parent):
                        continue
                    current, seen = a.parent.node_id, set()
                    while current is not None and current not in seen:
                        if current == a.node.node_id:
                            crossed.add(key)
                            break
                        seen.add(current)
                        node = self.obs[a.side].nodes.get(current)
                        current = moves.get((a.side, current), node.parent_id if node else None)
            if not crossed:
                return
            for key in sorted(crossed):
                del self.decisions[key]
                self.skipped[key] = Skip(key, "crossed folder moves would put a folder inside itself: move one back")

    def keep_folders_with_staying_content(self) -> None:
        """Never delete a folder that still holds something the plan does not delete or move out (a
        failed or unsynced node): deleting the folder would take that node to the trashcan unasked."""
        while True:
            doomed: dict[tuple[Side, str], str] = {}
            leaving: set[tuple[Side, str]] = set()
            for key, actions in self.decisions.items():
                for a in actions:
                    if a.node is None or a.node.node_id is None:
                        continue
                    if a.kind == K.DELETE:
                        leaving.add((a.side, a.node.node_id))
                        node = self.obs[a.side].nodes.get(a.node.node_id)
                        if node is not None and node.is_folder:
                            doomed[(a.side, node.id)] = key
                    elif a.kind == K.MOVE:
                        leaving.add((a.side, a.node.node_id))
            if not doomed:
                return
            blocked: dict[str, str] = {}
            for side in SIDES:
                for node in self.obs[side].nodes.values():
                    folder = (side, node.parent_id or "")
                    if folder in doomed and (side, node.id) not in leaving:
                        blocked.setdefault(doomed[folder], node.name)
            if not blocked:
                return
            for key, child in sorted(blocked.items()):
                del self.decisions[key]
                self.skipped[key] = Skip(key, f"folder kept: it still holds {child!r}, which is not synced")

    def delete_folders_whole(self) -> None:
        """A folder deleted (or moved out) on one side is deleted on the other as one node: its subtree goes to
        the trashcan with it and comes back with it when someone restores the folder (SPEC: one delete per
        folder), so the deletes of what lies inside it are dropped. The members inside still drop their rows
        and release their locks first (`sync.order` makes the folder's delete wait for those)."""
        doomed: set[tuple[Side, str]] = set()
        for actions in self.decisions.values():
            for a in actions:
                if a.kind is K.DELETE and a.node is not None and a.node.node_id is not None:
                    doomed.add((a.side, a.node.node_id))
        if not doomed:
            return
        for key, actions in list(self.decisions.items()):
            kept = [a for a in actions if not (a.kind is K.DELETE and self._inside_doomed(a, doomed))]
            if len(kept) != len(actions):
                self.decisions[key] = kept

    def _inside_doomed(self, action: Action, doomed: set[tuple[Side, str]]) -> bool:
        assert action.node is not None and action.node.node_id is not None
        nodes = self.obs[action.side].nodes
        node = nodes.get(action.node.node_id)
        seen: set[str] = set()
        parent = node.parent_id if node is not None else None
        while parent is not None and parent not in seen:
            if (action.side, parent) in doomed:
                return True
            seen.add(parent)
            above = nodes.get(parent)
            parent = above.parent_id if above is not None else None
        return False

    def run(self) -> Plan:
        for rec in self.records:
            if not self.in_scope_member(rec):
                continue
            actions = self.decide(rec)
            if actions:
                self.decisions[rec.key] = actions
        self.new_nodes()
        self.materialise_needs()
        self.refuse_crossed_moves()
        self.keep_folders_with_staying_content()
        guard = apply_delete_guard(self.decisions, self.skipped, self.member_count, self.options)
        settle_name_clashes(self.decisions, self.obs, self.skipped, self.copy_origin, self.mark_failed)
        self.delete_folders_whole()
        actions, depends_on = order_actions(self.decisions, self.obs)
        fps: dict[str, str] = {}
        for key in sorted(self.decisions):
            member = self.by_key.get(key)
            new = parse_new_key(key)
            if member is not None:
                op, cl = self.view(member)
                fps[key] = fingerprint(op.node, cl.node)
            elif new is not None:
                node = self.obs[new[0]].nodes.get(new[1])
                fps[key] = fingerprint(node, None) if new[0] == ONPREM else fingerprint(None, node)
        return Plan(
            actions=actions,
            depends_on=depends_on,
            conflicts=sorted(self.conflicts, key=lambda c: c.member),
            skipped=sorted(self.skipped.values(), key=lambda s: s.member),
            ignored=sorted(self.ignored, key=lambda i: (i.side, i.node_id)),
            guard=guard,
            fingerprints=fps,
        )


def plan(
    records: Iterable[BaseRecord],
    onprem: Observation,
    cloud: Observation,
    *,
    target_folder_id: str,
    options: Options,
    now: datetime,
    scope: int | None = None,
    member_count: int | None = None,
) -> Plan:
    """Plan one reconcile of one sync set. Pure: the same inputs give the same plan.

    `scope` (a member id) restricts the plan to that member's subtree, clears its "failed, waiting" state
    and re-creates a deleted cloud copy (Request Sync). `now` stamps keep-both conflict copies.
    `member_count`: how many members the sync set has when `records` holds only some of them (an incremental
    run plans from the members its change detection found), for the mass-delete guard's share.
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()  # planning allocates many small acyclic objects; collections would make it superlinear
    try:
        return _Planner(list(records), {ONPREM: onprem, CLOUD: cloud}, target_folder_id, options, now, scope, member_count).run()
    finally:
        if gc_was_enabled:
            gc.enable()

"""The member state of one run: read once at its start, written member by member as each action ends.

Every write goes through `models.writer.StateWriter` (group commits off the event loop), with one rule
that makes a killed run safe to resume: the intent of a side-effecting call is committed before the call is
sent (`intend`); everything after a call (the node made, the base, a failure) is posted and committed in
the next group. A run killed before that commit leaves the intent, which the next run's recovery resolves
exactly as if the run had been killed during the call (`flows.recovery`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.base import Node
from connectors.errors import RepositoryError, TechnicalReport
from models import store
from models.store import MemberRow
from models.tables import Member, SyncSet, utcnow
from models.writer import StateWriter
from sync.convert import base_from_member
from sync.digest import metadata_digest
from sync.model import Action, ActionKind, BaseRecord
from sync.paths import ItemPaths, below_root
from tasks.transfer import RunContext, UnresolvedRef
from vocabulary import CLOUD, ONPREM, ErrorCode, Intent, MemberKind, MemberStatus, Side, member_id_of

K = ActionKind
PREFIX = {ONPREM: "op", CLOUD: "cl"}
CLEAR_INTENT: dict[str, Any] = {"intent": None, "intent_at": None}


# ---------------------------------------------------------------------------------------------- columns
def base_fields(side: Side, node: Node, sha256: str | None) -> dict[str, Any]:
    """The base columns of one side from a node as the repository last reported it."""
    prefix = PREFIX[side]
    return {
        f"{side}_id": node.id,
        f"{prefix}_name": node.name,
        f"{prefix}_parent_id": node.parent_id,
        f"{prefix}_size": node.size,
        f"{prefix}_modified_at": node.modified_at,
        f"{prefix}_version": node.version_label,
        f"{prefix}_sha256": sha256,
        f"{prefix}_meta": metadata_digest(node.metadata),
    }


def synced_fields(run_id: str | None, now: datetime | None = None) -> dict[str, Any]:
    moment = now or utcnow()
    return {
        "status": MemberStatus.SYNCED.value,
        "error_code": None,
        "error_report": None,
        "error_at": None,
        "failed_fingerprint": None,
        "requested": False,
        "intent": None,
        "intent_at": None,
        "last_synced_at": moment,
        "last_attempt_at": moment,
        "last_run_id": run_id,
    }


def failure_fields(
    code: ErrorCode,
    report: TechnicalReport | dict[str, Any],
    run_id: str | None,
    fingerprint: str | None,
    *,
    action: str | None = None,
    side: Side | None = None,
) -> dict[str, Any]:
    details = report.to_dict() if isinstance(report, TechnicalReport) else dict(report)
    if action:
        details["action"] = action
    if side:
        details["side"] = side
    details["run"] = run_id
    now = utcnow()
    return {
        "status": (MemberStatus.TEMPORARY_ERROR if code.is_temporary else MemberStatus.FAILED).value,
        "error_code": code.value,
        "error_report": details,
        "error_at": now,
        "last_attempt_at": now,
        "last_run_id": run_id,
        "failed_fingerprint": fingerprint,
        "requested": False,
        **CLEAR_INTENT,
    }


def error_side(exc: RepositoryError, default: Side) -> Side:
    """Which repository raised: content copies tag errors of the source stream with its side."""
    return getattr(exc, "side", None) or default


def member_path(row: Any, root_name: str | None) -> str:
    """How people name a member: its path in the sync set (`Specs/Drafts/a.txt`), from its row.

    `rel_path` is the path below the synced root folder ("" for a direct member, named by its own name)."""
    own = row.op_name or row.cl_name or row.onprem_id or row.cloud_id or "?"
    if not row.rel_path:
        return str(own)
    return f"{root_name}/{row.rel_path}" if root_name else str(row.rel_path)


# ---------------------------------------------------------------------------------------------- one run
class MemberState:
    """The members of one run's sync set: the records planned from, the rows made, the writes in flight."""

    def __init__(self, database_url: str, sync_set: SyncSet, run_id: str) -> None:
        self.db = database_url
        self.sync_set = sync_set
        self.run_id = run_id
        self.writer = StateWriter(database_url)
        self.paths = ItemPaths(lambda side, node_id: None)
        """The items' paths in the sync set (the run sets it once it has scanned), for new members' `rel_path`."""
        self.bases: dict[int, BaseRecord] = {}
        """Each member's base as planned from, by member id (known hashes of unchanged content)."""
        self._made: dict[str, int] = {}
        """Members made by this run, by the planner's key; members planned from are found by their key."""
        self._dropped: set[str] = set()
        self._in_flight: dict[int, Intent] = {}
        self._record_follows: set[str] = set()
        """Members whose RECORD_BASE is in this run's plan (it clears their intent with the base)."""
        self._deferred_clear: set[int] = set()
        """Members whose intent clear was left to their RECORD_BASE and that have not reached it yet."""

    @property
    def sync_set_id(self) -> int:
        assert self.sync_set.id is not None
        return self.sync_set.id

    # -------------------------------------------------------------------------------------- reading
    def load(self) -> tuple[list[BaseRecord], list[MemberRow]]:
        """Every member as the planner's record, streamed from the database; and the direct members' rows.

        Rows become records as they arrive and are not kept: at 100k members a list of rows beside the list
        of records was a third of a run's peak memory. `shared` makes equal strings one object.
        """
        records: list[BaseRecord] = []
        direct: list[MemberRow] = []
        shared: dict[str, str] = {}
        for row in store.iter_member_rows(self.db, self.sync_set_id):
            record = base_from_member(row, shared)
            records.append(record)
            self.bases[row.id] = record
            if row.direct:
                direct.append(row)
        return records, direct

    def use(self, rows: list[MemberRow]) -> list[BaseRecord]:
        """The planner's records of some members only (an incremental run plans the changed ones)."""
        shared: dict[str, str] = {}
        records = [base_from_member(row, shared) for row in rows]
        for record in records:
            self.bases[record.member_id] = record
        return records

    def member_id(self, key: str) -> int | None:
        """The row behind a planner key: "m<id>" for the members planned from (no dict of 100k keys kept
        for them), the run's own dict for members it made; None for a member dropped by this run."""
        made = self._made.get(key)
        if made is not None or key in self._dropped:
            return made
        number = member_id_of(key)
        return number if number is not None and number in self.bases else None

    def expect(self, actions: list[Action]) -> None:
        """Note which members the plan records a base for (their intent is cleared with it)."""
        self._record_follows = {action.member for action in actions if action.kind is K.RECORD_BASE}

    # -------------------------------------------------------------------------------------- around a call
    async def intend(self, action: Action, context: RunContext) -> int | None:
        """Commit the call about to be made to its member (a new pair gets its row now); its member id."""
        parent_id = context.resolve(action.parent) if action.parent is not None and context.can_resolve(action.parent) else None
        source = action.source if action.source is not None and context.can_resolve(action.source) else None
        intent = Intent(
            kind=action.kind.value,
            side=action.side,
            run=self.run_id,
            parent_id=parent_id,
            name=action.name or None,
            source_side=source.side if source else None,
            source_id=context.resolve(source) if source else None,
        )
        member_id = self.member_id(action.member)
        if member_id is None and action.kind in (K.UPLOAD, K.CREATE_FOLDER) and action.source is not None:
            member_id = await self._insert_intended(action, context, intent)
        elif member_id is not None:
            await self.writer.update(member_id, intent=intent.to_json(), intent_at=utcnow())
        if member_id is not None:
            self._in_flight[member_id] = intent
        return member_id

    async def _insert_intended(self, action: Action, context: RunContext, intent: Intent) -> int | None:
        """The row of a new pair, written with its intent before the create is sent."""
        if intent.source_id is None or intent.source_side is None:
            return None
        side = intent.source_side
        source = context.observed[side].get(intent.source_id) or context.latest.get((side, intent.source_id))
        row = {
            "sync_set_id": self.sync_set_id,
            "kind": MemberKind.of(action.is_folder).value,
            "direct": action.direct,
            "rel_path": self._rel_path(side, source, action.name),
            "intent": intent.to_json(),
            "intent_at": utcnow(),
            f"{side}_id": intent.source_id,
        }
        member_id = await self.writer.insert(row)
        self._made[action.member] = member_id
        return member_id

    def succeeded(self, action: Action, node: Node | None, member_id: int | None) -> None:
        """The call is done: clear its intent, or keep it with the id made until the base pairs the nodes."""
        if member_id is None:
            return
        values: dict[str, Any] = dict(CLEAR_INTENT)
        intent = self._in_flight.pop(member_id, None)
        if action.kind in (K.UPLOAD, K.CREATE_FOLDER) and node is not None and intent is not None:
            # Until RECORD_BASE pairs the two nodes, only the intent knows this node is ours: keep it, with
            # the id made, so a run killed in between adopts the node instead of meeting it as a name clash.
            values = {"intent": intent.made(node.id).to_json()}
        if action.kind is K.LOCK:
            values["locked_by_sync"] = True
        elif action.kind is K.UNLOCK:
            values["locked_by_sync"] = False
        if values == CLEAR_INTENT and action.member in self._record_follows:
            # The member's RECORD_BASE comes later in this plan and clears the intent with the base, so this
            # write is left out: one commit less per file. A run killed in between leaves a non-create intent,
            # which recovery clears ("the plan decides again"), exactly as if killed during the call.
            self._deferred_clear.add(member_id)
        else:
            self.writer.post(member_id, **values)

    def abandoned(self, member_id: int | None) -> None:
        """The call was not made (the destination moved on since the scan): the member stays as it was."""
        if member_id is not None:
            self._in_flight.pop(member_id, None)
            self.writer.post(member_id, **CLEAR_INTENT)

    def failed(
        self,
        action: Action,
        member_id: int | None,
        code: ErrorCode,
        report: TechnicalReport | dict[str, Any],
        fingerprint: str | None,
        *,
        side: Side | None = None,
        keep_intent: bool = False,
    ) -> None:
        """The member failed with `code`. `keep_intent`: whether the node met is ours could not be told, so
        the intent stays for the next run's recovery instead of leaving that node a stranger."""
        if member_id is None:
            return
        values = failure_fields(code, report, self.run_id, fingerprint, action=action.kind.value, side=side)
        if keep_intent:
            del values["intent"], values["intent_at"]
            self._in_flight.pop(member_id, None)
        self.writer.post(member_id, **values)

    # -------------------------------------------------------------------------------------- state steps
    async def record_base(self, action: Action, context: RunContext) -> bool:
        """Pair the member's two nodes as they are now; False when one side of the pair is missing."""
        values: dict[str, Any] = {}
        nodes: dict[Side, Node | None] = {}
        for side, ref in ((ONPREM, action.onprem), (CLOUD, action.cloud)):
            if ref is None:
                continue
            try:
                node = context.node(ref)
            except UnresolvedRef:
                node = None
            nodes[side] = node
            if node is not None:
                values.update(base_fields(side, node, self._sha(context, side, node, action.member)))
        onprem_node = nodes.get(ONPREM)
        if onprem_node is None or nodes.get(CLOUD) is None:
            return False
        values.update(synced_fields(self.run_id))
        values["kind"] = MemberKind.of(action.is_folder).value
        values["direct"] = action.direct
        values["rel_path"] = "" if action.direct else self._rel_path(ONPREM, onprem_node, onprem_node.name)
        member_id = self.member_id(action.member)
        if member_id is None:
            self._made[action.member] = await self.writer.insert({"sync_set_id": self.sync_set_id, **values})
        else:
            self.writer.post(member_id, **values)
            self._deferred_clear.discard(member_id)
        return True

    def _rel_path(self, side: Side, node: Node | None, fallback: str | None) -> str:
        """The node's path below the synced root folder (on either side: a pair in step has the same one)."""
        path = self.paths.path(side, node.id) if node is not None else None
        return below_root(path) if path else fallback or ""

    def _sha(self, context: RunContext, side: Side, node: Node, key: str) -> str | None:
        """The node's content hash: moved in this run, or the base's when the node is the same as then."""
        known = context.sha.get((side, node.id))
        if known is not None or node.is_folder:
            return known
        member_id = self.member_id(key)
        record = self.bases.get(member_id) if member_id is not None else None
        base = None if record is None else record.base(side)
        if base is None:
            return None
        same = (
            base.node_id == node.id
            and base.size == node.size
            and base.version == node.version_label
            and (node.version_label is not None or base.modified_at == node.modified_at)
        )
        return base.sha256 if same else None

    async def mark_failed(self, action: Action, context: RunContext, fingerprint: str | None) -> None:
        """A failure the planner decided (a name clash, a copy that no longer exists)."""
        code = action.error_code or ErrorCode.UNKNOWN
        report = {"operation": "plan", "brief_summary": action.reason}
        values = failure_fields(code, report, self.run_id, fingerprint, action="plan")
        member_id = self.member_id(action.member)
        if member_id is not None:
            self.writer.post(member_id, **values)
            return
        ids: dict[str, Any] = {}
        is_folder: bool | None = None
        for side, ref in ((ONPREM, action.onprem), (CLOUD, action.cloud)):
            if ref is not None and ref.node_id:
                ids[f"{side}_id"] = ref.node_id
                node = context.observed[side].get(ref.node_id)
                if node is not None:
                    is_folder = node.is_folder
                    ids.setdefault("rel_path", self._rel_path(side, node, node.name))
        row = Member(sync_set_id=self.sync_set_id, kind=MemberKind.of(is_folder).value, **ids, **values)
        self._made[action.member] = await self.writer.insert(row)

    def drop(self, action: Action) -> None:
        """The pair no longer exists on either side: its row goes."""
        member_id = self.member_id(action.member)
        self._made.pop(action.member, None)
        self._dropped.add(action.member)
        if member_id is not None:
            self.writer.post_delete([member_id])

    async def finish(self) -> None:
        """Clear what a skipped or failed RECORD_BASE would have cleared, and commit everything queued."""
        try:
            for member_id in sorted(self._deferred_clear):
                self.writer.post(member_id, **CLEAR_INTENT)
            self._deferred_clear.clear()
            await self.writer.drain()
        finally:
            await self.writer.close()

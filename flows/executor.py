"""Propagation: carry out a plan's actions in the planner's dependency graph, and record each one's effect.

Each action starts as soon as the actions it depends on (`Plan.depends_on`, and only those) are done, beside
every other action that is ready; one whose dependency did not succeed is skipped, and so is every later
step of a member that failed. Repository actions go through the run's `Transport`; what each one changed is
written to its member at once (`flows.recording.MemberState`); what the user reads is an `Outcome` each,
naming the item by its path in the sync set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from connectors.base import Node
from connectors.errors import NameClashError, RepositoryError, TransientError
from flows.recording import MemberState, error_side
from flows.recovery import Recovery
from flows.reporting import Outcome
from sync.model import Action, ActionKind, Plan, Ref
from sync.paths import ItemPaths, shorten
from tasks.transfer import DestinationChanged, RunContext, UnresolvedRef
from tasks.transport import TaskCalls, Transport
from vocabulary import CLOUD, ONPREM, ErrorCode, other, side_label

K = ActionKind
STATE_ONLY = frozenset({K.RECORD_BASE, K.MARK_FAILED, K.DROP_MEMBER, K.COMPARE})
"""Steps that write the sync state only: no repository call, no slot, no line in the run's table."""
FROM_SOURCE = frozenset({K.UPLOAD, K.CREATE_FOLDER, K.UPDATE_CONTENT, K.UPDATE_METADATA})
"""Actions named after the node they copy from (the other side's, which has the item's current path)."""
LABEL_PATH_LIMIT = 160

Progress = Callable[[int, int], Awaitable[None]]
"""(items finished, items planned) -> None, called as the run goes."""


class Executor:
    """The propagation of one plan (see the module docstring)."""

    def __init__(
        self,
        plan: Plan,
        context: RunContext,
        calls: TaskCalls,
        state: MemberState,
        recovery: Recovery,
        *,
        slots: int,
        account: str | None,
        log: Any,
        progress: Progress | None = None,
        link: Callable[[Node], str] | None = None,
    ) -> None:
        self.plan = plan
        self.link = link
        """A cloud node -> its "View in Cloud" address, for each item's line in the run's table."""
        self.context = context
        self.calls = calls
        self.state = state
        self.recovery = recovery
        self.account = account
        self.log = log
        self.progress = progress
        self.paths = ItemPaths(context.current)
        self.transport = Transport(context, calls, slots, describe=self.describe, log=log)
        self.outcomes: list[Outcome] = []

    async def run(self) -> list[Outcome]:
        actions = self.plan.actions
        self.state.expect(actions)
        done = [asyncio.Event() for _ in actions]
        succeeded = [False] * len(actions)
        failed_members: set[str] = set()
        items = {a.member for a in actions if a.kind not in STATE_ONLY or a.kind is K.MARK_FAILED}
        finished_items: set[str] = set()
        remaining = {key: 0 for key in items}
        for action in actions:
            if action.member in remaining:
                remaining[action.member] += 1
        step = max(1, len(items) // 20)  # at most ~20 progress updates per run

        async def run_one(index: int) -> None:
            action = actions[index]
            deps = self.plan.depends_on[index]
            try:
                for dep in deps:
                    await done[dep].wait()
                if action.member in failed_members or any(not succeeded[dep] for dep in deps):
                    self._skipped(action, "an earlier step for it did not succeed")
                    return
                succeeded[index] = await self._do(action)
                if not succeeded[index]:
                    failed_members.add(action.member)
            finally:
                done[index].set()
                if action.member in remaining:
                    remaining[action.member] -= 1
                    if remaining[action.member] == 0:
                        finished_items.add(action.member)
                        if self.progress is not None and len(finished_items) % step == 0:
                            await self.progress(len(finished_items), len(items))

        if self.progress is not None and items:
            await self.progress(0, len(items))  # the bar appears as the work starts, with what is planned
        await asyncio.gather(*(run_one(index) for index in range(len(actions))))
        if self.progress is not None and items:
            await self.progress(len(items), len(items))
        batcher = self.transport.batcher
        if batcher.batches:
            self.log.info(
                "%d actions planned; %d small ones ran in %d transfer-batch task runs, the rest as transfer task runs",
                len(actions),
                batcher.submitted,
                batcher.batches,
            )
        return self.outcomes

    # ------------------------------------------------------------------------------------------ naming
    def item(self, action: Action) -> str:
        """The item's path in the sync set (`Specs/Drafts/a.txt`), as people name it."""
        return self._path(action) or action.name or self._base_name(action) or action.member

    def describe(self, action: Action) -> str:
        """A task-run name: what is done, on which side, to which item."""
        path = shorten(self.item(action), LABEL_PATH_LIMIT)
        if action.kind in STATE_ONLY:
            return f"not synced: {path}"
        return f"{action.kind.value} → {side_label(action.side)}: {path}"

    def member_path(self, key: str) -> str:
        """A member's path by its planner key (its nodes as seen, else its base name)."""
        member_id = self.state.member_id(key)
        record = self.state.bases.get(member_id) if member_id is not None else None
        if record is None:
            return key
        ids = {
            side: base.node_id if base is not None else None for side, base in ((ONPREM, record.onprem), (CLOUD, record.cloud))
        }
        found = self.paths.either(ids)
        if found is not None:
            return found
        names = [base.name for base in (record.onprem, record.cloud) if base is not None and base.name]
        return names[0] if names else key

    def _ref_path(self, ref: Ref | None) -> str | None:
        if ref is None or not self.context.can_resolve(ref):
            return None
        return self.paths.path(ref.side, self.context.resolve(ref))

    def _path(self, action: Action) -> str | None:
        kind = action.kind
        if kind in FROM_SOURCE:
            return self._ref_path(action.source) or self._ref_path(action.node)
        if kind in (K.RENAME, K.MOVE):
            return self._pair_path(action) or self._ref_path(action.node)
        if kind is K.CONFLICT_COPY and action.node is not None and action.name and self.context.can_resolve(action.node):
            node = self.paths.path(action.node.side, self.context.resolve(action.node))
            folder = node.rpartition("/")[0] if node else ""
            return f"{folder}/{action.name}" if folder else action.name
        if kind in (K.RECORD_BASE, K.MARK_FAILED, K.COMPARE):
            return self._ref_path(action.onprem) or self._ref_path(action.cloud)
        return self._ref_path(action.node)

    def _pair_path(self, action: Action) -> str | None:
        """Where a rename or move came from: the member's node on the other side, at its new name and place."""
        member_id = self.state.member_id(action.member)
        record = self.state.bases.get(member_id) if member_id is not None else None
        base = record.base(other(action.side)) if record is not None else None
        return self.paths.path(other(action.side), base.node_id) if base is not None else None

    def _base_name(self, action: Action) -> str | None:
        member_id = self.state.member_id(action.member)
        record = self.state.bases.get(member_id) if member_id is not None else None
        if record is None:
            return None
        for side in (ONPREM, CLOUD):
            base = record.base(side)
            if base is not None and base.name:
                return base.name
        return None

    # ------------------------------------------------------------------------------------------ one action
    async def _do(self, action: Action) -> bool:
        """Carry out one action and record its effect; False when it failed (already recorded)."""
        kind = action.kind
        if kind is K.RECORD_BASE:
            return await self.state.record_base(action, self.context)
        if kind is K.MARK_FAILED:
            await self._mark_failed(action)
            return True
        if kind is K.DROP_MEMBER:
            self.state.drop(action)
            return True
        if kind is K.COMPARE:
            return True
        if kind is K.LOCK and self._locked_by_someone_else(action):
            self.outcomes.append(
                Outcome("lock", self.item(action), "to on-prem", "skipped", None, "already locked by another user")
            )
            return True
        member_id = await self.state.intend(action, self.context)
        try:
            node = await self.transport.run(action)
        except UnresolvedRef as exc:
            self._skipped(action, str(exc))
            return False
        except DestinationChanged as exc:
            # Someone edited the destination during this run: leave it and the member's base as they are, so
            # the next run plans that edit as a change or a conflict instead of this run overwriting it.
            self.state.abandoned(member_id)
            self.log.warning("%s of %s skipped: %s; the next run picks it up", kind.value, self.item(action), exc)
            self._skipped(action, str(exc))
            return False
        except NameClashError as exc:
            adopted = None
            if kind in (K.UPLOAD, K.CREATE_FOLDER) and member_id is not None:
                try:
                    adopted = await self.recovery.adopt_after_clash(action, self.context, member_id)
                except TransientError as undecided:
                    # Whether the node met is ours could not be read: keep the intent, so the next run's recovery
                    # adopts it then, instead of leaving it a stranger that clashes with its own source forever.
                    self._failed(action, undecided, member_id, keep_intent=True)
                    return False
            if adopted is None:
                self._failed(action, exc, member_id)
                return False
            node = adopted
        except RepositoryError as exc:
            self._failed(action, exc, member_id)
            return False
        self.state.succeeded(action, node, member_id)
        self.outcomes.append(
            Outcome(
                kind.value,
                self.item(action),
                self._direction(action),
                "done",
                None,
                action.reason,
                self._cloud_link(action, node),
            )
        )
        return True

    async def _mark_failed(self, action: Action) -> None:
        """A failure the plan decided: recorded on the member, and shown as a Failed task run of this run."""
        await self.state.mark_failed(action, self.context, self.plan.fingerprints.get(action.member))
        code = action.error_code or ErrorCode.UNKNOWN
        item = self.item(action)
        self.outcomes.append(Outcome("not synced", item, "", "failed", code.value, action.reason, self._cloud_link(action)))
        self.log.error("Not synced: %s: %s (%s)", item, code.value, action.reason)
        report = f"operation plan; run {self.state.run_id}"
        await self.calls.item_not_synced(
            self.describe(action), f"{code.value}: {item}: {action.reason}. Technical report: {report}"
        )

    def _failed(self, action: Action, exc: RepositoryError, member_id: int | None, *, keep_intent: bool = False) -> None:
        side = error_side(exc, action.side)
        code = exc.code_for(side)
        fingerprint = self.plan.fingerprints.get(action.member)
        self.state.failed(action, member_id, code, exc.report, fingerprint, side=side, keep_intent=keep_intent)
        item = self.item(action)
        self.outcomes.append(
            Outcome(action.kind.value, item, self._direction(action), "failed", code.value, exc.message, self._cloud_link(action))
        )
        level = self.log.warning if isinstance(exc, TransientError) else self.log.error
        level("%s failed for %s: %s: %s. Technical report: %s", action.kind.value, item, code.value, exc.message, exc.report)

    def _locked_by_someone_else(self, action: Action) -> bool:
        """A lock someone else holds is theirs: the sync neither takes it over nor claims it as its own."""
        assert action.node is not None
        try:
            node = self.context.node(action.node)
        except UnresolvedRef:
            return False
        return bool(node is not None and node.is_locked and node.lock_owner and node.lock_owner != self.account)

    def _skipped(self, action: Action, why: str) -> None:
        if action.kind not in STATE_ONLY:
            self.outcomes.append(Outcome(action.kind.value, self.item(action), self._direction(action), "skipped", None, why))

    def _cloud_link(self, action: Action, node: Node | None = None) -> str:
        """The address of the item's cloud copy as it is after the action ("" without one, or after a delete)."""
        if self.link is None or (action.kind is K.DELETE and action.side == CLOUD):
            return ""
        cloud: Node | None = node if node is not None and action.side == CLOUD else None
        if cloud is None:
            made = self.context.created.get((CLOUD, action.new_member or action.member))
            ref = action.cloud or (action.node if action.node is not None and action.node.side == CLOUD else None)
            if made is not None:
                cloud = made
            elif ref is not None and self.context.can_resolve(ref):
                cloud = self.context.node(ref)
            else:
                member_id = self.state.member_id(action.member)
                record = self.state.bases.get(member_id) if member_id is not None else None
                base = record.cloud if record is not None else None
                cloud = self.context.current(CLOUD, base.node_id) if base is not None else None
        return self.link(cloud) if cloud is not None else ""

    @staticmethod
    def _direction(action: Action) -> str:
        if action.kind in STATE_ONLY:
            return ""
        return "to cloud" if action.side == CLOUD else "to on-prem"

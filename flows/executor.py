"""Propagation: carry out a plan's actions in the planner's dependency graph, and record each one's effect.

Each action starts as soon as the actions it depends on (`Plan.depends_on`, and only those) are done, beside
every other action that is ready; one whose dependency did not succeed is skipped, and so is every later
step of a member that failed. Repository actions go through the run's `Transport`; what each one changed is
written to its member at once (`flows.recording.MemberState`); what the user reads is an `Outcome` each.
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
from sync.model import Action, ActionKind, Plan
from tasks.transfer import DestinationChanged, RunContext, UnresolvedRef
from tasks.transport import Transport
from vocabulary import CLOUD, ErrorCode

K = ActionKind
STATE_ONLY = frozenset({K.RECORD_BASE, K.MARK_FAILED, K.DROP_MEMBER, K.COMPARE})
"""Steps that write the sync state only: no repository call, no slot, no line in the run's table."""

Progress = Callable[[int, int], Awaitable[None]]
"""(actions finished, actions planned) -> None, called every twentieth of the plan."""


class Executor:
    """The propagation of one plan (see the module docstring)."""

    def __init__(
        self,
        plan: Plan,
        context: RunContext,
        transport: Transport,
        state: MemberState,
        recovery: Recovery,
        *,
        account: str | None,
        log: Any,
        progress: Progress | None = None,
    ) -> None:
        self.plan = plan
        self.context = context
        self.transport = transport
        self.state = state
        self.recovery = recovery
        self.account = account
        self.log = log
        self.progress = progress
        self.outcomes: list[Outcome] = []

    async def run(self) -> list[Outcome]:
        actions = self.plan.actions
        self.state.expect(actions)
        done = [asyncio.Event() for _ in actions]
        succeeded = [False] * len(actions)
        failed_members: set[str] = set()
        finished = 0
        step = max(1, len(actions) // 20)

        async def run_one(index: int) -> None:
            nonlocal finished
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
                finished += 1
                if self.progress is not None and finished % step == 0:
                    await self.progress(finished, len(actions))

        await asyncio.gather(*(run_one(index) for index in range(len(actions))))
        if self.transport.batcher.batches:
            self.log.info(
                "%d actions planned; %d small ones ran in %d transfer-batch task runs, the rest as transfer task runs",
                len(actions),
                self.transport.batcher.submitted,
                self.transport.batcher.batches,
            )
        return self.outcomes

    # ------------------------------------------------------------------------------------------ one action
    async def _do(self, action: Action) -> bool:
        """Carry out one action and record its effect; False when it failed (already recorded)."""
        kind = action.kind
        if kind is K.RECORD_BASE:
            return await self.state.record_base(action, self.context)
        if kind is K.MARK_FAILED:
            await self.state.mark_failed(action, self.context, self.plan.fingerprints.get(action.member))
            code = action.error_code or ErrorCode.UNKNOWN
            self.outcomes.append(Outcome("mark-failed", self._item(action), "", "failed", code.value, action.reason))
            self.log.error("Not synced: %s: %s (%s)", self._item(action), code.value, action.reason)
            return True
        if kind is K.DROP_MEMBER:
            self.state.drop(action)
            return True
        if kind is K.COMPARE:
            return True
        if kind is K.LOCK and self._locked_by_someone_else(action):
            self.outcomes.append(
                Outcome("lock", self._item(action), "to on-prem", "skipped", None, "already locked by another user")
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
            self.log.warning("%s of %s skipped: %s; the next run picks it up", kind.value, self._item(action), exc)
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
        self.outcomes.append(Outcome(kind.value, self._item(action, node), self._direction(action), "done", None, action.reason))
        return True

    def _failed(self, action: Action, exc: RepositoryError, member_id: int | None, *, keep_intent: bool = False) -> None:
        side = error_side(exc, action.side)
        code = exc.code_for(side)
        fingerprint = self.plan.fingerprints.get(action.member)
        self.state.failed(action, member_id, code, exc.report, fingerprint, side=side, keep_intent=keep_intent)
        self.outcomes.append(
            Outcome(action.kind.value, self._item(action), self._direction(action), "failed", code.value, exc.message)
        )
        level = self.log.warning if isinstance(exc, TransientError) else self.log.error
        level("%s failed for %s: %s. Technical report: %s", action.kind.value, self._item(action), code.value, exc.report)

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
            self.outcomes.append(Outcome(action.kind.value, self._item(action), self._direction(action), "skipped", None, why))

    @staticmethod
    def _item(action: Action, node: Node | None = None) -> str:
        if node is not None:
            return node.name
        return action.name or action.member

    @staticmethod
    def _direction(action: Action) -> str:
        if action.kind in STATE_ONLY:
            return ""
        return "to cloud" if action.side == CLOUD else "to on-prem"

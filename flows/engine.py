"""One run over one sync set: lease → recover → scan → plan → propagate → record → report.

The flows are thin: each validates its own input, then hands a sync set (and, for Request Sync, a member)
to `run_sync_set`. Each step is a module of its own:

| step | module | what it does |
|---|---|---|
| lease | `flows.lease` | one run per sync set at a time; a dead run's hold ends by itself |
| recover | `flows.recovery` | adopt or clear what a killed run's intents left half done |
| scan | `flows.scanning`, `flows.changes` | what changed: through search between full scans, else both trees listed |
| plan | `flows.planning`, `sync` | the pure planner, plus the content hashes it asks for |
| propagate | `flows.executor`, `tasks.transport` | the plan's dependency graph, small actions batched |
| record | `flows.recording` | each member's intent, base or failure, as each action ends |
| report | `flows.reporting` | the run's state message and artifacts |

`SyncSetRun` is the recipe without the lease and the artifacts; given `plain_calls()` it needs neither
Prefect nor its API, which is how the property tests run the production propagator.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from connectors.base import Node, Repository
from flows.best_effort import wait_for_api
from flows.executor import Executor, Progress
from flows.lease import current_run_id, leased
from flows.planning import plan_with_hashes
from flows.recording import MemberState
from flows.recovery import Recovery
from flows.reporting import Outcome, RunReport, progress_artifact, publish_artifacts
from flows.scanning import SyncSetScanner
from flows.settings import Settings, get_settings
from models import store
from models.store import MemberSummary
from models.tables import SyncSet, utcnow
from sync.convert import options_from_sync_set
from sync.model import Plan
from tasks.connections import opened_repositories
from tasks.retry import RetryPolicy
from tasks.run_log import run_logger
from tasks.transfer import RunContext, SideTagged
from tasks.transport import TaskCalls, task_runs
from vocabulary import CLOUD, ONPREM, SIDES, MemberKind, Side, side_label


@dataclass
class RunResult:
    """What a run did, for its final state and for tests."""

    slug: str
    outcomes: list[Outcome] = field(default_factory=list)
    plan: Plan | None = None
    failure: str | None = None
    """The state message when the run must end Failed."""
    summary: MemberSummary | None = None
    report: RunReport | None = None
    """The items this run failed and those still waiting for attention, by path."""
    scan: str = ""
    """How the run found what changed ("incremental: ..." or "full: <why>")."""
    missed: int | None = None
    """After a full scan: the changes it found that the incremental detection would have missed."""

    @property
    def ok(self) -> bool:
        return self.failure is None


class SyncSetRun:
    """One run of one sync set, from recovery to the record of what it did."""

    def __init__(
        self,
        database_url: str,
        sync_set: SyncSet,
        onprem: Repository,
        cloud: Repository,
        *,
        run_id: str,
        settings: Settings,
        force: bool = False,
        scope_member_id: int | None = None,
        calls: TaskCalls | None = None,
        progress: Progress | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = database_url
        self.sync_set = sync_set
        self.settings = settings
        self.force = force
        self.scope_member_id = scope_member_id
        self.policy = RetryPolicy.from_settings(settings)
        self.calls = calls or task_runs(self.policy)
        self.progress = progress
        self.clock = clock
        """Stamps keep-both conflict copies (tests fix it)."""
        self.log = run_logger()
        self.repositories: dict[Side, Repository] = {
            ONPREM: SideTagged(onprem, ONPREM),  # type: ignore[dict-item]
            CLOUD: SideTagged(cloud, CLOUD),  # type: ignore[dict-item]
        }
        self.state = MemberState(database_url, sync_set, run_id)
        self.barriers: list[Callable[[], None]] = []
        """Repositories that make their writes durable in groups: flushed before each sync-state commit."""
        for repository in self.repositories.values():
            defer = getattr(repository, "defer_durability", None)
            if callable(defer):
                self.barriers.append(defer())
        self.state.writer.barriers.extend(self.barriers)
        self.recovery = Recovery(database_url, self.repositories, run_id, self.policy, self.log)
        self.root_name: str | None = None
        """The synced root folder's name (the first part of every item's path), once the run has loaded it."""

    async def run(self) -> RunResult:
        account = await self.policy.call(self.repositories[ONPREM].whoami, "whoami")
        await self.recovery.recover(store.pending_intents(self.db, self.state.sync_set_id))
        scanner = SyncSetScanner(
            self.db,
            self.sync_set,
            self.repositories,
            self.state,
            self.settings,
            scan_task=self.calls.scan_folders,
            policy=self.policy,
            log=self.log,
            clock=self.clock,
        )
        scan = await scanner.scan(scoped=self.scope_member_id is not None)
        plan, observed = await plan_with_hashes(
            scan.records,
            scan.observed,
            target_folder_id=self.sync_set.target_folder_id,
            options=options_from_sync_set(self.sync_set, force=self.force),
            now=self.clock,
            scope=self.scope_member_id,
            hasher=lambda side, node_id: self.calls.compare(self.repositories[side], side, node_id),
            concurrency=self.settings.transfer_concurrency,
            log=self.log,
            member_count=scan.member_count,
        )
        context = RunContext(
            self.repositories, {side: observed[side].nodes for side in SIDES}, {side: observed[side].sha256 for side in SIDES}
        )
        executor = Executor(
            plan,
            context,
            self.calls,
            self.state,
            self.recovery,
            slots=self.settings.transfer_concurrency,
            account=account,
            log=self.log,
            progress=self.progress,
            link=self.cloud_link,
        )
        self.state.paths = executor.paths
        self._log_decisions(plan, executor)
        try:
            outcomes = await executor.run()
        finally:
            await self.state.finish()  # what was queued is committed even when propagation raised
            for barrier in self.barriers:  # and what was written after the last commit is durable too
                await asyncio.to_thread(barrier)
        # The report counts in SQL (one aggregate) instead of loading every member a second time.
        summary = store.member_summary(self.db, self.state.sync_set_id)
        if self.scope_member_id is None:
            carried = (
                not plan.guard.tripped
                and not any(o.outcome == "skipped" for o in outcomes)
                and all(skip.parked for skip in plan.skipped)
            )
            scanner.record(scan, plan, executor.item, carried=carried)
        root_name = next((row.op_name for row in scan.direct if row.kind == MemberKind.FOLDER), None)
        self.root_name = root_name
        report = RunReport.of(outcomes, summary, self.state.run_id, root_name)
        failure = report.failure
        if plan.guard.tripped:
            self.log.error(plan.guard.message)
            failure = plan.guard.message if failure is None else f"{plan.guard.message}; {failure}"
        return RunResult(
            self.sync_set.slug, outcomes, plan, failure, summary, report, scan.description, scanner.scan_state.last_missed
        )

    def _log_decisions(self, plan: Plan, executor: Executor) -> None:
        for conflict in plan.conflicts:
            self.log.warning(
                "Conflict on %s (%s): %s wins by %s; the other side's version is kept as %s",
                executor.member_path(conflict.member),
                ", ".join(conflict.aspects),
                side_label(conflict.winner),
                conflict.policy.value,
                conflict.loser_kept_as,
            )
        for ignored in plan.ignored:
            path = executor.paths.path(ignored.side, ignored.node_id) or ignored.name
            self.log.info("Ignored %s %s: %s", side_label(ignored.side), path, ignored.reason)

    def cloud_link(self, node: Node) -> str:
        """A cloud node's page ("View in Cloud"), in the sync set's site."""
        return self.repositories[CLOUD].web_url(node, site=self.sync_set.target_site)

    def link_of(self, node_id: str, name: str) -> str | None:
        return self.cloud_link(Node(id=node_id, name=name, parent_id=None, is_folder=False))

    def view_in_cloud(self) -> str | None:
        """The sync set's own "View in Cloud": the synced root's copy (SPEC), never the bare destination."""
        direct = [row for row in store.direct_member_rows(self.db, self.state.sync_set_id) if row.cloud_id]
        root = next((row for row in direct if row.kind == MemberKind.FOLDER), direct[0] if direct else None)
        if root is None or root.cloud_id is None:
            return None
        return self.link_of(root.cloud_id, root.cl_name or "")


async def record_when_api_answers(slug: str, settings: Settings) -> None:
    """Before the final artifacts and state: wait (bounded) for a Prefect API that went away during the run, and
    put on the run's tag if the outage kept it off, so work done meanwhile is recorded as done (issue 17 item 3)."""
    if not _in_flow_run():
        return
    from flows.common import sync_set_tag, tag_current_run

    if await wait_for_api(settings.api_wait_seconds):
        await tag_current_run(sync_set_tag(slug))


def _in_flow_run() -> bool:
    from prefect.context import FlowRunContext

    return FlowRunContext.get() is not None


async def run_sync_set(
    database_url: str,
    slug: str,
    *,
    force: bool = False,
    scope_member_id: int | None = None,
    settings: Settings | None = None,
    repositories: tuple[Repository, Repository] | None = None,
) -> RunResult:
    """Reconcile one sync set under its lease, with its own repositories for this run, and report it.

    `repositories` (on-prem, cloud) lets a flow that has them open already (sync-to-cloud, after validating)
    reuse its connections and tickets; they must be the sync set's own connections and the caller closes them.
    """
    settings = settings or get_settings()
    sync_set = store.get_sync_set(database_url, slug)
    if sync_set is None:
        raise LookupError(f"No sync set named {slug!r}")
    run_id = current_run_id()
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(leased(database_url, sync_set, run_id, settings))
        if repositories is None:
            repositories = await stack.enter_async_context(
                opened_repositories(sync_set.onprem_connection, sync_set.cloud_connection, sync_set.target_network)
            )
        onprem, cloud = repositories
        run = SyncSetRun(
            database_url,
            sync_set,
            onprem,
            cloud,
            run_id=run_id,
            settings=settings,
            force=force,
            scope_member_id=scope_member_id,
            progress=progress_artifact(f"Sync set {sync_set.slug}"),
        )
        result = await run.run()
        assert result.summary is not None
        await record_when_api_answers(sync_set.slug, settings)
        await publish_artifacts(
            sync_set,
            result.summary,
            result.outcomes,
            run.view_in_cloud(),
            run.root_name,
            result.scan,
            result.missed,
            run.link_of,
        )
        return result

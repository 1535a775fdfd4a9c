"""What both sides of a sync set look like now (Unison's update detection reads, the planner decides).

On-prem: each direct member's own node, then every folder below the direct folders, breadth first. Cloud:
the target folder's children (so a name clash there is seen), then every folder below the direct members'
copies. A folder that cannot be listed is left out of `listed`, so nothing under it is taken for deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from connectors.base import ChangeSource, Node, Repository
from connectors.errors import NodeNotFoundError, RepositoryError
from flows.changes import ChangeDetector, DetectedChanges, SearchUnavailable
from flows.recording import MemberState
from flows.settings import Settings
from models import store
from models.store import MemberRow
from models.tables import SyncSet
from sync.model import ActionKind, BaseRecord, Observation, Plan
from tasks.retry import RetryPolicy
from tasks.scan import TreeScan, gather_bounded, scan_tree
from vocabulary import CLOUD, ONPREM, MemberKind, Side, member_id_of, parse_new_key


@dataclass(frozen=True, slots=True)
class SyncSetScan:
    onprem: Observation
    cloud: Observation
    complete: bool = True
    """Every folder was listed (a folder that failed is left as it was, and the next run must look again)."""


@dataclass
class Scanner:
    repositories: dict[Side, Repository]
    scan_task: Any
    policy: RetryPolicy
    concurrency: int
    log: Any

    async def scan(
        self, direct: Sequence[MemberRow], target_folder_id: str, include_subfolders: bool, target_name: str = ""
    ) -> SyncSetScan:
        onprem_nodes: dict[str, Node] = {}
        onprem_listed: set[str] = set()
        direct = [m for m in direct if m.onprem_id]
        onprem = self.repositories[ONPREM]
        fetched = await gather_bounded(
            (self.policy.call(partial(onprem.get, m.onprem_id), "Reading a direct member") for m in direct if m.onprem_id),
            self.concurrency,
        )
        for member, result in zip(direct, fetched, strict=True):
            if isinstance(result, NodeNotFoundError):
                if member.op_parent_id:
                    onprem_listed.add(member.op_parent_id)
                continue
            if isinstance(result, BaseException):
                if isinstance(result, RepositoryError):
                    self.log.warning("Could not read on-prem item %s: %s", member.op_name or member.onprem_id, result)
                    continue
                raise result
            onprem_nodes[result.id] = result
            for parent in (member.op_parent_id, result.parent_id):
                if parent:
                    onprem_listed.add(parent)
        onprem_roots = {node.id: node.name for node in onprem_nodes.values() if node.is_folder}
        onprem_scan = await self._tree(ONPREM, onprem_roots, include_subfolders)
        onprem_nodes.update(onprem_scan.nodes)
        onprem_listed |= onprem_scan.complete

        target_scan = await self._tree(CLOUD, {target_folder_id: f"{target_name or '/'} (destination folder)"}, False)
        cloud_nodes = dict(target_scan.nodes)
        cloud_listed = set(target_scan.complete)
        cloud_roots = {
            m.cloud_id: cloud_nodes[m.cloud_id].name
            for m in direct
            if m.kind == MemberKind.FOLDER and m.cloud_id and m.cloud_id in cloud_nodes
        }
        cloud_scan = await self._tree(CLOUD, cloud_roots, include_subfolders)
        cloud_nodes.update(cloud_scan.nodes)
        cloud_listed |= cloud_scan.complete
        complete = True
        for failed_scan in (onprem_scan, target_scan, cloud_scan):
            for path, error in failed_scan.failed.values():
                complete = False
                self.log.warning("Folder %s could not be listed; its content is left as it is this run: %s", path, error)
        return SyncSetScan(
            Observation(nodes=onprem_nodes, listed=frozenset(onprem_listed)),
            Observation(nodes=cloud_nodes, listed=frozenset(cloud_listed)),
            complete,
        )

    async def _tree(self, side: Side, roots: dict[str, str], recursive: bool) -> TreeScan:
        """Everything below `roots` (folder id -> the path it is named by)."""
        if not roots:
            return TreeScan()
        return await scan_tree(
            self.repositories[side],
            side,
            list(roots),
            recursive=recursive,
            concurrency=self.concurrency,
            scan_task=self.scan_task,
            policy=self.policy,
            root_paths=roots,
        )


# ---------------------------------------------------------------------------------------------- which scan
FULL = "full"
INCREMENTAL = "incremental"


@dataclass
class RunScan:
    """What a run plans from, and how it was found."""

    records: list[BaseRecord]
    observed: dict[Side, Observation]
    direct: list[MemberRow]
    member_count: int | None
    """All members of the sync set when `records` holds only the changed ones, else None."""
    kind: str
    description: str
    detected: DetectedChanges | None = None
    server_time: dict[Side, datetime | None] = field(default_factory=dict)
    complete: bool = True
    """Every folder that had to be listed was."""


class SyncSetScanner:
    """Chooses how a run finds what changed (`flows.changes` between full scans, `Scanner` for the full ones),
    and keeps the sync set's scan state: where the next incremental search starts, when the last full scan ran
    and how many changes it found that the incremental detection had missed."""

    def __init__(
        self,
        database_url: str,
        sync_set: SyncSet,
        repositories: dict[Side, Repository],
        state: MemberState,
        settings: Settings,
        *,
        scan_task: Any,
        policy: RetryPolicy,
        log: Any,
        clock: Any,
    ) -> None:
        self.db = database_url
        self.sync_set = sync_set
        self.repositories = repositories
        self.state = state
        self.settings = settings
        self.scan_task = scan_task
        self.policy = policy
        self.log = log
        self.clock = clock
        self.scan_state = store.scan_state(database_url, state.sync_set_id)

    def choose(self, scoped: bool) -> tuple[str, str]:
        """(FULL or INCREMENTAL, why)."""
        state = self.scan_state
        if scoped:
            return FULL, "Request Sync scans the item's subtree in full"
        if not all(isinstance(repository, ChangeSource) for repository in self.repositories.values()):
            return FULL, "a repository cannot tell what changed: scanned in full every run"
        if not self.settings.incremental_scans:
            return FULL, "incremental scans are off (ECSYNC_INCREMENTAL_SCANS)"
        if state.onprem_since is None or state.cloud_since is None:
            return FULL, "the first scan of this sync set"
        if state.runs_since_full + 1 >= self.settings.full_scan_every:
            return FULL, f"every {self.settings.full_scan_every}th run scans in full (ECSYNC_FULL_SCAN_EVERY)"
        last = state.last_full_at
        if last is None or _aware(self.clock()) - _aware(last) >= timedelta(hours=self.settings.full_scan_hours):
            return FULL, f"no full scan in the last {self.settings.full_scan_hours:g} hours (ECSYNC_FULL_SCAN_HOURS)"
        return INCREMENTAL, ""

    def _lag(self, side: Side) -> timedelta:
        """How far back a side's search reaches: the setting (Solr's lag), or less where the repository says
        its search cannot lag that long (a local folder's walk: its own `search_lag_seconds`)."""
        own = getattr(self.repositories[side], "search_lag_seconds", None)
        lag = self.settings.search_lag_seconds
        return timedelta(seconds=min(lag, own) if isinstance(own, int | float) else lag)

    def _since(self) -> dict[Side, datetime]:
        state = self.scan_state
        assert state.onprem_since is not None and state.cloud_since is not None
        return {ONPREM: _aware(state.onprem_since) - self._lag(ONPREM), CLOUD: _aware(state.cloud_since) - self._lag(CLOUD)}

    def _detector(self) -> ChangeDetector:
        return ChangeDetector(
            self.db,
            self.state.sync_set_id,
            self.sync_set.target_folder_id,
            self.repositories,
            scan_task=self.scan_task,
            policy=self.policy,
            concurrency=self.settings.scan_concurrency,
            log=self.log,
        )

    async def scan(self, scoped: bool) -> RunScan:
        kind, why = self.choose(scoped)
        if kind == INCREMENTAL:
            direct = store.direct_member_rows(self.db, self.state.sync_set_id)
            try:
                detected = await self._detector().detect(direct, self._since())
            except (RepositoryError, SearchUnavailable) as exc:
                self.log.warning("Could not find the changes through search (%s); this run scans both trees in full", exc)
                kind, why = FULL, f"search failed: {exc}"
            else:
                records = self.state.use(detected.rows)
                observed = {ONPREM: detected.onprem, CLOUD: detected.cloud}
                count = store.member_count(self.db, self.state.sync_set_id)
                self.log.info("Scan: %s", detected.summary())
                return RunScan(
                    records,
                    observed,
                    direct,
                    count,
                    INCREMENTAL,
                    detected.summary(),
                    detected,
                    detected.server_time,
                    detected.complete,
                )
        return await self._full(why, audit=not scoped)

    async def _full(self, why: str, *, audit: bool) -> RunScan:
        detected: DetectedChanges | None = None
        state = self.scan_state
        can_search = all(isinstance(repository, ChangeSource) for repository in self.repositories.values())
        if audit and can_search and state.onprem_since is not None and state.cloud_since is not None:
            try:  # what the incremental detection finds now, to count what it would have missed
                detected = await self._detector().detect(store.direct_member_rows(self.db, self.state.sync_set_id), self._since())
            except (RepositoryError, SearchUnavailable) as exc:
                self.log.warning("The search could not be checked against this full scan: %s", exc)
        server_time = dict(detected.server_time) if detected else {}
        if can_search and not server_time:  # before the scan: what changes while it runs is found next time
            for side, repository in self.repositories.items():
                assert isinstance(repository, ChangeSource)
                server_time[side] = (await repository.changed_below([], self.clock())).server_time
        records, direct = self.state.load()
        scanned = await Scanner(self.repositories, self.scan_task, self.policy, self.settings.scan_concurrency, self.log).scan(
            direct, self.sync_set.target_folder_id, self.sync_set.include_subfolders, self.sync_set.target_folder_path
        )
        description = f"full: {why}"
        self.log.info("Scan: %s", description)
        observed = {ONPREM: scanned.onprem, CLOUD: scanned.cloud}
        return RunScan(records, observed, direct, None, FULL, description, detected, server_time, scanned.complete)

    def record(self, scan: RunScan, plan: Plan, paths: Any, *, carried: bool) -> int | None:
        """Keep where the next search starts; for a full scan, count (and name in the log) the changes the
        incremental detection would have missed. Returns that count (None when it could not be told).

        `carried`: the run carried out everything it planned (no delete held by the guard, no step skipped). Only
        then does the next search start later: a change this run saw and did not carry (or a folder it could not
        list) must be found again by the next one, so it is not left to the next full scan.
        """
        state = self.scan_state
        missed: int | None = None
        advance = carried and scan.complete
        if scan.kind == FULL and scan.detected is not None:
            missed_items = self._missed(scan, plan, paths)
            missed = len(missed_items)
            for item in missed_items[:20]:
                self.log.warning("Found by the full scan, not by the incremental detection: %s", item)
        for side, moment in scan.server_time.items():
            if moment is not None and (advance or getattr(state, f"{side}_since") is None):
                setattr(state, f"{side}_since", moment)
        if scan.kind == FULL and advance:
            state.runs_since_full = 0
            state.last_full_at = self.clock()
            state.last_missed = missed
        else:
            state.runs_since_full += 1
        state.last_kind = (scan.description + ("" if advance else "; the next run looks from the same moment again"))[:255]
        store.save_scan_state(self.db, state)
        return missed

    def _missed(self, scan: RunScan, plan: Plan, paths: Any) -> list[str]:
        """Members with a change to carry (more than a base to record) that the detection did not plan from,
        leaving out what changed within the search's lag window (the next incremental run would find it)."""
        assert scan.detected is not None
        planned = {row.id for row in scan.detected.rows}
        seen = {side: set(obs.nodes) for side, obs in ((ONPREM, scan.detected.onprem), (CLOUD, scan.detected.cloud))}
        recent = {side: _aware(self.clock()) - self._lag(side) for side in (ONPREM, CLOUD)}
        missed: dict[str, str] = {}
        for action in plan.actions:
            if action.kind in (ActionKind.RECORD_BASE, ActionKind.COMPARE, ActionKind.DROP_MEMBER):
                continue
            member_id = member_id_of(action.member)
            new = parse_new_key(action.member)
            if member_id is not None and member_id in planned:
                continue
            if new is not None and new[1] in seen[new[0]]:
                continue
            refs = [ref for ref in (action.node, action.source) if ref is not None and ref.node_id]
            nodes = [(ref.side, scan.observed[ref.side].nodes.get(ref.node_id or "")) for ref in refs]
            if any(
                node is not None and node.modified_at is not None and _aware(node.modified_at) >= recent[side]
                for side, node in nodes
            ):
                continue
            missed.setdefault(action.member, f"{action.kind.value} {paths(action)}")
        return list(missed.values())


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

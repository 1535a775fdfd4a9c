"""One run over one sync set: recover, scan, plan, propagate, record, report.

The flows are thin: each one validates its own input and then hands a sync set (and, for Request Sync, a
member) to `run_sync_set`. Everything that changes a repository happens in `tasks.transfer` task runs
scheduled here; everything written to the sync state is written here, member by member, as each action
ends (through `models.writer.StateWriter`: an intent is committed before its call, the rest in group commits),
so a killed run leaves a state the next run can finish from.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from prefect import get_run_logger
from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.exceptions import MissingContextError
from prefect.utilities.annotations import quote

from connectors.base import Node, Repository
from connectors.errors import NameClashError, NodeNotFoundError, RepositoryError, TransientError
from flows.records import (
    base_fields,
    error_side,
    failure_fields,
    member_kind,
    relative_path,
    synced_fields,
)
from flows.reporting import Outcome, failure_summary, publish_artifacts
from flows.settings import Settings, get_settings
from models import store
from models.store import MemberRow
from models.tables import Member, SyncSet, utcnow
from models.writer import StateWriter
from sync.convert import base_from_member, options_from_sync_set
from sync.model import CLOUD, CREATES, ONPREM, Action, ActionKind, BaseRecord, Observation, Plan
from sync.names import name_key
from sync.planner import plan as make_plan
from tasks.connections import opened_repositories
from tasks.retry import call_with_retries, retry_options
from tasks.scan import TreeScan, gather_bounded, scan_folders, scan_tree
from tasks.streaming import hash_stream
from tasks.transfer import (
    BATCH_MAX_BYTES,
    DestinationChanged,
    RunContext,
    UnresolvedRef,
    action_label,
    compare_content,
    transfer,
    transfer_batch,
)
from vocabulary import ErrorCode, Side

K = ActionKind
T = TypeVar("T")
FREEING = frozenset({K.RENAME, K.MOVE, K.DELETE})
"""Actions that free a name; a later create or rename may need that name, so they keep plan order."""
NAMESPACE = FREEING | CREATES
STATE_ONLY = frozenset({K.RECORD_BASE, K.MARK_FAILED, K.DROP_MEMBER})
CLEAR_INTENT: dict[str, Any] = {"intent": None, "intent_at": None}


class SyncBusy(RuntimeError):
    """Another run holds the sync set; this run changed nothing."""


@dataclass
class RunResult:
    """What a run did, for its final state and for tests."""

    slug: str
    outcomes: list[Outcome] = field(default_factory=list)
    plan: Plan | None = None
    failure: str | None = None
    """The state message when the run must end Failed."""

    @property
    def ok(self) -> bool:
        return self.failure is None


def current_run_id() -> str:
    try:
        from prefect.runtime import flow_run

        run_id = flow_run.get_id()
    except (ImportError, MissingContextError):
        run_id = None
    return str(run_id) if run_id else f"local-{uuid.uuid4()}"


def _logger() -> Any:
    try:
        return get_run_logger()
    except MissingContextError:
        import logging

        return logging.getLogger("ecsync")


FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


async def holder_is_dead(holder: str | None) -> bool:
    """True when Prefect says the lease holder's flow run is over (a worker marks a killed child Crashed).

    Only a holder that is a flow run id Prefect knows can be judged; anything else (a local run, an
    unreachable API) is presumed alive and its lease runs out by expiry instead.
    """
    if not holder:
        return False
    try:
        run_id = uuid.UUID(holder)
    except ValueError:
        return False
    try:
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound

        async with get_client() as client:
            try:
                run = await client.read_flow_run(run_id)
            except ObjectNotFound:
                return True
    except Exception:
        return False
    state = run.state
    return state is not None and state.type.value in FINAL_STATES


async def _renew(database_url: str, sync_set_id: int, run_id: str, seconds: int) -> None:
    """The heartbeat: push the lease's expiry forward every third of its length while the run lives."""
    log = _logger()
    while True:
        await asyncio.sleep(max(seconds / 3, 1.0))
        try:
            renewed = await asyncio.to_thread(store.acquire_lease, database_url, sync_set_id, run_id, seconds)
        except Exception as exc:  # a database hiccup: the next beat tries again before expiry
            log.warning("Could not renew the lease of sync set %s: %s", sync_set_id, exc)
            continue
        if not renewed:
            log.error("Lost the lease of sync set %s to another run", sync_set_id)
            return


@contextlib.asynccontextmanager
async def leased(database_url: str, sync_set: SyncSet, run_id: str, settings: Settings) -> AsyncIterator[None]:
    """Hold the sync set for this run; wait up to `lease_wait_seconds` for another run to finish.

    The lease is short (`lease_seconds`) and renewed by a heartbeat while this run lives, so a run killed
    with SIGKILL blocks its sync set for at most `lease_seconds`; a holder Prefect reports as finished
    (Crashed, Failed, Cancelled, Completed) is taken over at once.
    """
    assert sync_set.id is not None
    seconds = settings.lease_seconds
    deadline = asyncio.get_running_loop().time() + settings.lease_wait_seconds
    while not store.acquire_lease(database_url, sync_set.id, run_id, seconds):
        holder, until = store.lease_holder(database_url, sync_set.id)
        if holder is not None and await holder_is_dead(holder):
            if store.take_over_lease(database_url, sync_set.id, run_id, holder, seconds):
                _logger().warning("Took over sync set %r from run %s, which is no longer running", sync_set.slug, holder)
                break
            continue
        if asyncio.get_running_loop().time() >= deadline:
            raise SyncBusy(
                f"Sync set {sync_set.slug!r} is being changed by run {holder} (lease until {until}); "
                "this run changed nothing and the next one will pick up"
            )
        await asyncio.sleep(1.0)
    heartbeat = asyncio.create_task(_renew(database_url, sync_set.id, run_id, seconds))
    try:
        yield
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        store.release_lease(database_url, sync_set.id, run_id)


class _SourceTagged:
    """Marks errors raised by a content source with its side, so a 403 reading on-prem reads SOURCE_..."""

    def __init__(self, source: AsyncIterator[bytes], side: Side) -> None:
        self._source = source
        self._side = side

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._source:
                yield chunk
        except RepositoryError as exc:
            exc.side = self._side  # type: ignore[attr-defined]
            raise


class _TaggingRepository:
    """A repository whose downloads tag their errors with the side they came from."""

    def __init__(self, inner: Repository, side: Side) -> None:
        self._inner = inner
        self._side = side

    def download(self, node_id: str) -> AsyncIterator[bytes]:
        return _SourceTagged(self._inner.download(node_id), self._side).__aiter__()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


BATCHED_KINDS = frozenset(
    {K.CREATE_FOLDER, K.UPDATE_METADATA, K.RENAME, K.MOVE, K.DELETE, K.LOCK, K.UNLOCK, K.ENSURE_VERSIONABLE}
)
"""Actions that move no content: always small enough for a `transfer-batch` task run."""
BATCH_SIZE = 100
BATCH_WAIT_SECONDS = 0.005
"""How long the first action of a batch waits for others to become ready before the batch starts."""
BACKLOG_PER_SLOT = 2
"""While running batches hold this many unfinished actions per transfer slot, new actions gather instead."""


class _Batcher:
    """Gathers small actions that are ready at about the same time into one `transfer-batch` task run.

    An action is submitted only once its dependencies are done, so the actions of a batch never depend on
    each other. A batch starts when it holds `BATCH_SIZE` actions, or `BATCH_WAIT_SECONDS` after its first
    while the running batches are short of work. While they hold a backlog (`BACKLOG_PER_SLOT` unfinished
    actions per slot) new actions gather into the next batch instead, which starts as soon as the backlog
    runs low: a busy run makes few, large task runs; a sparse one starts each action within milliseconds.
    Each action's result is handed back as the action ends, not when its whole batch does, so what waits for
    it (a folder's children) starts at once.
    """

    def __init__(self, batch_task: Any, context: RunContext, slots: asyncio.Semaphore, slot_count: int) -> None:
        self._task = batch_task
        self._context = context
        self._slots = slots
        self._low_water = max(1, BACKLOG_PER_SLOT * slot_count)
        self._pending: list[tuple[Action, asyncio.Future[Node | None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._active = 0
        """Actions in running batches that have not ended yet."""
        self.batches = 0
        self.submitted = 0

    async def submit(self, action: Action) -> Node | None:
        """The action's node once its batch ran it; its exception re-raised here, as a `transfer` would."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Node | None] = loop.create_future()
        self.submitted += 1
        self._pending.append((action, future))
        if len(self._pending) >= BATCH_SIZE:
            self._flush()
        elif self._active < self._low_water and self._timer is None:
            self._timer = loop.call_later(BATCH_WAIT_SECONDS, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            self._active += len(batch)
            self.batches += 1
            runner = asyncio.create_task(self._run(batch))
            self._running.add(runner)
            runner.add_done_callback(self._running.discard)

    def _settle(self, future: asyncio.Future[Node | None], result: Node | BaseException | None) -> None:
        if future.done():
            return
        self._active -= 1
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
        if self._pending and self._active < self._low_water and self._timer is None:
            self._flush()

    async def _run(self, batch: list[tuple[Action, asyncio.Future[Node | None]]]) -> None:
        actions = [action for action, _ in batch]
        futures = [future for _, future in batch]
        label = f"transfer-batch-{len(actions)}-{action_label(actions[0])}"[:120]

        def report(index: int, result: Node | Exception | None) -> None:
            self._settle(futures[index], result)

        try:
            # quote(): Prefect walks task arguments looking for futures, twice per task run; through 100
            # dataclass actions that walk cost more than the task run itself (bench/RESULTS.md).
            results = await self._task(self._context, quote(actions), label, self._slots, report)
        except BaseException as exc:  # the task run itself failed: every action of it not settled yet did
            for future in futures:
                self._settle(future, exc)
            if not isinstance(exc, Exception):
                raise
            return
        for future, result in zip(futures, results, strict=True):
            self._settle(future, result)


class SyncSetRun:
    """The state of one run of one sync set (members by key, the run context, outcomes)."""

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
    ) -> None:
        self.db = database_url
        self.writer = StateWriter(database_url)
        """Every member write of propagation goes through it (group commit, off the event loop)."""
        self.sync_set = sync_set
        self.repositories: dict[Side, Repository] = {
            ONPREM: _TaggingRepository(onprem, ONPREM),  # type: ignore[dict-item]
            CLOUD: _TaggingRepository(cloud, CLOUD),  # type: ignore[dict-item]
        }
        self.run_id = run_id
        self.settings = settings
        self.force = force
        self.scope_member_id = scope_member_id
        self.log = _logger()
        self.member_ids: dict[str, int] = {}
        """Members made by this run, by the planner's key; members planned from are found by `_member_id`."""
        self._dropped: set[str] = set()
        self.outcomes: list[Outcome] = []
        self.root_path: str | None = None
        self._base_cache: dict[int, BaseRecord] = {}
        """Each member's base as planned from, by member id (known hashes of unchanged content)."""
        self._in_flight: dict[int, dict[str, Any]] = {}
        self._record_follows: set[str] = set()
        """Members whose RECORD_BASE is in this run's plan (it clears their intent with the base)."""
        self._deferred_clear: set[int] = set()
        """Members whose intent clear was left to their RECORD_BASE and that have not reached it yet."""
        self.account: str | None = None
        opts = retry_options(settings.task_retries, settings.retry_backoff_seconds)
        self.transfer_task = transfer.with_options(**opts)
        self.batch_task = transfer_batch  # no task-level retries: a transient failure leaves the batch (see _transfer)
        self._batcher: _Batcher | None = None
        self._slots: asyncio.Semaphore | None = None
        self.scan_task = scan_folders  # no task-level retries: each folder is retried inside its chunk
        self.compare_task = compare_content.with_options(**opts)

    async def _retried(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        """A repository call made outside a task run, retried on transient failures like a task would be."""
        return await call_with_retries(call, self.settings.task_retries, self.settings.retry_backoff_seconds, what)

    # ------------------------------------------------------------------ recovery
    async def recover_intents(self, members: list[Member]) -> None:
        """Finish or adopt what a killed run left half done, then clear every intent."""
        for member in members:
            intent = member.intent
            if not intent or member.id is None:
                continue
            adopted = False
            if intent.get("kind") in (K.UPLOAD.value, K.CREATE_FOLDER.value):
                try:
                    adopted = await self._retried(lambda m=member, i=intent: self._adopt(m, i), "adopt a half-done create")
                except TransientError:
                    raise  # keep the intent: clearing it now would turn the node made into a name clash later
                except RepositoryError:
                    adopted = False
            if not adopted:
                store.update_member(self.db, member.id, intent=None, intent_at=None)
            self.log.info(
                "Recovered %s intent of member %s (%s): %s",
                intent.get("kind"),
                member.id,
                intent.get("name"),
                "adopted the node it made" if adopted else "cleared; the plan decides again",
            )

    async def _adopt(self, member: Member, intent: dict[str, Any]) -> bool:
        return await self._adopted_node(member, intent) is not None

    async def _adopted_node(self, member: Member, intent: dict[str, Any]) -> tuple[Node, str | None] | None:
        """The node an earlier attempt of this create made, recorded as the member's pair; None if there is none.

        A file is adopted only when its bytes equal the source's; a folder only while it is empty (a create
        whose record was lost cannot have children yet: they wait for it), so a stranger's node is never taken.
        """
        side: Side = intent["side"]
        source_side: Side = intent["source_side"]
        repository = self.repositories[side]
        wanted = name_key(intent["name"])
        found: Node | None = None
        made_id = intent.get("made_id")
        if made_id:  # the create succeeded and said which node it made: that one is certainly ours
            with contextlib.suppress(NodeNotFoundError):
                found = await repository.get(made_id)
        if found is None:
            async for page in repository.list_children(intent["parent_id"]):
                found = next((node for node in page if name_key(node.name) == wanted), found)
        if found is None:
            return None
        with store.session_scope(self.db) as session:
            paired = store.active_member_for_cloud(session, [found.id]) if side == CLOUD else []
            paired += store.active_member_for_onprem(session, [found.id]) if side == ONPREM else []
        if any(other.id != member.id for other, _ in paired):
            return None
        source = await self.repositories[source_side].get(intent["source_id"])
        sha: str | None = None
        if not found.is_folder:
            if source.is_folder:
                return None
            made_sha, _ = await hash_stream(repository.download(found.id))
            source_sha, _ = await hash_stream(self.repositories[source_side].download(source.id))
            if made_sha != source_sha:
                return None
            sha = made_sha
        elif not source.is_folder:
            return None
        elif found.id != made_id:
            async for page in repository.list_children(found.id):
                if page:
                    return None
        values = {
            **base_fields(side, found, sha),
            **base_fields(source_side, source, sha),
            **synced_fields(self.run_id),
        }
        assert member.id is not None
        store.update_member(self.db, member.id, **values)
        return found, sha

    async def _adopt_after_clash(self, action: Action, context: RunContext, member_id: int) -> Node | None:
        """A create that met its own name: an earlier attempt whose answer was lost (a dropped connection
        after the server made the node) made it. Adopt that node instead of failing with a name clash."""
        member = store.get_member(self.db, member_id)
        if member is None or not member.intent or "source_id" not in member.intent or "parent_id" not in member.intent:
            return None
        try:
            adopted = await self._retried(lambda: self._adopted_node(member, member.intent or {}), "adopt after a name clash")
        except TransientError:
            raise  # undecided: the caller keeps the intent for the next run's recovery
        except RepositoryError:
            return None
        if adopted is None:
            return None
        node, sha = adopted
        if sha is not None:
            context.sha[(action.side, node.id)] = sha
            context.sha[(member.intent["source_side"], member.intent["source_id"])] = sha
        context.created[(action.side, action.new_member or action.member)] = node
        context.remember(action.side, node)
        self.log.info("Adopted %s %s made by an earlier attempt whose answer was lost", action.side, node.name)
        return node

    # ------------------------------------------------------------------ scan
    async def scan(self, members: Sequence[MemberRow]) -> tuple[Observation, Observation]:
        include = self.sync_set.include_subfolders
        concurrency = self.settings.scan_concurrency
        onprem_nodes: dict[str, Node] = {}
        onprem_listed: set[str] = set()
        direct = [m for m in members if m.direct and m.onprem_id]
        fetched = await gather_bounded(
            (self._retried(lambda m=m: self.repositories[ONPREM].get(m.onprem_id), "read a direct member") for m in direct),
            concurrency,
        )
        for member, result in zip(direct, fetched, strict=True):
            if isinstance(result, NodeNotFoundError):
                if member.op_parent_id:
                    onprem_listed.add(member.op_parent_id)
                continue
            if isinstance(result, BaseException):
                if isinstance(result, RepositoryError):
                    self.log.warning("Could not read on-prem item %s: %s", member.onprem_id, result)
                    continue
                raise result
            onprem_nodes[result.id] = result
            for parent in (member.op_parent_id, result.parent_id):
                if parent:
                    onprem_listed.add(parent)
            if result.is_folder and self.root_path is None:
                self.root_path = f"{(result.path or '').rstrip('/')}/{result.name}"
        onprem_roots = [node.id for node in onprem_nodes.values() if node.is_folder]
        onprem_scan = await self._scan_tree(ONPREM, onprem_roots, include)
        onprem_nodes.update(onprem_scan.nodes)
        onprem_listed |= onprem_scan.complete

        target = self.sync_set.target_folder_id
        target_scan = await self._scan_tree(CLOUD, [target], False)
        cloud_nodes = dict(target_scan.nodes)
        cloud_listed = set(target_scan.complete)
        cloud_roots = [m.cloud_id for m in direct if m.kind == "folder" and m.cloud_id and m.cloud_id in cloud_nodes]
        cloud_scan = await self._scan_tree(CLOUD, cloud_roots, include)
        cloud_nodes.update(cloud_scan.nodes)
        cloud_listed |= cloud_scan.complete
        for failed_scan in (onprem_scan, target_scan, cloud_scan):
            for folder, error in failed_scan.failed.items():
                self.log.warning("Folder %s could not be listed; its content is left as it is this run: %s", folder, error)
        return (
            Observation(nodes=onprem_nodes, listed=frozenset(onprem_listed)),
            Observation(nodes=cloud_nodes, listed=frozenset(cloud_listed)),
        )

    async def _scan_tree(self, side: Side, roots: list[str], recursive: bool) -> TreeScan:
        if not roots:
            return TreeScan()
        return await scan_tree(
            self.repositories[side],
            side,
            roots,
            recursive=recursive,
            concurrency=self.settings.scan_concurrency,
            scan_task=self.scan_task,
            retries=self.settings.task_retries,
            backoff_seconds=self.settings.retry_backoff_seconds,
        )

    # ------------------------------------------------------------------ plan
    def _member_id(self, key: str) -> int | None:
        """The member row behind a planner key: "m<id>" for the members planned from (no dict of 100k keys
        kept for them), the run's own dict for members it made."""
        made = self.member_ids.get(key)
        if made is not None or key in self._dropped or not key.startswith("m"):
            return made
        try:
            number = int(key[1:])
        except ValueError:
            return None
        return number if number in self._base_cache else None

    def load_members(self) -> tuple[list[BaseRecord], list[MemberRow]]:
        """Every member as the planner's record, streamed from the database; the direct members' rows.

        Rows become records as they arrive and are not kept: at 100k members a list of rows beside the list
        of records was a third of a run's peak memory.
        """
        records: list[BaseRecord] = []
        direct: list[MemberRow] = []
        shared: dict[str, str] = {}
        for row in store.iter_member_rows(self.db, self.sync_set.id or 0):
            record = base_from_member(row, shared)
            records.append(record)
            self._base_cache[row.id] = record
            if row.direct:
                direct.append(row)
        return records, direct

    async def plan(self, records: list[BaseRecord], onprem: Observation, cloud: Observation) -> Plan:
        options = options_from_sync_set(self.sync_set, force=self.force)
        observations = {ONPREM: onprem, CLOUD: cloud}
        for _round in range(3):
            plan = make_plan(
                records,
                observations[ONPREM],
                observations[CLOUD],
                target_folder_id=self.sync_set.target_folder_id,
                options=options,
                now=utcnow(),
                scope=self.scope_member_id,
            )
            if not plan.needs_compare:
                return plan
            wanted: list[tuple[Side, str]] = []
            for action in plan.actions:
                if action.kind is K.COMPARE:
                    for side in action.hash_sides:
                        ref = action.onprem if side == ONPREM else action.cloud
                        if ref is not None and ref.node_id:
                            wanted.append((side, ref.node_id))
            digests = await gather_bounded(
                (self.compare_task(self.repositories[side], side, node_id) for side, node_id in wanted),
                self.settings.transfer_concurrency,
            )
            hashes: dict[Side, dict[str, str]] = {ONPREM: dict(onprem.sha256), CLOUD: dict(cloud.sha256)}
            for (side, node_id), digest in zip(wanted, digests, strict=True):
                if isinstance(digest, str):
                    hashes[side][node_id] = digest
                else:
                    self.log.warning("Could not hash %s node %s: %s", side, node_id, digest)
            observations = {
                side: Observation(observations[side].nodes, observations[side].listed, hashes[side]) for side in (ONPREM, CLOUD)
            }
            onprem, cloud = observations[ONPREM], observations[CLOUD]
        return plan

    # ------------------------------------------------------------------ propagate
    async def propagate(self, plan: Plan, observed: Mapping[Side, Observation]) -> None:
        context = RunContext(
            self.repositories,
            {side: obs.nodes for side, obs in observed.items()},
            {side: obs.sha256 for side, obs in observed.items()},
        )
        actions = plan.actions
        self._record_follows = {action.member for action in actions if action.kind is K.RECORD_BASE}
        done: list[asyncio.Event] = [asyncio.Event() for _ in actions]
        succeeded: list[bool] = [False] * len(actions)
        failed_members: set[str] = set()
        creator: dict[tuple[Side, str], int] = {}
        last_of_member: dict[str, int] = {}
        last_freeing: int | None = None
        semaphore = asyncio.Semaphore(self.settings.transfer_concurrency)
        self._slots = semaphore
        self._batcher = _Batcher(self.batch_task, context, semaphore, self.settings.transfer_concurrency)
        running: set[asyncio.Task[None]] = set()
        progress_id = None
        if len(actions) >= 50:
            progress_id = await acreate_progress_artifact(
                progress=0.0, description=f"Sync set {self.sync_set.slug}: {len(actions)} actions"
            )
        finished = 0

        async def run_one(index: int, action: Action, deps: list[int]) -> None:
            nonlocal finished
            try:
                for dep in deps:
                    await done[dep].wait()
                blocked = [d for d in deps if not succeeded[d]]
                if blocked or action.member in failed_members:
                    self._skipped(action, "an earlier step for it did not succeed")
                    return
                if action.kind in STATE_ONLY or self._batchable(action, context):
                    # State writes need no slot; a batched action takes one inside its batch, per repository call.
                    succeeded[index] = await self._do(action, context, plan)
                else:
                    async with semaphore:
                        succeeded[index] = await self._do(action, context, plan)
                if not succeeded[index]:
                    failed_members.add(action.member)
            finally:
                done[index].set()
                finished += 1
                if progress_id is not None and finished % max(1, len(actions) // 20) == 0:
                    await aupdate_progress_artifact(progress_id, progress=100.0 * finished / len(actions))

        for index, action in enumerate(actions):
            deps: set[int] = set()
            if action.member in last_of_member:
                deps.add(last_of_member[action.member])
            for ref in (action.node, action.parent, action.source, action.onprem, action.cloud):
                if ref is not None and ref.node_id is None and (ref.side, ref.member) in creator:
                    deps.add(creator[(ref.side, ref.member)])
            if action.kind in NAMESPACE and last_freeing is not None:
                deps.add(last_freeing)
            if action.kind in CREATES:
                creator[(action.side, action.new_member or action.member)] = index
            if action.kind in FREEING:
                last_freeing = index
            last_of_member[action.member] = index
            if action.new_member:
                last_of_member[action.new_member] = index
            task = asyncio.create_task(run_one(index, action, sorted(deps)))
            running.add(task)
            task.add_done_callback(running.discard)
        if running:
            await asyncio.gather(*running)
        for member_id in sorted(self._deferred_clear):  # a RECORD_BASE skipped or failed: clear what it would have
            self.writer.post(member_id, **CLEAR_INTENT)
        self._deferred_clear.clear()
        await self.writer.drain()
        if self._batcher.batches:
            self.log.info(
                "%d actions planned; %d small ones ran in %d transfer-batch task runs, the rest as transfer task runs",
                len(actions),
                self._batcher.submitted,
                self._batcher.batches,
            )
        if progress_id is not None:
            await aupdate_progress_artifact(progress_id, progress=100.0)

    def _skipped(self, action: Action, why: str) -> None:
        if action.kind not in STATE_ONLY:
            self.outcomes.append(Outcome(action.kind.value, self._item(action), self._direction(action), "skipped", None, why))

    def _item(self, action: Action) -> str:
        return action.name or action.member

    @staticmethod
    def _direction(action: Action) -> str:
        if action.kind in STATE_ONLY:
            return ""
        return "to cloud" if action.side == CLOUD else "to on-prem"

    async def _do(self, action: Action, context: RunContext, plan: Plan) -> bool:
        """Carry out one action and record its effect; False when it failed (already recorded)."""
        if action.kind is K.RECORD_BASE:
            return await self._record_base(action, context)
        if action.kind is K.MARK_FAILED:
            await self._mark_failed(action, context, plan)
            return True
        if action.kind is K.DROP_MEMBER:
            member_id = self._member_id(action.member)
            self.member_ids.pop(action.member, None)
            self._dropped.add(action.member)
            if member_id is not None:
                self.writer.post_delete([member_id])
            return True
        if action.kind is K.COMPARE:
            return True
        if action.kind is K.LOCK and self._locked_by_someone_else(action, context):
            self.outcomes.append(
                Outcome("lock", self._item(action), "to on-prem", "skipped", None, "already locked by another user")
            )
            return True
        member_id = await self._intent(action, context)
        try:
            node = await self._transfer(context, action)
        except UnresolvedRef as exc:
            self._skipped(action, str(exc))
            return False
        except DestinationChanged as exc:
            # Someone edited the destination during this run: leave it and the member's base as they are, so
            # the next run plans that edit as a change or a conflict instead of this run overwriting it.
            if member_id is not None:
                self._in_flight.pop(member_id, None)
                self.writer.post(member_id, **CLEAR_INTENT)
            self.log.warning("%s of %s skipped: %s; the next run picks it up", action.kind.value, self._item(action), exc)
            self._skipped(action, str(exc))
            return False
        except NameClashError as exc:
            adopted = None
            if action.kind in (K.UPLOAD, K.CREATE_FOLDER) and member_id is not None:
                try:
                    adopted = await self._adopt_after_clash(action, context, member_id)
                except TransientError as undecided:
                    # Whether the node met is ours could not be read: keep the intent, so the next run's recovery
                    # adopts it then, instead of leaving it a stranger that clashes with its own source forever.
                    self._failed(action, undecided, plan, member_id, keep_intent=True)
                    return False
            if adopted is None:
                self._failed(action, exc, plan, member_id)
                return False
            node = adopted
        except RepositoryError as exc:
            self._failed(action, exc, plan, member_id)
            return False
        if member_id is not None:
            values: dict[str, Any] = {"intent": None, "intent_at": None}
            intent = self._in_flight.pop(member_id, None)
            if action.kind in (K.UPLOAD, K.CREATE_FOLDER) and node is not None and intent is not None:
                # Until RECORD_BASE pairs the two nodes, only the intent knows this node is ours: keep it, with
                # the id made, so a run killed in between adopts the node instead of meeting it as a name clash.
                values["intent"] = {**intent, "made_id": node.id}
                values.pop("intent_at")
            if action.kind is K.LOCK:
                values["locked_by_sync"] = True
            elif action.kind is K.UNLOCK:
                values["locked_by_sync"] = False
            if values == CLEAR_INTENT and action.member in self._record_follows:
                # The member's RECORD_BASE comes later in this plan and clears the intent with the base
                # (synced_fields), so this write is left out: one commit less per file. A run killed in between
                # leaves a non-create intent, which recovery clears ("the plan decides again"), exactly as if
                # it had been killed during the call; whatever does not reach RECORD_BASE is cleared at the end.
                self._deferred_clear.add(member_id)
            else:
                self.writer.post(member_id, **values)
        detail = action.reason
        self.outcomes.append(
            Outcome(action.kind.value, self._item_of(action, node), self._direction(action), "done", None, detail)
        )
        return True

    def _batchable(self, action: Action, context: RunContext) -> bool:
        """Small enough for a `transfer-batch`: no content, or content of a known size up to BATCH_MAX_BYTES."""
        if action.kind in BATCHED_KINDS:
            return True
        if action.kind in (K.UPLOAD, K.UPDATE_CONTENT) and action.source is not None and action.source.node_id:
            source = context.observed[action.source.side].get(action.source.node_id)
            return source is not None and source.size is not None and source.size <= BATCH_MAX_BYTES
        return False

    async def _transfer(self, context: RunContext, action: Action) -> Node | None:
        """Carry out one repository action: in a `transfer-batch` task run when it is small, else (and after a
        transient failure in its batch) as its own `transfer` task run.

        The batch tries each action once. An action that failed transiently there is handed to its own
        `transfer` task run, whose Prefect retries (transient failures only) are task-run states in run history:
        so every retry stays visible there, and only the actions that met a fault pay for a task run of their own.
        A create whose first answer was lost meets its own node on that retry as a name clash, and `_do` adopts it.
        """
        label = action_label(action)
        if self._batcher is None or self._slots is None or not self._batchable(action, context):
            return await self.transfer_task(context, quote(action), label)
        try:
            return await self._batcher.submit(action)
        except TransientError as exc:
            self.log.warning("%s failed transiently in its batch, retried as its own task run: %s", label, exc)
            async with self._slots:
                return await self.transfer_task(context, quote(action), label)

    def _locked_by_someone_else(self, action: Action, context: RunContext) -> bool:
        """A lock someone else holds is theirs: the sync neither takes it over nor claims it as its own."""
        assert action.node is not None
        try:
            node = context.node(action.node)
        except UnresolvedRef:
            return False
        return bool(node is not None and node.is_locked and node.lock_owner and node.lock_owner != self.account)

    def _item_of(self, action: Action, node: Node | None) -> str:
        if node is not None:
            return node.name
        return self._item(action)

    async def _intent(self, action: Action, context: RunContext) -> int | None:
        """Write the action in flight to its member before the call (a new pair gets its row now)."""
        intent: dict[str, Any] = {"kind": action.kind.value, "side": action.side, "run": self.run_id}
        if action.parent is not None and context.can_resolve(action.parent):
            intent["parent_id"] = context.resolve(action.parent)
        if action.name:
            intent["name"] = action.name
        if action.source is not None and context.can_resolve(action.source):
            intent["source_side"] = action.source.side
            intent["source_id"] = context.resolve(action.source)
        member_id = self._member_id(action.member)
        if member_id is None and action.kind in (K.UPLOAD, K.CREATE_FOLDER) and action.source is not None:
            member_id = await self._insert_intended(action, context, intent)
        elif member_id is not None:
            await self.writer.update(member_id, intent=intent, intent_at=utcnow())
        if member_id is not None:
            self._in_flight[member_id] = intent
        return member_id

    async def _insert_intended(self, action: Action, context: RunContext, intent: dict[str, Any]) -> int | None:
        """The row of a new pair, written with its intent before the create is sent."""
        assert action.source is not None
        source_id = intent.get("source_id")
        if source_id is None:
            return None
        source_side = action.source.side
        source_node = context.observed[source_side].get(source_id) or context.latest.get((source_side, source_id))
        row = {
            "sync_set_id": self.sync_set.id or 0,
            "kind": member_kind(action.is_folder),
            "direct": action.direct,
            "rel_path": relative_path(source_node, self.root_path) if source_node else action.name or "",
            "intent": intent,
            "intent_at": utcnow(),
            f"{source_side}_id": source_id,
        }
        member_id = await self.writer.insert(row)
        self.member_ids[action.member] = member_id
        return member_id

    async def _record_base(self, action: Action, context: RunContext) -> bool:
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
        if nodes.get(ONPREM) is None or nodes.get(CLOUD) is None:
            self._skipped(action, "one side of the pair is missing")
            return False
        values.update(synced_fields(self.run_id))
        values["kind"] = member_kind(action.is_folder)
        values["direct"] = action.direct
        onprem_node = nodes[ONPREM]
        assert onprem_node is not None
        if not action.direct:
            values["rel_path"] = relative_path(onprem_node, self.root_path)
        else:
            values["rel_path"] = ""
        member_id = self._member_id(action.member)
        if member_id is None:
            member_id = await self.writer.insert({"sync_set_id": self.sync_set.id or 0, **values})
            self.member_ids[action.member] = member_id
        else:
            self.writer.post(member_id, **values)
            self._deferred_clear.discard(member_id)
        return True

    def _sha(self, context: RunContext, side: Side, node: Node, key: str) -> str | None:
        known = context.sha.get((side, node.id))
        if known is not None or node.is_folder:
            return known
        member_id = self._member_id(key)
        if member_id is None:
            return None
        record = self._base_cache.get(member_id)
        base = None if record is None else record.onprem if side == ONPREM else record.cloud
        if base is None:
            return None
        same = (
            base.node_id == node.id
            and base.size == node.size
            and base.version == node.version_label
            and (node.version_label is not None or base.modified_at == node.modified_at)
        )
        return base.sha256 if same else None

    async def _mark_failed(self, action: Action, context: RunContext, plan: Plan) -> None:
        code = action.error_code or ErrorCode.UNKNOWN
        report = {"operation": "plan", "brief_summary": action.reason}
        values = failure_fields(code, report, self.run_id, plan.fingerprints.get(action.member), action="plan")
        member_id = self._member_id(action.member)
        if member_id is None:
            ids: dict[str, Any] = {}
            kind = None
            for side, ref in ((ONPREM, action.onprem), (CLOUD, action.cloud)):
                if ref is not None and ref.node_id:
                    ids[f"{side}_id"] = ref.node_id
                    node = context.observed[side].get(ref.node_id)
                    if node is not None:
                        kind = node.is_folder
                        ids["rel_path"] = relative_path(node, self.root_path) if side == ONPREM else node.name
            row = Member(sync_set_id=self.sync_set.id or 0, kind=member_kind(kind), **ids, **values)
            self.member_ids[action.member] = await self.writer.insert(row)
        else:
            self.writer.post(member_id, **values)
        self.outcomes.append(Outcome("mark-failed", self._item(action), "", "failed", code.value, action.reason))
        self.log.error("Not synced: %s: %s (%s)", action.member, code.value, action.reason)

    def _failed(
        self, action: Action, exc: RepositoryError, plan: Plan, member_id: int | None, *, keep_intent: bool = False
    ) -> None:
        side = error_side(exc, action.side)
        code = exc.code_for(side)
        values = failure_fields(
            code, exc.report, self.run_id, plan.fingerprints.get(action.member), action=action.kind.value, side=side
        )
        if keep_intent:
            del values["intent"], values["intent_at"]
            if member_id is not None:
                self._in_flight.pop(member_id, None)
        if member_id is not None:
            self.writer.post(member_id, **values)
        self.outcomes.append(
            Outcome(action.kind.value, self._item(action), self._direction(action), "failed", code.value, exc.message)
        )
        level = self.log.warning if isinstance(exc, TransientError) else self.log.error
        level("%s failed for %s: %s. Technical report: %s", action.kind.value, self._item(action), code.value, exc.report)

    # ------------------------------------------------------------------ whole run
    async def run(self) -> RunResult:
        self.account = await self._retried(self.repositories[ONPREM].whoami, "whoami")
        intents = store.pending_intents(self.db, self.sync_set.id or 0)
        if intents:
            await self.recover_intents(intents)
        # Light rows, not ORM objects: the planner, the scan and the base cache only read columns.
        records, direct = self.load_members()
        onprem, cloud = await self.scan(direct)
        plan = await self.plan(records, onprem, cloud)
        for conflict in plan.conflicts:
            self.log.warning(
                "Conflict on %s (%s): %s wins by %s; the other side's version is kept as %s",
                conflict.member,
                ", ".join(conflict.aspects),
                conflict.winner,
                conflict.policy.value,
                conflict.loser_kept_as,
            )
        for ignored in plan.ignored:
            self.log.info("Ignored %s %s: %s", ignored.side, ignored.name, ignored.reason)
        try:
            await self.propagate(plan, {ONPREM: onprem, CLOUD: cloud})
        finally:
            await self.writer.close()  # what was queued is committed even when propagation raised
        # The report counts in SQL (one aggregate) instead of loading every member a second time.
        summary = store.member_summary(self.db, self.sync_set.id or 0)
        failure = failure_summary(summary)
        if plan.guard.tripped:
            self.log.error(plan.guard.message)
            failure = plan.guard.message if failure is None else f"{plan.guard.message}; {failure}"
        await publish_artifacts(self.sync_set, summary, self.outcomes, self.view_in_cloud())
        return RunResult(self.sync_set.slug, self.outcomes, plan, failure)

    def view_in_cloud(self) -> str | None:
        try:
            folder = self.repositories[CLOUD]
            node = Node(id=self.sync_set.target_folder_id, name=self.sync_set.target_folder_path, parent_id=None, is_folder=True)
            return folder.web_url(node)
        except Exception:
            return None


async def run_sync_set(
    database_url: str,
    slug: str,
    *,
    force: bool = False,
    scope_member_id: int | None = None,
    settings: Settings | None = None,
    repositories: tuple[Repository, Repository] | None = None,
) -> RunResult:
    """Reconcile one sync set under its lease, with its own repositories for this run.

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
        engine = SyncSetRun(
            database_url,
            sync_set,
            onprem,
            cloud,
            run_id=run_id,
            settings=settings,
            force=force,
            scope_member_id=scope_member_id,
        )
        return await engine.run()

"""The transfer: carry out one planned action against one repository, as a retryable Prefect task
(`transfer`, one per large file) or together with other small ones (`transfer-batch`).

Content is streamed from the source repository straight into the target, hashed on the way, so memory
stays flat whatever the file size and the base records the hash of the bytes that actually moved.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, State

from connectors.base import Node, Repository
from connectors.errors import NameClashError, RepositoryError
from sync.clash import holder_description
from sync.model import Action, ActionKind, Ref
from sync.names import name_key
from sync.paths import ItemPaths
from tasks.batching import Report
from tasks.run_log import run_logger
from tasks.streaming import HashingStream, hash_stream
from vocabulary import Side

K = ActionKind


class UnresolvedRef(LookupError):
    """An action refers to a node that an earlier action of the plan should have created but did not."""


DESTINATION_UPDATED = "destination updated during synchronization"
"""Unison's wording for an item whose target changed after the scan; the member waits for the next run."""

GATED = frozenset({K.UPDATE_CONTENT, K.UPDATE_METADATA, K.RENAME, K.MOVE, K.DELETE})
"""Actions that overwrite or remove what the scan saw on the destination: each re-checks it first."""


class DestinationChanged(Exception):
    """The destination moved on since the scan (someone edited it during the run): this action must not
    overwrite it. Not a `RepositoryError`, so it is never retried and never marks the member failed; the
    member keeps its base and the next run plans the edit as a change or a conflict."""

    def __init__(self, action: Action, what: str) -> None:
        super().__init__(f"{DESTINATION_UPDATED} ({action.side} {what})")
        self.what = what


class _SourceTagged:
    """A content stream whose errors carry its side, so a 403 reading on-prem reads SOURCE_NODE_ACCESS_DENIED."""

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


class SideTagged:
    """A repository whose downloads tag their errors with the side they came from (see `error_side`)."""

    def __init__(self, inner: Repository, side: Side) -> None:
        self._inner = inner
        self._side = side

    def download(self, node_id: str) -> AsyncIterator[bytes]:
        return _SourceTagged(self._inner.download(node_id), self._side).__aiter__()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class RunContext:
    """What the actions of one run share: the open repositories and every node seen or made so far.

    Deliberately not a dataclass: Prefect walks dataclass task arguments looking for futures, and this one
    holds whole scans.
    """

    def __init__(
        self,
        repositories: Mapping[Side, Repository],
        observed: Mapping[Side, Mapping[str, Node]],
        known_sha: Mapping[Side, Mapping[str, str]] | None = None,
    ) -> None:
        self.repositories = dict(repositories)
        self.observed = observed
        self.created: dict[tuple[Side, str], Node] = {}
        self.latest: dict[tuple[Side, str], Node] = {}
        self.sha: dict[tuple[Side, str], str] = {}
        for side, hashes in (known_sha or {}).items():
            for node_id, digest in hashes.items():
                self.sha[(side, node_id)] = digest

    def resolve(self, ref: Ref) -> str:
        if ref.node_id is not None:
            return ref.node_id
        made = self.created.get((ref.side, ref.member))
        if made is None:
            raise UnresolvedRef(f"no {ref.side} node was made for {ref.member}")
        return made.id

    def can_resolve(self, ref: Ref | None) -> bool:
        return ref is None or ref.node_id is not None or (ref.side, ref.member) in self.created

    def node(self, ref: Ref) -> Node | None:
        return self.current(ref.side, self.resolve(ref))

    def current(self, side: Side, node_id: str) -> Node | None:
        """The node as this run last saw it: after its own actions, else as scanned."""
        return self.latest.get((side, node_id)) or self.observed[side].get(node_id)

    def remember(self, side: Side, node: Node) -> None:
        self.latest[(side, node.id)] = node


async def _copy_content(context: RunContext, action: Action, source_ref: Ref) -> tuple[HashingStream, str]:
    source_side = source_ref.side
    source_id = context.resolve(source_ref)
    stream = HashingStream(context.repositories[source_side].download(source_id))
    return stream, source_id


async def _started(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The same stream, with its first chunk already fetched.

    The re-check of the destination must come after the slow part of reading the source (the request and
    its first bytes), or an edit made while the source answers slips in between the check and the write.
    """
    try:
        first = await anext(source)
    except StopAsyncIteration:
        first = None

    async def rest() -> AsyncIterator[bytes]:
        if first is not None:
            yield first
        async for chunk in source:
            yield chunk

    return rest()


def _differences(seen: Node, now: Node) -> list[str]:
    """What changed on a node between two reads. A folder's modification time is left out: on a local
    disk it moves whenever the run itself adds or removes a child."""
    changed = [f"name {seen.name!r} -> {now.name!r}"] if seen.name != now.name else []
    if seen.parent_id != now.parent_id:
        changed.append("moved to another folder")
    if not seen.is_folder:
        if seen.size != now.size:
            changed.append(f"size {seen.size} -> {now.size}")
        if seen.version_label is not None and now.version_label is not None and seen.version_label != now.version_label:
            changed.append(f"version {seen.version_label} -> {now.version_label}")
        if seen.modified_at is not None and now.modified_at is not None and seen.modified_at != now.modified_at:
            changed.append("modified since the scan")
    return changed


def _own_effect(context: RunContext, action: Action, seen: Node, now: Node) -> bool:
    """True when the destination differs from what the run saw exactly as this rename or move changes it.

    That is an earlier attempt of this same action whose answer was lost (the connection dropped after the
    server applied it): the retry finds the work done, instead of refusing it as someone else's edit and
    holding back every later change of the run's namespace. A file counts only when its size and version
    label are unchanged (a rename touches its modification time, a content edit its version), so an edit
    made by someone else is never taken for ours.
    """
    if action.kind not in (K.RENAME, K.MOVE) or (action.name is None and action.kind is K.RENAME):
        return False
    if action.name is not None and now.name != action.name:
        return False
    if action.kind is K.MOVE:
        if action.parent is None or not context.can_resolve(action.parent) or now.parent_id != context.resolve(action.parent):
            return False
    elif now.parent_id != seen.parent_id:
        return False
    if not seen.is_folder and (seen.version_label is None or seen.version_label != now.version_label or seen.size != now.size):
        return False
    return seen.is_folder == now.is_folder


async def recheck_destination(context: RunContext, action: Action) -> Node | None:
    """Unison's last check: read the destination again and refuse to overwrite it if it moved on.

    Compared with what this run last saw of it (the scan, or the answer of an earlier action of this run).
    A node made in this run, or one the run never saw, has nothing to compare with. The window left between
    this read and the write is the length of one request: Alfresco has no optimistic locking. Returns the
    node when a rename or move is found already done by an earlier attempt of its own (`_own_effect`).
    """
    assert action.node is not None
    node_id = context.resolve(action.node)
    seen = context.latest.get((action.side, node_id)) or context.observed[action.side].get(node_id)
    if seen is None:
        return None
    now = await context.repositories[action.side].get(node_id)
    changed = _differences(seen, now)
    if changed and _own_effect(context, action, seen, now):
        return now
    if changed:
        raise DestinationChanged(action, f"{now.name}: {', '.join(changed)}")
    return None


async def carry_out(context: RunContext, action: Action) -> Node | None:
    """Do one action; return the node it made or changed (None for a delete or a pure record).

    A name clash met here (someone took the name after the scan) says which node holds the name, where, and
    who made it, so the failed task run and Sync Info tell a person what to rename or move.
    """
    try:
        return await _carry_out(context, action)
    except NameClashError as exc:
        holder = await _name_holder(context, action)
        if holder is None:
            raise
        raise NameClashError(f"{exc.message}: {holder}", exc.report) from exc


async def _name_holder(context: RunContext, action: Action) -> str | None:
    """Who holds the name `action` wanted: one listing of the folder, only after a clash."""
    if action.parent is None or action.name is None or not context.can_resolve(action.parent):
        return None
    parent_id = context.resolve(action.parent)
    wanted = name_key(action.name)
    own = context.resolve(action.node) if action.node is not None and context.can_resolve(action.node) else None
    try:
        async for page in context.repositories[action.side].list_children(parent_id):
            for node in page:
                if name_key(node.name) == wanted and node.id != own:
                    paths = ItemPaths(context.current)
                    return holder_description(action.side, node, paths.folder(action.side, parent_id))
    except RepositoryError:
        return None
    return None


async def _carry_out(context: RunContext, action: Action) -> Node | None:
    repository = context.repositories[action.side]
    kind = action.kind
    node: Node | None = None
    if kind in GATED and kind is not K.UPDATE_CONTENT:
        already = await recheck_destination(context, action)
        if already is not None:  # a retried rename or move whose first answer was lost: it is done
            context.remember(action.side, already)
            return already
    if kind is K.CREATE_FOLDER:
        assert action.parent is not None and action.name is not None
        node = await repository.create_folder(context.resolve(action.parent), action.name, action.metadata)
        context.created[(action.side, action.member)] = node
    elif kind in (K.UPLOAD, K.CONFLICT_COPY):
        assert action.parent is not None and action.name is not None
        source_ref = action.source if kind is K.UPLOAD else action.node
        assert source_ref is not None
        stream, source_id = await _copy_content(context, action, source_ref)
        source_node = context.observed[source_ref.side].get(source_id) or context.latest.get((source_ref.side, source_id))
        node = await repository.upload(
            context.resolve(action.parent),
            action.name,
            stream,
            metadata=action.metadata,
            mime_type=source_node.mime_type if source_node else None,
        )
        context.created[(action.side, action.new_member or action.member)] = node
        context.sha[(action.side, node.id)] = stream.sha256
        context.sha[(source_ref.side, source_id)] = stream.sha256
    elif kind is K.UPDATE_CONTENT:
        assert action.node is not None and action.source is not None
        source_id = context.resolve(action.source)
        download = context.repositories[action.source.side].download(source_id)
        raw = await _started(download)
        try:
            await recheck_destination(context, action)
        except BaseException:
            aclose = getattr(download, "aclose", None)
            if aclose is not None:
                await aclose()  # let go of the source's open response
            raise
        stream = HashingStream(raw)
        node = await repository.update_content(context.resolve(action.node), stream)
        context.sha[(action.side, node.id)] = stream.sha256
        context.sha[(action.source.side, source_id)] = stream.sha256
    elif kind is K.UPDATE_METADATA:
        assert action.node is not None and action.metadata is not None
        node = await repository.update_metadata(context.resolve(action.node), action.metadata)
    elif kind is K.RENAME:
        assert action.node is not None and action.name is not None
        node = await repository.rename(context.resolve(action.node), action.name)
    elif kind is K.MOVE:
        assert action.node is not None and action.parent is not None
        node = await repository.move(context.resolve(action.node), context.resolve(action.parent), action.name)
    elif kind is K.DELETE:
        assert action.node is not None
        await repository.delete(context.resolve(action.node))
    elif kind is K.LOCK:
        assert action.node is not None
        node = await repository.lock(context.resolve(action.node))
    elif kind is K.UNLOCK:
        assert action.node is not None
        node = await repository.unlock(context.resolve(action.node))
    elif kind is K.ENSURE_VERSIONABLE:
        assert action.node is not None
        node = await repository.ensure_versionable(context.resolve(action.node))
    else:
        raise ValueError(f"{kind} is not a repository action")
    if node is not None:
        context.remember(action.side, node)
    return node


@task(name="transfer", cache_policy=NO_CACHE, persist_result=False, task_run_name="{label}")
async def transfer(context: RunContext, action: Action, label: str) -> Node | None:
    """One planned action as its own retryable, visible task run."""
    return await carry_out(context, action)


BATCH_MAX_BYTES = 1024 * 1024
"""Content actions up to this size go into `transfer-batch` task runs; larger files keep a `transfer` each."""


async def carry_out_batch(
    context: RunContext,
    actions: Sequence[Action],
    labels: Sequence[str],
    slots: asyncio.Semaphore,
    report: Report | None = None,
) -> tuple[list[Node | Exception | None], str]:
    """Carry out several independent actions side by side: each one's node or exception in its place, and a
    one-line account of the batch (what was done, what was handed on)."""
    log = run_logger()

    async def one(index: int, action: Action) -> Node | Exception | None:
        result: Node | Exception | None
        async with slots:
            try:
                result = await carry_out(context, action)
            except Exception as exc:
                log.warning("%s: %s", labels[index], exc)
                result = exc
        if report is not None:  # the engine starts what waited for this action now, not when the batch ends
            report(index, result)
        return result

    results = list(await asyncio.gather(*(one(index, action) for index, action in enumerate(actions))))
    done = [label for label, result in zip(labels, results, strict=True) if not isinstance(result, Exception)]
    if done:
        log.info("%d of %d done:\n%s", len(done), len(actions), "\n".join(done))
    handed = [label for label, result in zip(labels, results, strict=True) if isinstance(result, RepositoryError)]
    message = f"{len(done)} of {len(actions)} done"
    if handed:
        message += f"; {len(handed)} failed here and went on to a task run of their own: " + "; ".join(handed[:5])
        message += f" and {len(handed) - 5} more" if len(handed) > 5 else ""
    return results, message


@task(name="transfer-batch", cache_policy=NO_CACHE, persist_result=False, task_run_name="{label}")
async def transfer_batch(
    context: RunContext,
    actions: Sequence[Action],
    labels: Sequence[str],
    label: str,
    slots: asyncio.Semaphore,
    report: Report | None = None,
) -> State[list[Node | Exception | None]]:
    """Several small, independent actions (folders, metadata, locks, renames, moves, deletes, files under
    `BATCH_MAX_BYTES`) as one task run: Prefect's ~3-7 ms of machinery per task run was most of a sync of
    small files (bench/RESULTS.md).

    Each action is carried out on its own (at most `slots` repository calls in flight across the run) and
    its answer or its exception comes back in its place: one failure never stops the others. The batch does
    not retry: the transport hands an action that failed here to a `transfer` task run of its own, named after
    the item, whose Prefect retries (transient failures only) show as task-run states and which ends Failed,
    with the error code and technical report in its message, when the item cannot be synced. The batch's own
    state message says which actions went on. Each failure is logged here as a WARNING line of its own, the
    actions done as one INFO line listing them (a log record per action cost a tenth of a push's CPU in
    Prefect's handlers). `report` hears of each action as it ends.
    """
    results, message = await carry_out_batch(context, actions, labels, slots, report)
    return Completed(message=message, data=results)


class ItemNotSynced(Exception):
    """What a Failed `item-not-synced` task run says: the item, its error code and its technical report."""


@task(name="item-not-synced", cache_policy=NO_CACHE, persist_result=False, task_run_name="{label}")
async def item_not_synced(label: str, message: str) -> None:
    """A failure the plan decided (a name clash seen in the scan, a copy deleted in the cloud) as a Failed
    task run of the run, so the run's page shows every item that failed, as SPEC "Runs and their states" asks;
    failures met while carrying an action out are the Failed `transfer` task runs themselves."""
    raise ItemNotSynced(message)


@task(name="compare", cache_policy=NO_CACHE, persist_result=False, task_run_name="compare-{side}-{node_id}")
async def compare_content(repository: Repository, side: str, node_id: str) -> str:
    """SHA-256 of a node's content, to tell a real change from a touch when the API has no hash."""
    digest, _size = await hash_stream(repository.download(node_id))
    return digest

"""Incremental change detection: what changed on each side since the last scan, for a cost that follows the
changes, not the size of the trees (Alfresco's Hybrid Sync tracked changes too instead of re-reading).

Per side, from the moment the previous scan began (less `search_lag_seconds`, since Solr lags the repository):

1. **search** (`ChangeSource.changed_below`): every node below the synced roots whose `cm:modified` moved: edited,
   renamed, moved in, new; and every folder whose own `cm:modified` moved, which Alfresco does when a child is
   added, removed, renamed or moved in or out (`DbNodeServiceImpl#propagateTimeStamps`);
2. **list** each folder modified since then (found by the search, read by id, or met in a listing), which shows
   what left it (its base is no guide: a run that did not carry everything may have recorded it); a member
   missing from its listed folder is looked up by id (`locate`) before it counts as deleted, so a move whose new
   folder the index has not caught up with is never taken for a delete; a new folder's whole subtree is scanned;
3. **read** the direct members (the synced roots and their copies) and the members the schedule retries whatever
   changed (pending, temporary errors, requested) by id;
4. **complete** the picture the planner needs, from the sync state: the members of every node seen and of the
   folders above it, and, for a member whose folder was not listed, its node as its base says (it did not change:
   the search would have found it). A folder that went away takes the members below it along; its copy on the
   other side is scanned whole, so a folder delete still sees what else it holds.

A repository whose search is exact (`search_is_exact`: a local folder's walk reports every node at or below the
roots whose change time moved, and leaves out its own writes) has its folders listed only when the search found
them: a folder met in a listing whose modification time is recent from the run's own writes is not listed again.

The planner then decides only these members. What the search cannot see (a restore, which keeps timestamps, or an
index lagging longer than the window) is left to the periodic full scan, which counts what it found that this
detection would have missed (`missed_changes`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import pairwise
from typing import Any

from connectors.base import Change, ChangeFeed, ChangeSource, Node, Repository
from connectors.errors import NodeNotFoundError
from models import store
from models.store import MemberRow
from sync.model import Observation
from tasks.retry import RetryPolicy
from tasks.scan import gather_bounded, scan_tree
from vocabulary import CLOUD, ONPREM, SIDES, MemberKind, Side, other

PREFIX = {ONPREM: "op", CLOUD: "cl"}


def _count(number: int, what: str) -> str:
    return f"{number} {what}{'' if number == 1 else 's'}"


class SearchUnavailable(RuntimeError):
    """The repository cannot tell what changed (no search): the run scans both trees in full."""


def _node_id(row: MemberRow, side: Side) -> str | None:
    return row.onprem_id if side == ONPREM else row.cloud_id


def _base(row: MemberRow, side: Side, name: str) -> Any:
    return getattr(row, f"{PREFIX[side]}_{name}")


def node_from_base(row: MemberRow, side: Side) -> Node | None:
    """The member's node as its base recorded it: what the repository holds when nothing changed since."""
    node_id = _node_id(row, side)
    name = _base(row, side, "name")
    if node_id is None or name is None:
        return None
    return Node(
        id=node_id,
        name=name,
        parent_id=_base(row, side, "parent_id"),
        is_folder=row.kind == MemberKind.FOLDER,
        size=_base(row, side, "size") or 0,
        modified_at=_base(row, side, "modified_at"),
        version_label=_base(row, side, "version"),
        is_locked=bool(side == ONPREM and row.locked_by_sync),
    )


@dataclass
class _Side:
    """What one side's detection has gathered so far."""

    nodes: dict[str, Node] = field(default_factory=dict)
    """Nodes read from the repository this run (search, listings, lookups)."""
    parent_of: dict[str, str | None] = field(default_factory=dict)
    listed: set[str] = field(default_factory=set)
    found: set[str] = field(default_factory=set)
    """Node ids the search found."""
    gone: set[str] = field(default_factory=set)
    """Node ids looked up and not found."""
    scanned: set[str] = field(default_factory=set)
    """Folders whose whole subtree was scanned."""

    def see(self, node: Node, ancestors: Sequence[str] = ()) -> None:
        self.nodes[node.id] = node
        self.parent_of[node.id] = node.parent_id
        for upper, lower in pairwise(ancestors):
            self.parent_of.setdefault(lower, upper)

    def chain(self, node_id: str) -> list[str]:
        """The ids above a node, nearest first, as far as this run knows them."""
        out: list[str] = []
        current = self.parent_of.get(node_id)
        while current is not None and current not in out:
            out.append(current)
            current = self.parent_of.get(current)
        return out


@dataclass(frozen=True)
class DetectedChanges:
    """The partial picture an incremental run plans from."""

    onprem: Observation
    cloud: Observation
    rows: list[MemberRow]
    server_time: dict[Side, datetime | None]
    """Each side's clock when its search answered: where the next detection starts from."""
    found: dict[Side, set[str]]
    listed: dict[Side, int]
    complete: bool = True
    """Every folder that had to be listed was."""

    def summary(self) -> str:
        """How the run found its changes, as people read it."""
        hits = sum(len(ids) for ids in self.found.values())
        listed = sum(self.listed.values())
        return (
            f"incremental: search found {_count(hits, 'changed node')}, {_count(listed, 'folder')} listed, "
            + _count(len(self.rows), "member")
            + " planned"
        )


class ChangeDetector:
    """The incremental detection of one run (see the module docstring)."""

    def __init__(
        self,
        database_url: str,
        sync_set_id: int,
        target_folder_id: str,
        repositories: Mapping[Side, Repository],
        *,
        scan_task: Any,
        policy: RetryPolicy,
        concurrency: int,
        log: Any,
    ) -> None:
        self.db = database_url
        self.sync_set_id = sync_set_id
        self.target = target_folder_id
        self.repositories = repositories
        self.scan_task = scan_task
        self.policy = policy
        self.concurrency = concurrency
        self.log = log
        self.sides: dict[Side, _Side] = {side: _Side() for side in SIDES}
        self.rows: dict[int, MemberRow] = {}
        self.by_node: dict[tuple[Side, str], MemberRow] = {}
        self.roots: dict[Side, set[str]] = {ONPREM: set(), CLOUD: set()}
        self._considered: dict[Side, set[str]] = {ONPREM: set(), CLOUD: set()}
        self.since: dict[Side, datetime] = {}
        self.complete = True
        """False when a folder could not be listed: the next run must look from the same moment again."""
        """Folders already checked for a moved modification time."""
        """The synced folders on each side (on-prem: the direct folders; cloud: their copies)."""

    def _source(self, side: Side) -> ChangeSource:
        repository = self.repositories[side]
        if not isinstance(repository, ChangeSource):
            raise SearchUnavailable(f"the {side} repository cannot search for changes")
        return repository

    # ------------------------------------------------------------------------------------------ the steps
    async def detect(self, direct: Sequence[MemberRow], since: Mapping[Side, datetime]) -> DetectedChanges:
        sources = {side: self._source(side) for side in SIDES}
        self.since = {side: _aware(since[side]) for side in SIDES}
        self._add_rows(direct)
        self._add_rows(store.member_rows_to_retry(self.db, self.sync_set_id))
        for side in SIDES:
            self.roots[side] = {
                node_id for row in direct if row.kind == MemberKind.FOLDER and (node_id := _node_id(row, side)) is not None
            }
        # The members read by id every run: the roots and their copies (a multi-file sync set's files), and what
        # the schedule retries whatever changed.
        every_run = [(side, node_id) for row in list(self.rows.values()) for side in SIDES if (node_id := _node_id(row, side))]
        await self._locate(every_run)
        server_time: dict[Side, datetime | None] = {}
        # Both sides at once: each search is a round trip (or pages of them) to its own server.
        feeds = await asyncio.gather(
            *(
                self.policy.call(
                    partial(sources[side].changed_below, sorted(self.roots[side] - self.sides[side].gone), since[side]),
                    f"Searching {side}",
                )
                for side in SIDES
            ),
            return_exceptions=True,
        )
        for feed in feeds:
            if isinstance(feed, BaseException):
                raise feed  # the other side's search has finished too: nothing is left running
        for side, feed in zip(SIDES, feeds, strict=True):
            assert isinstance(feed, ChangeFeed)
            server_time[side] = feed.server_time
            for change in feed.changes:
                if change.node.id not in self.sides[side].gone:
                    self.sides[side].see(change.node, change.ancestors)
                    self.sides[side].found.add(change.node.id)
        while True:  # each step can show nodes the others must look at: until nothing new is seen
            seen = sum(len(self.sides[side].nodes) + len(self.sides[side].gone) for side in SIDES)
            self._load_members_of_seen()  # first: a member found only now may be one that left a listed folder
            await self._list_changed_folders()
            await self._follow_what_left()
            await self._complete_chains()
            if seen == sum(len(self.sides[side].nodes) + len(self.sides[side].gone) for side in SIDES):
                break
        return DetectedChanges(
            onprem=self._observation(ONPREM),
            cloud=self._observation(CLOUD),
            rows=sorted(self.rows.values(), key=lambda row: row.id),
            server_time=server_time,
            found={side: set(self.sides[side].found) for side in SIDES},
            listed={side: len(self.sides[side].listed) for side in SIDES},
            complete=self.complete,
        )

    def _add_rows(self, rows: Iterable[MemberRow]) -> list[MemberRow]:
        added = []
        for row in rows:
            if row.id in self.rows:
                continue
            self.rows[row.id] = row
            added.append(row)
            for side in SIDES:
                node_id = _node_id(row, side)
                if node_id:
                    self.by_node[(side, node_id)] = row
        return added

    async def _locate(self, wanted: Iterable[tuple[Side, str]]) -> None:
        """Read nodes by id, with their folders' ids; a node not found is gone (its folder is listed, so the
        planner can tell the delete from a folder it did not see)."""
        todo = sorted(
            {
                (side, node_id)
                for side, node_id in wanted
                if node_id not in self.sides[side].nodes and node_id not in self.sides[side].gone
            }
        )
        if not todo:
            return
        answers = await gather_bounded(
            (self.policy.call(partial(self._source(side).locate, node_id), "Reading a node") for side, node_id in todo),
            self.concurrency,
        )
        parents: dict[Side, set[str]] = {ONPREM: set(), CLOUD: set()}
        for (side, node_id), answer in zip(todo, answers, strict=True):
            if isinstance(answer, NodeNotFoundError):
                self.sides[side].gone.add(node_id)
                row = self.by_node.get((side, node_id))
                parent = _base(row, side, "parent_id") if row is not None else None
                outside = row is not None and row.direct and side == ONPREM  # its folder is outside the synced tree
                if parent and parent not in self.sides[side].listed and not outside:
                    parents[side].add(parent)
                continue
            if isinstance(answer, BaseException):
                raise answer
            assert isinstance(answer, Change)
            self.sides[side].see(answer.node, answer.ancestors)
        for side in SIDES:
            await self._list(side, parents[side])

    def _load_members_of_seen(self) -> None:
        """The members of every node seen and of every folder above one (the planner walks those chains)."""
        for side in SIDES:
            known = self.sides[side]
            ids = set(known.nodes) | {a for node_id in known.nodes for a in known.chain(node_id)}
            ids -= {node_id for (s, node_id) in self.by_node if s == side}
            if ids:
                self._add_rows(store.member_rows_for_nodes(self.db, self.sync_set_id, side, ids))

    async def _list_changed_folders(self) -> None:
        """List each folder whose modification time moved since its base; scan a new folder's whole subtree.

        Until nothing is left: a listing shows its subfolders as they are now, and one of those whose own time
        moved (a child of it went away) is listed in turn, whatever found its parent.
        """
        for side in SIDES:
            known = self.sides[side]
            considered = self._considered[side]
            while True:
                to_list: set[str] = set()
                new: set[str] = set()
                exact = bool(getattr(self.repositories[side], "search_is_exact", False))
                for node in list(known.nodes.values()):
                    if not node.is_folder or node.id in known.listed or node.id in considered:
                        continue
                    considered.add(node.id)
                    row = self.by_node.get((side, node.id))
                    if row is None:
                        new.add(node.id)
                    elif exact:
                        if node.id in known.found:
                            to_list.add(node.id)
                    elif node.modified_at is None or _aware(node.modified_at) >= self.since[side]:
                        to_list.add(node.id)
                if not to_list and not new:
                    break
                await self._list(side, to_list)
                await self._scan_new(side, new)

    async def _list(self, side: Side, folders: Iterable[str], *, recursive: bool = False) -> None:
        known = self.sides[side]
        wanted = {folder: folder for folder in folders if folder not in known.listed}
        if not wanted:
            return
        scanned = await scan_tree(
            self.repositories[side],
            side,
            list(wanted),
            recursive=recursive,
            concurrency=self.concurrency,
            scan_task=self.scan_task,
            policy=self.policy,
            root_paths={folder: self._label(side, folder) for folder in wanted},
        )
        for node in scanned.nodes.values():
            known.see(node)
        known.listed |= scanned.complete
        if recursive:
            known.scanned |= set(wanted)
        for path, error in scanned.failed.values():
            self.complete = False
            self.log.warning("Folder %s could not be listed; what it holds is left as it is this run: %s", path, error)
        self._load_members_of_seen()
        if not recursive:  # new folders met in a listing: their subtrees are new to the sync too
            new = {n.id for n in scanned.nodes.values() if n.is_folder and (side, n.id) not in self.by_node}
            await self._scan_new(side, new)

    async def _scan_new(self, side: Side, folders: set[str]) -> None:
        known = self.sides[side]
        todo = {folder for folder in folders if folder not in known.scanned}
        if todo:
            await self._list(side, todo, recursive=True)

    def _label(self, side: Side, folder: str) -> str:
        node = self.sides[side].nodes.get(folder)
        return node.name if node is not None else folder

    async def _follow_what_left(self) -> None:
        """Members missing from a listed folder: looked up by id (moved elsewhere, or gone); a folder that went
        away takes its members along, and its copy on the other side is scanned whole."""
        for side in SIDES:
            known = self.sides[side]
            if not known.listed:
                continue
            self._add_rows(store.member_rows_under(self.db, self.sync_set_id, side, known.listed))
            missing = [
                (side, node_id)
                for (s, node_id), row in list(self.by_node.items())
                if s == side and node_id not in known.nodes and _base(row, side, "parent_id") in known.listed
            ]
            await self._locate(missing)
        for side in SIDES:
            known = self.sides[side]
            gone_folders = {
                node_id
                for (s, node_id), row in list(self.by_node.items())
                if s == side and node_id in known.gone and row.kind == MemberKind.FOLDER
            }
            while gone_folders:
                below = self._add_rows(store.member_rows_under(self.db, self.sync_set_id, side, gone_folders))
                known.gone |= {node_id for row in below if (node_id := _node_id(row, side)) is not None}
                copies = {
                    copy
                    for node_id in gone_folders
                    if (row := self.by_node.get((side, node_id))) is not None and (copy := _node_id(row, other(side)))
                }
                await self._scan_new(other(side), {c for c in copies if c not in self.sides[other(side)].gone})
                gone_folders = {
                    node_id for row in below if row.kind == MemberKind.FOLDER and (node_id := _node_id(row, side)) is not None
                }

    async def _complete_chains(self) -> None:
        """A folder between a synced root and a node seen that is neither a member nor seen is new to the sync
        (made, or moved in, where the index has not caught up): read it and scan it whole, so the node is not
        taken for one that left the tree."""
        for side in SIDES:
            known = self.sides[side]
            unknown: set[str] = set()
            for node_id in list(known.nodes):
                chain = known.chain(node_id)
                top = next((i for i, folder in enumerate(chain) if folder in self.roots[side]), None)
                if top is None:
                    continue
                unknown |= {f for f in chain[:top] if f not in known.nodes and (side, f) not in self.by_node}
            if unknown:
                await self._locate((side, folder) for folder in unknown)
                await self._scan_new(side, {f for f in unknown if f in known.nodes})

    # ------------------------------------------------------------------------------------------ the picture
    def _observation(self, side: Side) -> Observation:
        """Nodes read this run, plus each loaded member's node as its base says when nothing says it changed."""
        known = self.sides[side]
        nodes = dict(known.nodes)
        for row in self.rows.values():
            node_id = _node_id(row, side)
            if node_id is None or node_id in nodes or node_id in known.gone:
                continue
            parent = _base(row, side, "parent_id")
            if parent in known.listed:
                continue  # listed and not there: gone, or moved where the listings show it
            synthesized = node_from_base(row, side)
            if synthesized is not None:
                nodes[node_id] = synthesized
        listed = set(known.listed)
        if side == ONPREM:  # a direct member's folder is outside the tree: reading the member by id told
            for row in self.rows.values():
                if row.direct and row.op_parent_id and (row.onprem_id in known.nodes or row.onprem_id in known.gone):
                    listed.add(row.op_parent_id)
        return Observation(nodes=nodes, listed=frozenset(listed))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

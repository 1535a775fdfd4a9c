"""Two in-memory repositories and a sync set, synchronised by the production run (`flows.engine.SyncSetRun`).

`MemRepo` holds nodes the way Alfresco does (ids, names unique case-insensitively per folder, a trashcan,
versions only on versionable nodes, locks, a clock that moves on every write); tests edit it directly, as
people would. `MemoryRepository` puts it behind the product's `Repository` interface, and `World.sync()`
runs the real recipe on the two: recovery, scan, plan (with its hashing rounds), the executor with its
dependency graph and batcher, and the member state written to a real SQLite database. Only Prefect and HTTP
are left out (`tasks.transport.plain_calls`). Each repository call first yields to the event loop a few
times (seeded), so the executor's concurrent actions interleave in different orders from case to case.

A name clash or a lock met at run time is counted (`MemoryRepository.clashes`): the planner is meant to
have seen every clash first, so the property tests assert it stays 0.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import itertools
import random
import shutil
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.base import LibraryLocation, Metadata, Node
from connectors.errors import InvalidRequestError, NameClashError, NodeLockedError, NodeNotFoundError, TechnicalReport
from flows.engine import RunResult, SyncSetRun
from flows.planning import plan_with_hashes
from flows.scanning import Scanner
from flows.settings import Settings
from models import store
from models.db import session_scope
from models.tables import Member, SyncSet
from sync import CLOUD, ONPREM, BaseRecord, Observation, Options, Plan, base_from_member
from tasks.retry import RetryPolicy
from tasks.run_log import run_logger
from tasks.transport import plain_calls
from vocabulary import MemberKind, MemberStatus, Side, SyncSetKind

EPOCH = datetime(2026, 11, 27, 14, 5, tzinfo=UTC)
NOW = EPOCH + timedelta(days=1)
ACCOUNT = "sync"
"""The account both repositories act as (the sync's own account); locks of other owners are someone else's."""


class ClashError(Exception):
    """A person's edit met a name already taken (tests skip such edits)."""


@dataclass
class MemNode:
    id: str
    name: str
    parent_id: str | None
    is_folder: bool
    content: bytes = b""
    meta: Metadata = field(default_factory=Metadata)
    versionable: bool = False
    version: int = 0
    versions: list[bytes] = field(default_factory=list)
    modified: int = 0
    locked: bool = False
    lock_owner: str | None = None
    """None while `locked`: someone else's lock (a test set it directly)."""
    created_by: str = "someone"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class MemRepo:
    """A repository: nodes by id, a trashcan, a clock that moves on every write (like cm:modified)."""

    def __init__(self, side: Side) -> None:
        self.side = side
        self.nodes: dict[str, MemNode] = {}
        self.trash: dict[str, MemNode] = {}
        self._ids = 0
        self.clock = 0

    def _tick(self, node: MemNode) -> None:
        self.clock += 1
        node.modified = self.clock

    def _new_id(self) -> str:
        self._ids += 1
        return f"{self.side[0]}{self._ids}"

    def children(self, parent_id: str) -> list[MemNode]:
        return sorted((n for n in self.nodes.values() if n.parent_id == parent_id), key=lambda n: n.id)

    def _check_name(self, parent_id: str, name: str, moving: str | None = None) -> None:
        for sibling in self.children(parent_id):
            if sibling.id != moving and sibling.name.lower() == name.lower():  # as Alfresco compares (sync.names.name_key)
                raise ClashError(f"{self.side}: {name!r} exists in {parent_id}")

    def add(self, parent_id: str | None, name: str, *, folder: bool, content: bytes = b"", **kw: object) -> str:
        if parent_id is not None:
            self._check_name(parent_id, name)
        node = MemNode(self._new_id(), name, parent_id, folder, content, **kw)  # type: ignore[arg-type]
        self.nodes[node.id] = node
        self._tick(node)
        return node.id

    def write(self, node_id: str, content: bytes) -> None:
        node = self.nodes[node_id]
        if node.versionable:
            node.versions.append(node.content)
            node.version += 1
        node.content = content
        self._tick(node)

    def set_meta(self, node_id: str, meta: Metadata) -> None:
        node = self.nodes[node_id]
        node.meta = meta
        self._tick(node)

    def move(self, node_id: str, parent_id: str, name: str) -> None:
        current: str | None = parent_id
        while current is not None:  # like Alfresco: a folder cannot go inside itself
            if current == node_id:
                raise AssertionError(f"{self.side}: moving {node_id} into its own subtree")
            current = self.nodes[current].parent_id
        self._check_name(parent_id, name, moving=node_id)
        node = self.nodes[node_id]
        node.parent_id, node.name = parent_id, name
        self._tick(node)

    def delete(self, node_id: str) -> None:
        """To the trashcan, with the whole subtree."""
        stack = [node_id]
        while stack:
            current = stack.pop()
            stack.extend(c.id for c in self.children(current))
            self.trash[current] = self.nodes.pop(current)

    def ensure_versionable(self, node_id: str) -> None:
        self.nodes[node_id].versionable = True

    def descendants(self, root_id: str) -> list[MemNode]:
        out, stack = [], [root_id]
        while stack:
            for child in self.children(stack.pop()):
                out.append(child)
                stack.append(child.id)
        return out

    def path_of(self, node_id: str | None) -> str:
        names: list[str] = []
        while node_id is not None:
            node = self.nodes[node_id]
            names.append(node.name)
            node_id = node.parent_id
        return "/" + "/".join(reversed(names))

    def as_node(self, mem: MemNode) -> Node:
        return Node(
            id=mem.id,
            name=mem.name,
            parent_id=mem.parent_id,
            is_folder=mem.is_folder,
            size=len(mem.content),
            modified_at=EPOCH + timedelta(seconds=mem.modified),
            version_label=f"1.{mem.version}" if mem.versionable and not mem.is_folder else None,
            is_locked=mem.locked,
            lock_owner=(mem.lock_owner or "someone-else") if mem.locked else None,
            path=self.path_of(mem.parent_id) if mem.parent_id else None,
            metadata=mem.meta,
            is_versionable=mem.versionable,
            created_by=mem.created_by,
        )

    def observe(self, roots: list[str]) -> Observation:
        """A complete scan: the roots, everything under them, every folder listed."""
        nodes: dict[str, Node] = {}
        listed: set[str] = set()
        for root in roots:
            if root in self.nodes:
                nodes[root] = self.as_node(self.nodes[root])
                if self.nodes[root].parent_id:
                    listed.add(self.nodes[root].parent_id)  # type: ignore[arg-type]
                listed.add(root)
                for n in self.descendants(root):
                    nodes[n.id] = self.as_node(n)
                    if n.is_folder:
                        listed.add(n.id)
        return Observation(nodes=nodes, listed=frozenset(listed))


class MemoryRepository:
    """`MemRepo` behind the product's `Repository` interface, acting as `account`."""

    def __init__(self, repo: MemRepo, rng: random.Random, account: str = ACCOUNT) -> None:
        self.repo = repo
        self.label = repo.side
        self.rng = rng
        self.account = account
        self.clashes = 0
        """Name clashes and foreign locks met at run time (the planner should have seen each)."""

    async def _turn(self) -> None:
        for _ in range(self.rng.randint(0, 2)):
            await asyncio.sleep(0)

    def _report(self, operation: str, node_id: str) -> TechnicalReport:
        return TechnicalReport(operation=operation, url=f"mem://{self.label}/{node_id}")

    def _node(self, node_id: str, operation: str) -> MemNode:
        node = self.repo.nodes.get(node_id)
        if node is None:
            raise NodeNotFoundError(f"node {node_id} not found", self._report(operation, node_id))
        return node

    def _writable(self, node: MemNode, operation: str) -> None:
        if node.locked and node.lock_owner != self.account:
            self.clashes += 1
            raise NodeLockedError(f"{node.name} is locked by someone else", self._report(operation, node.id))

    def _named(self, operation: str, parent_id: str, name: str, moving: str | None = None) -> None:
        try:
            self.repo._check_name(parent_id, name, moving)
        except ClashError as exc:
            self.clashes += 1
            raise NameClashError(str(exc), self._report(operation, parent_id)) from None

    async def get(self, node_id: str) -> Node:
        await self._turn()
        return self.repo.as_node(self._node(node_id, "get"))

    async def get_by_path(self, path: str) -> Node:
        raise NotImplementedError("not used by a run")

    async def list_children(self, folder_id: str, *, page_size: int = 100) -> AsyncIterator[list[Node]]:
        await self._turn()
        self._node(folder_id, "list children")
        children = [self.repo.as_node(child) for child in self.repo.children(folder_id)]
        for start in range(0, len(children), page_size):
            yield children[start : start + page_size]

    async def create_folder(self, parent_id: str, name: str, metadata: Metadata | None = None) -> Node:
        await self._turn()
        self._node(parent_id, "create folder")
        self._named("create folder", parent_id, name)
        node_id = self.repo.add(parent_id, name, folder=True, meta=metadata or Metadata(), created_by=self.account)
        return self.repo.as_node(self.repo.nodes[node_id])

    async def upload(
        self,
        parent_id: str,
        name: str,
        content: AsyncIterable[bytes],
        *,
        metadata: Metadata | None = None,
        mime_type: str | None = None,
    ) -> Node:
        await self._turn()
        data = b"".join([chunk async for chunk in content])
        self._node(parent_id, "upload")
        self._named("upload", parent_id, name)
        node_id = self.repo.add(
            parent_id, name, folder=False, content=data, meta=metadata or Metadata(), versionable=True, created_by=self.account
        )
        return self.repo.as_node(self.repo.nodes[node_id])

    async def update_content(self, node_id: str, content: AsyncIterable[bytes], *, major: bool = False) -> Node:
        data = b"".join([chunk async for chunk in content])
        await self._turn()
        node = self._node(node_id, "update content")
        self._writable(node, "update content")
        self.repo.write(node_id, data)
        return self.repo.as_node(node)

    async def download(self, node_id: str) -> AsyncIterator[bytes]:
        await self._turn()
        data = self._node(node_id, "download").content
        half = len(data) // 2
        for chunk in (data[:half], data[half:]):
            if chunk:
                yield chunk

    async def rename(self, node_id: str, new_name: str) -> Node:
        await self._turn()
        node = self._node(node_id, "rename")
        self._writable(node, "rename")
        self._named("rename", node.parent_id or "", new_name, moving=node_id)
        self.repo.move(node_id, node.parent_id or "", new_name)
        return self.repo.as_node(node)

    async def move(self, node_id: str, target_parent_id: str, new_name: str | None = None) -> Node:
        await self._turn()
        node = self._node(node_id, "move")
        self._node(target_parent_id, "move")
        self._writable(node, "move")
        self._named("move", target_parent_id, new_name or node.name, moving=node_id)
        self.repo.move(node_id, target_parent_id, new_name or node.name)
        return self.repo.as_node(node)

    async def update_metadata(self, node_id: str, metadata: Metadata) -> Node:
        await self._turn()
        node = self._node(node_id, "update metadata")
        self._writable(node, "update metadata")
        self.repo.set_meta(node_id, metadata)
        return self.repo.as_node(node)

    async def delete(self, node_id: str) -> None:
        await self._turn()
        node = self._node(node_id, "delete")
        for inside in [node, *self.repo.descendants(node_id)]:
            self._writable(inside, "delete")
        self.repo.delete(node_id)

    async def ensure_versionable(self, node_id: str) -> Node:
        await self._turn()
        node = self._node(node_id, "ensure versionable")
        self.repo.ensure_versionable(node_id)
        return self.repo.as_node(node)

    async def lock(self, node_id: str) -> Node:
        await self._turn()
        node = self._node(node_id, "lock")
        if node.is_folder:
            raise InvalidRequestError("Only files can be locked", self._report("lock", node_id))
        self._writable(node, "lock")
        node.locked, node.lock_owner = True, self.account
        return self.repo.as_node(node)

    async def unlock(self, node_id: str) -> Node:
        await self._turn()
        node = self._node(node_id, "unlock")
        self._writable(node, "unlock")
        node.locked, node.lock_owner = False, None
        return self.repo.as_node(node)

    async def library_of(self, node: Node) -> LibraryLocation | None:
        return None

    async def whoami(self) -> str:
        return self.account

    def web_url(self, node: Node, *, site: str | None = None) -> str:
        return f"mem://{self.label}/{node.id}"

    async def aclose(self) -> None:
        return None


# ---------------------------------------------------------------------------------------------- the state
_database: list[str] = []
_worlds = itertools.count(1)


def database_url() -> str:
    """One SQLite database for every world of the test process; each world is a sync set of its own."""
    if not _database:
        folder = Path(tempfile.mkdtemp(prefix="ecsync-memory-worlds-"))
        atexit.register(shutil.rmtree, folder, True)
        _database.append(f"sqlite:///{folder / 'state.db'}")
    return _database[0]


SETTINGS = Settings.model_construct(
    scan_concurrency=4, transfer_concurrency=4, task_retries=0, retry_backoff_seconds=0.0, lease_seconds=60
)


@dataclass
class World:
    """Both repositories and one sync set of the real sync state."""

    onprem: MemRepo
    cloud: MemRepo
    target: str
    options: Options
    seed: int = 0
    slug: str = field(default_factory=lambda: f"world-{next(_worlds)}")
    compares: int = 0
    """How many nodes the runs' plans asked to hash (the tests check the path is exercised)."""
    clashes: int = 0
    """Name clashes and foreign locks the runs met at run time, summed over both sides."""
    last: RunResult | None = None

    def __post_init__(self) -> None:
        self.url = database_url()
        self.rng = random.Random(self.seed)

    def repo(self, side: Side) -> MemRepo:
        return self.onprem if side == ONPREM else self.cloud

    # ------------------------------------------------------------------------------------------ state
    def _sync_set(self) -> SyncSet:
        found = store.get_sync_set(self.url, self.slug)
        assert found is not None, "add_direct() first"
        return found

    @property
    def records(self) -> dict[int, BaseRecord]:
        found = store.get_sync_set(self.url, self.slug)
        if found is None or found.id is None:
            return {}
        return {row.id: base_from_member(row) for row in store.iter_member_rows(self.url, found.id)}

    @property
    def failed(self) -> list[BaseRecord]:
        return [r for r in self.records.values() if r.status == MemberStatus.FAILED]

    def add_direct(self, onprem_id: str) -> int:
        node = self.onprem.as_node(self.onprem.nodes[onprem_id])
        existing = store.get_sync_set(self.url, self.slug)
        if existing is None:
            sync_set = SyncSet(
                slug=self.slug,
                owner=ACCOUNT,
                onprem_connection="memory",
                cloud_connection="memory",
                kind=(SyncSetKind.FOLDER if node.is_folder else SyncSetKind.FILE).value,
                items=[onprem_id],
                target_network="memory",
                target_site="site",
                target_folder_id=self.target,
                target_folder_path="Target",
            )
            self._apply_options(sync_set, self.options)
            store.create_sync_set(self.url, sync_set, [node])
        else:
            with session_scope(self.url) as session:
                session.add(
                    Member(
                        sync_set_id=existing.id or 0,
                        onprem_id=node.id,
                        op_parent_id=node.parent_id,
                        op_name=node.name,
                        kind=MemberKind.of(node.is_folder).value,
                        direct=True,
                        status=MemberStatus.PENDING.value,
                    )
                )
        return next(r.member_id for r in self.records.values() if r.onprem and r.onprem.node_id == onprem_id)

    @staticmethod
    def _apply_options(sync_set: SyncSet, options: Options) -> None:
        sync_set.include_subfolders = options.include_subfolders
        sync_set.lock_on_premise = options.lock_on_premise
        sync_set.allow_cloud_delete = options.allow_cloud_delete
        sync_set.delete_on_premise = options.delete_on_premise
        sync_set.conflict_policy = options.conflict_policy.value
        sync_set.max_delete_percent = options.max_delete_percent

    def _with_options(self, options: Options | None) -> SyncSet:
        sync_set = self._sync_set()
        if options is not None:
            with session_scope(self.url) as session:
                row = session.get(SyncSet, sync_set.id)
                assert row is not None
                self._apply_options(row, options)
                session.add(row)
            sync_set = self._sync_set()
        return sync_set

    # ------------------------------------------------------------------------------------------ runs
    def _repositories(self) -> tuple[MemoryRepository, MemoryRepository]:
        return MemoryRepository(self.onprem, self.rng), MemoryRepository(self.cloud, self.rng)

    def observe(self) -> tuple[Observation, Observation]:
        direct_onprem = [r.onprem.node_id for r in self.records.values() if r.direct and r.onprem]
        return self.onprem.observe(direct_onprem), self.cloud.observe([self.target])

    def plan(self, *, scope: int | None = None, options: Options | None = None) -> Plan:
        """What a run would plan now, scanned and hashed as a run does (nothing is carried out)."""
        sync_set = self._with_options(options)
        force = bool(options and options.force)
        return asyncio.run(self._plan(sync_set, scope, force))

    async def _plan(self, sync_set: SyncSet, scope: int | None, force: bool) -> Plan:
        from sync.convert import options_from_sync_set

        onprem, cloud = self._repositories()
        repositories: dict[Side, MemoryRepository] = {ONPREM: onprem, CLOUD: cloud}
        rows = list(store.iter_member_rows(self.url, sync_set.id or 0))
        scanned = await Scanner(
            repositories,  # type: ignore[arg-type]
            plain_calls().scan_folders,
            RetryPolicy(0, 0),
            4,
            run_logger(),
        ).scan([r for r in rows if r.direct], sync_set.target_folder_id, sync_set.include_subfolders)

        async def hasher(side: Side, node_id: str) -> str:
            self.compares += 1
            return sha(self.repo(side).nodes[node_id].content)

        plan, _hashed = await plan_with_hashes(
            [base_from_member(r) for r in rows],
            {ONPREM: scanned.onprem, CLOUD: scanned.cloud},
            target_folder_id=sync_set.target_folder_id,
            options=options_from_sync_set(sync_set, force=force),
            now=lambda: NOW,
            scope=scope,
            hasher=hasher,
            concurrency=4,
            log=run_logger(),
        )
        return plan

    def sync(self, *, scope: int | None = None, options: Options | None = None) -> Plan:
        """One run of the production recipe (no Prefect, no HTTP); the plan it carried out."""
        sync_set = self._with_options(options)
        force = bool(options and options.force)
        result = asyncio.run(self._run(sync_set, scope, force))
        assert result.plan is not None
        return result.plan

    async def _run(self, sync_set: SyncSet, scope: int | None, force: bool) -> RunResult:
        onprem, cloud = self._repositories()
        calls = plain_calls()
        compare = calls.compare

        async def counting(repository: object, side: str, node_id: str) -> str:
            self.compares += 1
            return await compare(repository, side, node_id)  # type: ignore[arg-type]

        run = SyncSetRun(
            self.url,
            sync_set,
            onprem,  # type: ignore[arg-type]
            cloud,  # type: ignore[arg-type]
            run_id=f"{self.slug}-run",
            settings=SETTINGS,
            force=force,
            scope_member_id=scope,
            calls=replace(calls, compare=counting),
            clock=lambda: NOW,
        )
        self.last = await run.run()
        self.clashes += onprem.clashes + cloud.clashes
        return self.last


def snapshot(repo: MemRepo, root: str) -> dict[str, tuple[bool, bytes, Metadata]]:
    """Path -> (folder?, content, metadata) of everything under `root`, to compare two trees."""
    paths: dict[str, str] = {root: ""}
    out: dict[str, tuple[bool, bytes, Metadata]] = {}
    for node in repo.descendants(root):
        path = f"{paths[node.parent_id or '']}/{node.name}"
        paths[node.id] = path
        out[path] = (node.is_folder, node.content, node.meta)
    return out


def new_world(options: Options | None = None, *, seed: int = 0) -> World:
    onprem, cloud = MemRepo(ONPREM), MemRepo(CLOUD)
    onprem.add(None, "documentLibrary", folder=True)
    cloud.add(None, "documentLibrary", folder=True)
    target = cloud.add("c1", "Target", folder=True)
    return World(onprem, cloud, target, options or Options(), seed=seed)

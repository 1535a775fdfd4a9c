"""Two in-memory repositories, the sync state, and an applier that carries out a plan on them.

The applier is the executable spec the real propagator follows: it resolves refs to nodes created earlier
in the plan, keeps overwritten bytes as versions (only when the node is versionable, like Alfresco), sends
deletes to a trashcan, and records the base from the nodes as they are after the member's actions. A name
clash inside the repository raises: the planner is meant to have seen every clash first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from connectors.base import Metadata, Node
from sync import (
    CLOUD,
    ONPREM,
    Action,
    ActionKind,
    BaseRecord,
    Observation,
    Options,
    Plan,
    Ref,
    SideBase,
    metadata_digest,
    plan,
)
from vocabulary import ErrorCode, MemberKind, MemberStatus, Side

EPOCH = datetime(2026, 11, 27, 14, 5, tzinfo=UTC)
NOW = EPOCH + timedelta(days=1)


class ClashError(Exception):
    """The repository refused a name: the plan let a clash through."""


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

    def as_node(self) -> Node:
        return Node(
            id=self.id,
            name=self.name,
            parent_id=self.parent_id,
            is_folder=self.is_folder,
            size=len(self.content),
            modified_at=EPOCH + timedelta(seconds=self.modified),
            version_label=f"1.{self.version}" if self.versionable and not self.is_folder else None,
            is_locked=self.locked,
            metadata=self.meta,
            is_versionable=self.versionable,
        )


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
            if sibling.id != moving and sibling.name.casefold() == name.casefold():
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
        node = self.nodes[node_id]
        node.versionable = True

    def descendants(self, root_id: str) -> list[MemNode]:
        out, stack = [], [root_id]
        while stack:
            for child in self.children(stack.pop()):
                out.append(child)
                stack.append(child.id)
        return out

    def observe(self, roots: list[str]) -> Observation:
        """A complete scan: the roots, everything under them, every folder listed."""
        nodes: dict[str, Node] = {}
        listed: set[str] = set()
        for root in roots:
            if root in self.nodes:
                nodes[root] = self.nodes[root].as_node()
                if self.nodes[root].parent_id:
                    listed.add(self.nodes[root].parent_id)  # type: ignore[arg-type]
                listed.add(root)
                for n in self.descendants(root):
                    nodes[n.id] = n.as_node()
                    if n.is_folder:
                        listed.add(n.id)
        return Observation(nodes=nodes, listed=frozenset(listed))


@dataclass
class World:
    """Both repositories and the sync set's state (the members' base records)."""

    onprem: MemRepo
    cloud: MemRepo
    target: str
    options: Options
    records: dict[int, BaseRecord] = field(default_factory=dict)
    direct_roots: list[str] = field(default_factory=list)
    """On-prem ids the user chose (for a new sync set before its first run)."""
    next_member: int = 1
    compares: int = 0
    """How many COMPARE rounds the plans asked for (the tests check the path is exercised)."""

    def repo(self, side: Side) -> MemRepo:
        return self.onprem if side == ONPREM else self.cloud

    def observe(self) -> tuple[Observation, Observation]:
        direct_onprem = [r.onprem.node_id for r in self.records.values() if r.direct and r.onprem]
        return self.onprem.observe(direct_onprem), self.cloud.observe([self.target])

    def add_direct(self, onprem_id: str) -> int:
        node = self.onprem.nodes[onprem_id]
        member_id = self.next_member
        self.next_member += 1
        kind = MemberKind.FOLDER if node.is_folder else MemberKind.FILE
        self.records[member_id] = BaseRecord(
            member_id,
            kind,
            direct=True,
            onprem=SideBase(onprem_id, parent_id=node.parent_id),
            status=MemberStatus.PENDING,
        )
        return member_id

    def plan(self, *, scope: int | None = None, options: Options | None = None) -> Plan:
        """Plan, hashing what COMPARE asks for and planning again, as the flow does."""
        onprem, cloud = self.observe()
        for _ in range(3):
            result = plan(
                list(self.records.values()),
                onprem,
                cloud,
                target_folder_id=self.target,
                options=options or self.options,
                now=NOW,
                scope=scope,
            )
            compares = [a for a in result.actions if a.kind == ActionKind.COMPARE]
            if not compares:
                return result
            self.compares += 1
            hashes: dict[Side, dict[str, str]] = {ONPREM: dict(onprem.sha256), CLOUD: dict(cloud.sha256)}
            for a in compares:
                for side in a.hash_sides:
                    ref = a.onprem if side == ONPREM else a.cloud
                    assert ref is not None and ref.node_id is not None
                    hashes[side][ref.node_id] = sha(self.repo(side).nodes[ref.node_id].content)
            onprem = replace(onprem, sha256=hashes[ONPREM])
            cloud = replace(cloud, sha256=hashes[CLOUD])
        raise AssertionError("COMPARE asked again after the hashes were given")

    def sync(self, **kw: object) -> Plan:
        result = self.plan(**kw)  # type: ignore[arg-type]
        Applier(self, result).run()
        return result

    @property
    def failed(self) -> list[BaseRecord]:
        return [r for r in self.records.values() if r.status == MemberStatus.FAILED]


class Applier:
    """Carries out a plan's actions in order on the two repositories and the state."""

    def __init__(self, world: World, result: Plan) -> None:
        self.world = world
        self.plan = result
        self.created: dict[tuple[str, Side], str] = {}
        self.keys: dict[str, int] = {r.key: r.member_id for r in world.records.values()}

    def resolve(self, ref: Ref) -> str:
        if ref.node_id is not None:
            return ref.node_id
        return self.created[(ref.member, ref.side)]

    def run(self) -> None:
        for action in self.plan.actions:
            getattr(self, "do_" + action.kind.value.replace("-", "_"))(action)

    # -- repository steps
    def do_compare(self, a: Action) -> None:
        raise AssertionError("COMPARE is answered before applying")

    def do_unlock(self, a: Action) -> None:
        assert a.node is not None
        self.world.onprem.nodes[self.resolve(a.node)].locked = False
        self._update(a.member, locked_by_sync=False)

    def do_lock(self, a: Action) -> None:
        assert a.node is not None
        self.world.onprem.nodes[self.resolve(a.node)].locked = True
        self._update(a.member, locked_by_sync=True)

    def do_ensure_versionable(self, a: Action) -> None:
        assert a.node is not None
        self.world.repo(a.side).ensure_versionable(self.resolve(a.node))

    def _source(self, ref: Ref) -> MemNode:
        return self.world.repo(ref.side).nodes[self.resolve(ref)]

    def do_conflict_copy(self, a: Action) -> None:
        assert a.node and a.parent and a.name and a.new_member
        original = self._source(a.node)
        repo = self.world.repo(a.side)
        new = repo.add(
            self.resolve(a.parent), a.name, folder=False, content=original.content, meta=original.meta, versionable=True
        )
        self.created[(a.new_member, a.side)] = new

    def do_create_folder(self, a: Action) -> None:
        assert a.parent and a.name and a.source
        repo = self.world.repo(a.side)
        meta = a.metadata or self._source(a.source).meta
        self.created[(a.member, a.side)] = repo.add(self.resolve(a.parent), a.name, folder=True, meta=meta)

    def do_upload(self, a: Action) -> None:
        assert a.parent and a.name and a.source
        src = self._source(a.source)
        repo = self.world.repo(a.side)
        node_id = repo.add(
            self.resolve(a.parent),
            a.name,
            folder=False,
            content=src.content,
            meta=a.metadata or src.meta,
            versionable=True,
        )
        self.created[(a.member, a.side)] = node_id

    def do_update_content(self, a: Action) -> None:
        assert a.node and a.source
        self.world.repo(a.side).write(self.resolve(a.node), self._source(a.source).content)

    def do_update_metadata(self, a: Action) -> None:
        assert a.node and a.metadata is not None
        self.world.repo(a.side).set_meta(self.resolve(a.node), a.metadata)

    def do_rename(self, a: Action) -> None:
        assert a.node and a.name
        node = self.world.repo(a.side).nodes[self.resolve(a.node)]
        self.world.repo(a.side).move(node.id, node.parent_id or "", a.name)

    def do_move(self, a: Action) -> None:
        assert a.node and a.parent and a.name
        self.world.repo(a.side).move(self.resolve(a.node), self.resolve(a.parent), a.name)

    def do_delete(self, a: Action) -> None:
        assert a.node
        self.world.repo(a.side).delete(self.resolve(a.node))

    # -- state steps
    def _update(self, key: str, **changes: object) -> None:
        member_id = self.keys[key]
        self.world.records[member_id] = replace(self.world.records[member_id], **changes)  # type: ignore[arg-type]

    def _side_base(self, side: Side, ref: Ref | None) -> SideBase | None:
        if ref is None:
            return None
        node = self.world.repo(side).nodes[self.resolve(ref)]
        return SideBase(
            node.id,
            node.name,
            node.parent_id,
            len(node.content),
            node.as_node().modified_at,
            node.as_node().version_label,
            sha(node.content) if not node.is_folder else None,
            metadata_digest(node.meta),
        )

    def do_record_base(self, a: Action) -> None:
        onprem, cloud = self._side_base(ONPREM, a.onprem), self._side_base(CLOUD, a.cloud)
        member_id = self.keys.get(a.member)
        if member_id is None:
            member_id = self.world.next_member
            self.world.next_member += 1
            self.keys[a.member] = member_id
            kind = MemberKind.FOLDER if a.is_folder else MemberKind.FILE
            self.world.records[member_id] = BaseRecord(member_id, kind, direct=a.direct)
        self._update(
            a.member,
            onprem=onprem,
            cloud=cloud,
            status=MemberStatus.SYNCED,
            error_code=None,
            requested=False,
            failed_fingerprint=None,
        )

    def do_drop_member(self, a: Action) -> None:
        self.world.records.pop(self.keys.pop(a.member))

    def do_mark_failed(self, a: Action) -> None:
        assert a.error_code is not None
        fp = self.plan.fingerprints[a.member]
        if a.member not in self.keys:
            member_id = self.world.next_member
            self.world.next_member += 1
            self.keys[a.member] = member_id
            side = ONPREM if a.onprem else CLOUD
            ref = a.onprem or a.cloud
            assert ref is not None and ref.node_id is not None
            node = self.world.repo(side).nodes[ref.node_id]
            base = SideBase(node.id, parent_id=node.parent_id)
            kind = MemberKind.FOLDER if node.is_folder else MemberKind.FILE
            self.world.records[member_id] = BaseRecord(
                member_id, kind, onprem=base if side == ONPREM else None, cloud=base if side == CLOUD else None
            )
        self._update(
            a.member,
            status=MemberStatus.FAILED,
            error_code=ErrorCode(a.error_code),
            failed_fingerprint=fp,
            requested=False,
        )


def snapshot(repo: MemRepo, root: str) -> dict[str, tuple[bool, bytes, Metadata]]:
    """Path -> (folder?, content, metadata) of everything under `root`, to compare two trees."""
    paths: dict[str, str] = {root: ""}
    out: dict[str, tuple[bool, bytes, Metadata]] = {}
    for node in repo.descendants(root):
        path = f"{paths[node.parent_id or '']}/{node.name}"
        paths[node.id] = path
        out[path] = (node.is_folder, node.content, node.meta)
    return out


def new_world(options: Options | None = None) -> World:
    onprem, cloud = MemRepo(ONPREM), MemRepo(CLOUD)
    onprem.add(None, "documentLibrary", folder=True)
    cloud.add(None, "documentLibrary", folder=True)
    target = cloud.add("c1", "Target", folder=True)
    return World(onprem, cloud, target, options or Options())

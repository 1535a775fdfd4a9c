"""Property tests of the production run on two in-memory repositories (Unison's invariants).

Random trees, random edits on both sides, then one run of the real recipe (`flows.engine.SyncSetRun`: scan,
plan, the executor's dependency graph and batcher, the member state in SQLite; no Prefect, no HTTP), with
the repositories' calls interleaved in a seeded random order: both sides end equal (when no member failed),
nothing changed since the base is lost, planning again finds nothing to do, no name clash or foreign lock
is met at run time (the planner saw them all), and the same input gives the same plan.
`ECSYNC_HYPOTHESIS_EXAMPLES` raises the number of examples for a deeper run.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from connectors.base import Metadata
from sync import CLOUD, ONPREM, Options
from tests.sync.memory_repo import ClashError, MemRepo, World, new_world, sha, snapshot
from vocabulary import ConflictPolicy

EXAMPLES = int(os.environ.get("ECSYNC_HYPOTHESIS_EXAMPLES", "300"))
NAMES = ("a", "B", "b", "c.txt", "C.TXT", "d.txt")
OPS = ("new-file", "new-folder", "edit", "edit", "meta", "rename", "move", "delete", "same-edit", "both-edit", "touch")


@dataclass(frozen=True)
class Edit:
    side: str
    op: str
    pick: int
    pick2: int
    name: str
    content: int


edits = st.builds(
    Edit,
    side=st.sampled_from((ONPREM, CLOUD)),
    op=st.sampled_from(OPS),
    pick=st.integers(0, 50),
    pick2=st.integers(0, 50),
    name=st.sampled_from(NAMES),
    content=st.integers(0, 3),
)
options = st.builds(
    Options,
    include_subfolders=st.just(True),
    lock_on_premise=st.booleans(),
    allow_cloud_delete=st.booleans(),
    delete_on_premise=st.booleans(),
    conflict_policy=st.sampled_from(list(ConflictPolicy)),
)
trees = st.lists(st.tuples(st.integers(0, 20), st.booleans(), st.sampled_from(NAMES), st.integers(0, 3)), max_size=8)


def _root(world: World, side: str) -> str:
    rec = next(r for r in world.records.values() if r.direct)
    base = rec.onprem if side == ONPREM else rec.cloud
    assert base is not None
    return base.node_id


def _try(fn: object, *args: object) -> None:
    with contextlib.suppress(ClashError):
        fn(*args)  # type: ignore[operator]


def _apply_edit(world: World, edit: Edit, counter: list[int]) -> None:
    repo: MemRepo = world.repo(edit.side)  # type: ignore[arg-type]
    root = _root(world, edit.side)
    inside = [n for n in repo.descendants(root)]
    folders = [root] + [n.id for n in inside if n.is_folder]
    files = [n for n in inside if not n.is_folder and not n.locked]
    counter[0] += 1
    data = f"v{counter[0]}".encode()
    if edit.op == "new-file":
        _try(lambda: repo.add(folders[edit.pick % len(folders)], edit.name, folder=False, content=data))
    elif edit.op == "new-folder":
        _try(lambda: repo.add(folders[edit.pick % len(folders)], edit.name, folder=True))
    elif edit.op in ("edit", "same-edit", "both-edit", "touch") and files:
        node = files[edit.pick % len(files)]
        if edit.op == "touch":  # same bytes written again: modifiedAt moves, content does not
            repo.write(node.id, node.content)
        elif edit.op == "edit":
            repo.write(node.id, data)
        else:
            same = f"same{edit.content}".encode()
            repo.write(node.id, same)
            _same_edit_other_side(world, edit, node.id, same if edit.op == "same-edit" else data + b"-other")
    elif edit.op == "meta" and inside:
        node = inside[edit.pick % len(inside)]
        if not node.locked:
            repo.set_meta(node.id, Metadata(title=f"t{edit.content}"))
    elif edit.op in ("rename", "move", "delete") and inside:
        node = inside[edit.pick % len(inside)]
        if node.locked:
            return
        if edit.op == "rename":
            _try(repo.move, node.id, node.parent_id, edit.name)
        elif edit.op == "delete":
            repo.delete(node.id)
        else:
            below = {d.id for d in repo.descendants(node.id)} | {node.id}
            targets = [f for f in folders if f not in below]
            _try(repo.move, node.id, targets[edit.pick2 % len(targets)], node.name)


def _same_edit_other_side(world: World, edit: Edit, node_id: str, data: bytes) -> None:
    """Both sides write into one member: the same bytes (no conflict) or different ones (a conflict)."""
    for rec in world.records.values():
        here = rec.onprem if edit.side == ONPREM else rec.cloud
        there = rec.cloud if edit.side == ONPREM else rec.onprem
        if here and there and here.node_id == node_id:
            other = world.repo(CLOUD if edit.side == ONPREM else ONPREM)
            node = other.nodes.get(there.node_id)
            if node is not None and not node.locked:
                other.write(node.id, data)


def _changed_contents(world: World) -> set[bytes]:
    """Bytes that differ from their base (or are new): each must survive the sync somewhere."""
    base_sha: dict[str, str | None] = {}
    for rec in world.records.values():
        for b in (rec.onprem, rec.cloud):
            if b is not None:
                base_sha[b.node_id] = b.sha256
    out: set[bytes] = set()
    for side in (ONPREM, CLOUD):
        repo = world.repo(side)
        for node in repo.descendants(_root(world, side)):
            if not node.is_folder and base_sha.get(node.id) != sha(node.content):
                out.add(node.content)
    return out


def _surviving_contents(world: World) -> set[bytes]:
    out: set[bytes] = set()
    for repo in (world.onprem, world.cloud):
        for node in repo.nodes.values():
            out.add(node.content)
            out.update(node.versions)
    return out


def _build(tree: list[tuple[int, bool, str, int]], opts: Options, seed: int = 0) -> World:
    world = new_world(opts, seed=seed)
    root = world.onprem.add("o1", "Specs", folder=True)
    folders = [root]
    for pick, is_folder, name, versionable in tree:
        try:
            node_id = world.onprem.add(
                folders[pick % len(folders)],
                name,
                folder=is_folder,
                content=b"" if is_folder else name.encode(),
                versionable=versionable > 1,
            )
        except ClashError:
            continue
        if is_folder:
            folders.append(node_id)
    world.add_direct(root)
    return world


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    opts=options,
    tree=trees,
    rounds=st.lists(st.lists(edits, max_size=8), min_size=1, max_size=2),
    seed=st.integers(0, 2**16),
)
def test_a_run_converges_loses_nothing_and_is_idempotent(
    opts: Options, tree: list[tuple[int, bool, str, int]], rounds: list[list[Edit]], seed: int
) -> None:
    world = _build(tree, opts, seed)
    world.sync()
    assert snapshot(world.onprem, _root(world, ONPREM)) == snapshot(world.cloud, _root(world, CLOUD))
    counter = [0]
    for round_edits in rounds:
        for edit in round_edits:
            _apply_edit(world, edit, counter)
        must_survive = _changed_contents(world)
        first = world.plan()
        assert world.plan() == first, "same input, same plan"
        compares = world.compares
        applied = world.sync()
        if world.compares > compares:
            event("compare asked")
        for kind in sorted({a.kind.value for a in applied.actions}):
            event(f"action {kind}")
        if applied.conflicts:
            event(f"conflict {applied.conflicts[0].policy.value}")
        missing = must_survive - _surviving_contents(world)
        assert not missing, f"changed content lost: {missing}"
        compares = world.compares
        again = world.plan()
        assert again.actions == [], f"second plan not empty: {again.actions}"
        if not again.skipped:  # a member waiting on a blocked parent is hashed again each run (known cost)
            assert world.compares == compares, "a second plan has nothing left to compare"
        if not world.failed and not again.skipped:
            assert snapshot(world.onprem, _root(world, ONPREM)) == snapshot(world.cloud, _root(world, CLOUD))
        assert world.clashes == 0, "a name clash or a foreign lock was met at run time: the plan let it through"


@settings(max_examples=max(EXAMPLES // 3, 10), deadline=None)
@given(tree=trees, seed=st.integers(0, 2**16))
def test_initial_push_copies_every_on_prem_node_and_locks_files(tree: list[tuple[int, bool, str, int]], seed: int) -> None:
    world = _build(tree, Options(lock_on_premise=True), seed)
    world.sync()
    assert snapshot(world.onprem, _root(world, ONPREM)) == snapshot(world.cloud, _root(world, CLOUD))
    on_prem_files = [n for n in world.onprem.descendants(_root(world, ONPREM)) if not n.is_folder]
    assert all(n.locked for n in on_prem_files)
    assert all(r.locked_by_sync for r in world.records.values() if not r.is_folder)
    assert world.plan().actions == []

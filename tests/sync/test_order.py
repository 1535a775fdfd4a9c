"""The dependency rules of a plan (`Plan.depends_on`): what each action waits for, and nothing more.

The executor starts an action as soon as its dependencies are done, beside every other ready action, so a
missing edge is a race (a rename meeting a name not yet freed) and a needless one is lost parallelism (500
renames in 500 folders running one after another).
"""

from __future__ import annotations

from sync import CLOUD, ActionKind, Plan
from sync.model import Action
from tests.sync.memory_repo import World, new_world, snapshot

K = ActionKind


def _folders(count: int) -> tuple[World, str, list[tuple[str, str]]]:
    """A synced folder `Specs` holding `count` folders `fN`, each with one file `fN/a.txt`."""
    world = new_world()
    root = world.onprem.add("o1", "Specs", folder=True)
    pairs = []
    for n in range(count):
        folder = world.onprem.add(root, f"f{n}", folder=True)
        pairs.append((folder, world.onprem.add(folder, "a.txt", folder=False, content=f"{n}".encode(), versionable=True)))
    world.add_direct(root)
    world.sync()
    return world, root, pairs


def _index(plan: Plan, kind: ActionKind, name: str) -> int:
    return next(i for i, a in enumerate(plan.actions) if a.kind is kind and a.name == name)


def _waits_for(plan: Plan, index: int) -> set[int]:
    """Every action `index` waits for, directly or through others."""
    seen: set[int] = set()
    stack = list(plan.depends_on[index])
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(plan.depends_on[current])
    return seen


def _describe(action: Action) -> str:
    return f"{action.kind.value} {action.name}"


def test_renames_in_different_folders_wait_for_nothing_but_their_own_member() -> None:
    world, _root, pairs = _folders(5)
    for n, (_folder, file_id) in enumerate(pairs):
        world.onprem.move(file_id, world.onprem.nodes[file_id].parent_id or "", f"renamed-{n}.txt")
    plan = world.plan()
    renames = [i for i, a in enumerate(plan.actions) if a.kind is K.RENAME]
    assert len(renames) == 5
    for i in renames:
        assert plan.depends_on[i] == (), f"{_describe(plan.actions[i])} waits for {plan.depends_on[i]}"


def test_every_dependency_points_to_an_earlier_action() -> None:
    world, root, pairs = _folders(3)
    world.onprem.add(root, "new", folder=True)
    world.onprem.move(pairs[0][1], pairs[1][0], "moved.txt")
    plan = world.plan()
    assert len(plan.depends_on) == len(plan.actions)
    for index, deps in enumerate(plan.depends_on):
        assert all(dep < index for dep in deps), (index, deps)


def test_a_rename_into_a_name_another_rename_frees_waits_for_it() -> None:
    world = new_world()
    root = world.onprem.add("o1", "Specs", folder=True)
    x = world.onprem.add(root, "x.txt", folder=False, content=b"x", versionable=True)
    y = world.onprem.add(root, "y.txt", folder=False, content=b"y", versionable=True)
    world.add_direct(root)
    world.sync()
    world.onprem.move(y, root, "z.txt")
    world.onprem.move(x, root, "y.txt")
    plan = world.plan()
    frees = _index(plan, K.RENAME, "z.txt")
    takes = _index(plan, K.RENAME, "y.txt")
    assert frees in plan.depends_on[takes]
    world.sync()
    cloud_root = next(r.cloud.node_id for r in world.records.values() if r.direct and r.cloud)
    assert snapshot(world.onprem, root) == snapshot(world.cloud, cloud_root)
    assert world.clashes == 0


def test_a_swap_of_two_names_steps_aside_through_a_temporary_name() -> None:
    world = new_world()
    root = world.onprem.add("o1", "Specs", folder=True)
    a = world.onprem.add(root, "a.txt", folder=False, content=b"a", versionable=True)
    b = world.onprem.add(root, "b.txt", folder=False, content=b"b", versionable=True)
    world.add_direct(root)
    world.sync()
    world.onprem.move(a, root, "tmp")
    world.onprem.move(b, root, "a.txt")
    world.onprem.move(a, root, "b.txt")
    plan = world.plan()
    renames = [(i, a) for i, a in enumerate(plan.actions) if a.kind is K.RENAME]
    temporary = next(i for i, a in renames if a.name and ".ecsync-tmp-" in a.name)
    into_a = _index(plan, K.RENAME, "a.txt")
    into_b = _index(plan, K.RENAME, "b.txt")
    # One of the two steps aside first; the other takes its freed name after it.
    first, second = (into_a, into_b) if temporary in _waits_for(plan, into_a) else (into_b, into_a)
    assert temporary in _waits_for(plan, first)
    assert first in _waits_for(plan, second) or temporary in _waits_for(plan, second)
    world.sync()
    cloud_root = next(r.cloud.node_id for r in world.records.values() if r.direct and r.cloud)
    assert snapshot(world.onprem, root) == snapshot(world.cloud, cloud_root)
    assert world.clashes == 0


def test_a_child_of_a_new_folder_waits_for_the_folder() -> None:
    world, root, _pairs = _folders(1)
    folder = world.onprem.add(root, "new", folder=True)
    world.onprem.add(folder, "inside.txt", folder=False, content=b"i")
    plan = world.plan()
    made = _index(plan, K.CREATE_FOLDER, "new")
    child = _index(plan, K.UPLOAD, "inside.txt")
    assert made in plan.depends_on[child]


def test_a_folder_delete_waits_for_what_moves_out_of_it_and_nothing_else() -> None:
    world, _root, pairs = _folders(3)
    (gone, leaving), (stays, _), (other, renamed) = pairs
    world.onprem.move(leaving, stays, "rescued.txt")
    world.onprem.move(renamed, other, "renamed.txt")
    world.onprem.delete(gone)
    plan = world.plan()
    delete = next(i for i, a in enumerate(plan.actions) if a.kind is K.DELETE and a.side == CLOUD)
    move = _index(plan, K.MOVE, "rescued.txt")
    rename = _index(plan, K.RENAME, "renamed.txt")
    assert move in plan.depends_on[delete]
    assert rename not in _waits_for(plan, delete)
    assert delete not in _waits_for(plan, rename)


def test_a_members_own_steps_run_in_sequence() -> None:
    world, _root, pairs = _folders(1)
    _folder, file_id = pairs[0]
    world.onprem.write(file_id, b"changed")
    world.onprem.move(file_id, world.onprem.nodes[file_id].parent_id or "", "b.txt")
    plan = world.plan()
    rename = _index(plan, K.RENAME, "b.txt")
    update = next(i for i, a in enumerate(plan.actions) if a.kind is K.UPDATE_CONTENT)
    record = next(i for i, a in enumerate(plan.actions) if a.kind is K.RECORD_BASE)
    assert rename in _waits_for(plan, update) or update in _waits_for(plan, rename)
    assert {rename, update} <= _waits_for(plan, record)

"""One case per row and option of SPEC.md "How changes travel", on two in-memory repositories.

Each case starts from a synced folder `Specs` holding `a.txt` and `sub/b.txt`, makes the edits of its row,
runs one reconcile (plan + apply) and checks both the plan and what the repositories hold afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from connectors.base import Metadata
from sync import CLOUD, ONPREM, ActionKind, Options, Plan
from tests.sync.memory_repo import MemNode, World, new_world, snapshot
from vocabulary import ConflictPolicy, ErrorCode, MemberStatus

K = ActionKind


@dataclass
class Case:
    """Names nodes by role so cases read like the SPEC rows."""

    world: World
    ids: dict[str, str] = field(default_factory=dict)

    def node(self, side: str, role: str) -> MemNode:
        return self.world.repo(side).nodes[self.id(side, role)]  # type: ignore[arg-type]

    def id(self, side: str, role: str) -> str:
        if side == ONPREM:
            return self.ids[role]
        for rec in self.world.records.values():
            if rec.onprem and rec.onprem.node_id == self.ids[role]:
                assert rec.cloud is not None
                return rec.cloud.node_id
        raise KeyError(role)

    def member(self, role: str) -> int:
        return next(r.member_id for r in self.world.records.values() if r.onprem and r.onprem.node_id == self.ids[role])

    def converged(self) -> bool:
        return snapshot(self.world.onprem, self.ids["root"]) == snapshot(self.world.cloud, self.id(CLOUD, "root"))


def synced_case(options: Options | None = None, *, versionable: bool = True) -> Case:
    world = new_world(options)
    op = world.onprem
    root = op.add("o1", "Specs", folder=True)
    a = op.add(root, "a.txt", folder=False, content=b"alpha", versionable=versionable)
    sub = op.add(root, "sub", folder=True)
    b = op.add(sub, "b.txt", folder=False, content=b"beta", versionable=versionable)
    world.add_direct(root)
    world.sync()
    case = Case(world, {"root": root, "a": a, "sub": sub, "b": b})
    assert case.converged()
    return case


STATE_ONLY = {K.RECORD_BASE, K.DROP_MEMBER, K.MARK_FAILED, K.COMPARE}


def kinds(plan: Plan, side: str | None = None) -> list[ActionKind]:
    """All action kinds in order, or with `side` only the repository steps on that side."""
    return [a.kind for a in plan.actions if side is None or (a.side == side and a.kind not in STATE_ONLY)]


# ---------------------------------------------------------------------------------------------- rows
def test_changed_on_prem_unchanged_cloud_pushes_the_change() -> None:
    c = synced_case()
    c.world.onprem.write(c.ids["a"], b"alpha 2")
    plan = c.world.sync()
    assert kinds(plan, CLOUD) == [K.UPDATE_CONTENT]
    assert c.node(CLOUD, "a").content == b"alpha 2"
    assert c.node(CLOUD, "a").versions == [b"alpha"]
    assert c.converged()


def test_unchanged_on_prem_changed_cloud_pulls_the_change() -> None:
    c = synced_case()
    c.world.cloud.write(c.id(CLOUD, "a"), b"from the cloud")
    plan = c.world.sync()
    assert kinds(plan, ONPREM)[:1] == [K.UPDATE_CONTENT]
    assert c.node(ONPREM, "a").content == b"from the cloud"
    assert c.converged()


def test_changed_both_same_content_records_the_new_base_only() -> None:
    c = synced_case()
    c.world.onprem.write(c.ids["a"], b"same")
    c.world.cloud.write(c.id(CLOUD, "a"), b"same")
    plan = c.world.sync()
    assert kinds(plan) == [K.RECORD_BASE]
    assert plan.conflicts == []
    assert c.world.plan().actions == []


def test_changed_both_same_size_unknown_hashes_plans_a_compare_first() -> None:
    c = synced_case(versionable=False)
    c.world.onprem.write(c.ids["a"], b"SAME!")
    c.world.cloud.write(c.id(CLOUD, "a"), b"SAME!")
    from sync import plan as plan_fn

    onprem, cloud = c.world.observe()
    first = plan_fn(
        list(c.world.records.values()),
        onprem,
        cloud,
        target_folder_id=c.world.target,
        options=Options(),
        now=c.world.cloud.as_node(c.world.cloud.nodes[c.world.target]).modified_at,  # type: ignore[arg-type]
    )
    compare = [a for a in first.actions if a.kind == K.COMPARE]
    # cloud copies are versionable (uploads are), the on-prem one is not: version cannot decide.
    assert compare and first.needs_compare
    assert set(compare[0].hash_sides) == {ONPREM, CLOUD}
    plan = c.world.sync()
    assert kinds(plan) == [K.RECORD_BASE]


@pytest.mark.parametrize(
    ("policy", "cloud_later", "expected", "winner"),
    [
        (ConflictPolicy.CLOUD_WINS, False, b"cloud edit", CLOUD),
        (ConflictPolicy.ONPREM_WINS, True, b"on-prem edit", ONPREM),
        (ConflictPolicy.NEWER_WINS, True, b"cloud edit", CLOUD),
        (ConflictPolicy.NEWER_WINS, False, b"on-prem edit", ONPREM),
    ],
)
def test_changed_both_different_is_a_conflict_settled_by_policy_without_losing_bytes(
    policy: ConflictPolicy, cloud_later: bool, expected: bytes, winner: str
) -> None:
    c = synced_case(Options(conflict_policy=policy), versionable=False)
    edits: list[Callable[[], None]] = [
        lambda: c.world.onprem.write(c.ids["a"], b"on-prem edit"),
        lambda: c.world.cloud.write(c.id(CLOUD, "a"), b"cloud edit"),
    ]
    # The two repositories have separate clocks: push the later side's clock ahead.
    later = c.world.cloud if cloud_later else c.world.onprem
    later.clock += 1000
    for edit in edits:
        edit()
    plan = c.world.sync()
    assert [(x.aspects, x.winner, x.loser_kept_as) for x in plan.conflicts] == [(("content",), winner, "version")]
    loser = ONPREM if winner == CLOUD else CLOUD
    # On-prem nodes here are not versionable (cloud uploads are): versionable first, then overwrite.
    expected_steps = [K.ENSURE_VERSIONABLE, K.UPDATE_CONTENT] if loser == ONPREM else [K.UPDATE_CONTENT]
    assert kinds(plan, loser)[: len(expected_steps)] == expected_steps
    assert c.node(ONPREM, "a").content == expected == c.node(CLOUD, "a").content
    loser_bytes = b"on-prem edit" if loser == ONPREM else b"cloud edit"
    assert loser_bytes in c.node(loser, "a").versions
    assert c.converged()


def test_conflict_keep_both_keeps_the_loser_beside_the_winner_with_a_dated_name() -> None:
    c = synced_case(Options(conflict_policy=ConflictPolicy.KEEP_BOTH))
    c.world.onprem.write(c.ids["a"], b"on-prem edit")
    c.world.cloud.write(c.id(CLOUD, "a"), b"cloud edit")
    plan = c.world.sync()
    copy_name = "a (conflict from on-prem 2026-11-28 140500).txt"
    assert [(x.winner, x.loser_kept_as) for x in plan.conflicts] == [(CLOUD, copy_name)]
    assert K.CONFLICT_COPY in kinds(plan, ONPREM)
    for repo in (c.world.onprem, c.world.cloud):
        by_name = {n.name: n.content for n in repo.nodes.values()}
        assert by_name["a.txt"] == b"cloud edit"
        assert by_name[copy_name] == b"on-prem edit"
    assert c.converged()
    assert c.world.plan().actions == []


def _conflict(c: Case, onprem: bytes, cloud: bytes) -> Plan:
    c.world.onprem.write(c.ids["a"], onprem)
    c.world.cloud.write(c.id(CLOUD, "a"), cloud)
    return c.world.sync()


def test_keep_both_a_second_conflict_in_the_same_second_gets_a_counter_not_a_clash() -> None:
    """Issue 17 item 6: the runs' clock is fixed, so every conflict of `a.txt` has the same stamp; the
    second and third copies take ` 2` and ` 3` instead of failing the member TARGET_FOLDER_NAME_CLASH."""
    c = synced_case(Options(conflict_policy=ConflictPolicy.KEEP_BOTH))
    stamp = "a (conflict from on-prem 2026-11-28 140500{}).txt"
    expected = [stamp.format(""), stamp.format(" 2"), stamp.format(" 3")]
    for round_, name in enumerate(expected, 1):
        plan = _conflict(c, f"on-prem edit {round_}".encode(), f"cloud edit {round_}".encode())
        assert [x.loser_kept_as for x in plan.conflicts] == [name]
        assert not [a for a in plan.actions if a.kind == K.MARK_FAILED], "no name clash"
        assert c.world.failed == []
    for repo in (c.world.onprem, c.world.cloud):
        by_name = {n.name: n.content for n in repo.nodes.values()}
        assert by_name["a.txt"] == b"cloud edit 3"
        assert [by_name[name] for name in expected] == [b"on-prem edit 1", b"on-prem edit 2", b"on-prem edit 3"]
    assert c.converged()
    assert c.world.plan().actions == []


@pytest.mark.parametrize("taken_on", [ONPREM, CLOUD])
def test_keep_both_skips_a_copy_name_taken_on_either_side(taken_on: str) -> None:
    """A file someone made with the copy's name, on the loser's side or only on the winner's side (not
    synced yet: created in this same run), is never overwritten nor met as a clash: the copy takes ` 2`."""
    c = synced_case(Options(conflict_policy=ConflictPolicy.KEEP_BOTH))
    squatter = "A (CONFLICT FROM ON-PREM 2026-11-28 140500).TXT"  # one name to Alfresco, whatever its case
    c.world.repo(taken_on).add(c.id(taken_on, "root"), squatter, folder=False, content=b"someone's file")
    plan = _conflict(c, b"on-prem edit", b"cloud edit")
    assert [x.loser_kept_as for x in plan.conflicts] == ["a (conflict from on-prem 2026-11-28 140500 2).txt"]
    assert c.world.failed == []
    for repo in (c.world.onprem, c.world.cloud):
        by_name = {n.name: n.content for n in repo.nodes.values()}
        assert by_name[squatter] == b"someone's file"
        assert by_name["a (conflict from on-prem 2026-11-28 140500 2).txt"] == b"on-prem edit"
    assert c.converged()


def test_names_equal_only_once_case_folded_are_two_names_as_in_alfresco() -> None:
    """Issue 17 item 7: Alfresco lower-cases a name to keep it unique in its folder
    (`ChildAssocEntity.getChildNameUnique`: `childName.toLowerCase()`) and does not case-fold it (`ß` -> `ss`),
    so `ß.txt` beside `SS.txt` (and `Straße.txt` beside `STRASSE.txt`) are two names there: all of them sync.
    (Names equal once lower-cased, `Case.txt` and `case.txt`, cannot even exist side by side in one Alfresco
    folder; `tests/reliability/test_hostile_names.py` has them from a local folder, failing as a clash.)"""
    c = synced_case()
    names = ("ß.txt", "SS.txt", "Straße.txt", "STRASSE.txt")
    for name in names:
        c.world.onprem.add(c.ids["sub"], name, folder=False, content=name.encode())
    c.world.sync()
    assert c.world.failed == []
    cloud = {n.name: n.content for n in c.world.cloud.children(c.id(CLOUD, "sub"))}
    assert {name: cloud.get(name) for name in names} == {name: name.encode() for name in names}
    assert c.converged()


def test_new_in_synced_folder_on_prem_is_created_in_the_cloud_with_subfolders() -> None:
    c = synced_case()
    new_dir = c.world.onprem.add(c.ids["sub"], "deeper", folder=True)
    c.world.onprem.add(new_dir, "c.txt", folder=False, content=b"gamma")
    plan = c.world.sync()
    assert kinds(plan, CLOUD) == [K.CREATE_FOLDER, K.UPLOAD]
    assert c.converged()


def test_new_in_synced_cloud_folder_is_created_on_prem() -> None:
    c = synced_case()
    c.world.cloud.add(c.id(CLOUD, "sub"), "from-cloud.txt", folder=False, content=b"x")
    plan = c.world.sync()
    assert kinds(plan, ONPREM) == [K.UPLOAD]
    assert c.converged()


@pytest.mark.parametrize("side", [ONPREM, CLOUD])
def test_renamed_inside_the_tree_renames_the_other_copy(side: str) -> None:
    c = synced_case()
    node = c.node(side, "a")
    c.world.repo(side).move(node.id, node.parent_id, "renamed.txt")  # type: ignore[arg-type]
    plan = c.world.sync()
    other = CLOUD if side == ONPREM else ONPREM
    assert kinds(plan, other) == [K.RENAME]
    assert c.node(other, "a").name == "renamed.txt"
    assert c.converged()


@pytest.mark.parametrize("side", [ONPREM, CLOUD])
def test_moved_inside_the_tree_moves_the_other_copy_to_the_paired_folder(side: str) -> None:
    c = synced_case()
    c.world.repo(side).move(c.id(side, "a"), c.id(side, "sub"), "a.txt")
    plan = c.world.sync()
    other = CLOUD if side == ONPREM else ONPREM
    assert kinds(plan, other) == [K.MOVE]
    assert c.node(other, "a").parent_id == c.id(other, "sub")
    assert c.node(other, "a").id == c.id(other, "a"), "moved, not deleted and re-created"


def test_moved_out_of_the_synced_tree_is_treated_as_deleted_on_that_side() -> None:
    c = synced_case()
    c.world.onprem.move(c.ids["a"], "o1", "a.txt")  # into the library, outside Specs
    cloud_a = c.id(CLOUD, "a")
    plan = c.world.sync()
    assert kinds(plan) == [K.DELETE, K.DROP_MEMBER]
    assert cloud_a in c.world.cloud.trash
    assert "o2" in c.world.onprem.nodes, "the moved on-prem node itself is left alone"


def test_moved_in_from_outside_is_treated_as_new() -> None:
    c = synced_case()
    outside = c.world.onprem.add("o1", "elsewhere.txt", folder=False, content=b"e")
    c.world.onprem.move(outside, c.ids["sub"], "elsewhere.txt")
    plan = c.world.sync()
    assert kinds(plan, CLOUD) == [K.UPLOAD]
    assert c.converged()


def test_deleted_on_prem_unchanged_cloud_deletes_the_cloud_copy_to_the_trashcan() -> None:
    c = synced_case()
    cloud_b = c.id(CLOUD, "b")
    c.world.onprem.delete(c.ids["b"])
    plan = c.world.sync()
    assert kinds(plan) == [K.DELETE, K.DROP_MEMBER]
    assert cloud_b in c.world.cloud.trash
    assert c.converged()


def test_deleted_folder_on_prem_is_one_delete_of_the_cloud_folder_and_comes_back_whole() -> None:
    """SPEC: a deleted folder is carried as one delete of the folder itself: its subtree goes to the trashcan
    with it, and comes back with it when someone restores the folder (never child by child)."""
    c = synced_case()
    cloud_sub, cloud_b = c.id(CLOUD, "sub"), c.id(CLOUD, "b")
    c.world.onprem.delete(c.ids["sub"])
    plan = c.world.sync()
    deletes = [a.node.node_id for a in plan.actions if a.kind == K.DELETE and a.node]
    assert deletes == [cloud_sub]
    assert c.converged()
    assert {cloud_sub, cloud_b} <= set(c.world.cloud.trash), "the folder went to the trashcan with its content"
    assert len(c.world.records) == 2, "the members inside the folder are dropped too"
    assert c.world.plan().actions == []


def test_a_folder_moved_out_of_the_tree_is_one_delete_after_what_leaves_it() -> None:
    c = synced_case()
    cloud_sub = c.id(CLOUD, "sub")
    outside = c.world.onprem.add("o1", "Elsewhere", folder=True)
    c.world.onprem.move(c.ids["b"], c.ids["root"], "b.txt")  # rescued from the folder before it leaves
    c.world.onprem.move(c.ids["sub"], outside, "sub")
    plan = c.world.sync()
    deletes = [a for a in plan.actions if a.kind == K.DELETE]
    assert [a.node.node_id for a in deletes if a.node] == [cloud_sub]
    move = next(i for i, a in enumerate(plan.actions) if a.kind == K.MOVE)
    assert move in plan.depends_on[plan.actions.index(deletes[0])], "the rescued file leaves before the folder goes"
    assert c.converged()


def test_cloud_deleted_with_allow_cloud_delete_off_restores_the_cloud_copy() -> None:
    c = synced_case(Options(allow_cloud_delete=False))
    c.world.cloud.delete(c.id(CLOUD, "sub"))
    plan = c.world.sync()
    assert kinds(plan, CLOUD) == [K.CREATE_FOLDER, K.UPLOAD]
    assert c.converged()
    assert c.world.plan().actions == []


def test_cloud_deleted_with_delete_on_premise_deletes_on_prem_to_the_trashcan() -> None:
    c = synced_case(Options(delete_on_premise=True))
    c.world.cloud.delete(c.id(CLOUD, "a"))
    plan = c.world.sync()
    assert kinds(plan, ONPREM) == [K.DELETE]
    assert c.ids["a"] in c.world.onprem.trash
    assert c.converged()


def test_cloud_deleted_by_default_keeps_on_prem_and_marks_no_longer_exists_until_request_sync() -> None:
    c = synced_case()
    c.world.cloud.delete(c.id(CLOUD, "a"))
    plan = c.world.sync()
    assert kinds(plan) == [K.MARK_FAILED]
    assert plan.actions[0].error_code == ErrorCode.TARGET_NODE_NO_LONGER_EXISTS
    assert c.ids["a"] in c.world.onprem.nodes
    member = c.member("a")
    assert c.world.records[member].status == MemberStatus.FAILED
    waiting = c.world.plan()
    assert waiting.actions == [] and [s.member for s in waiting.skipped] == [f"m{member}"]
    requested = c.world.sync(scope=member)
    assert kinds(requested, CLOUD) == [K.UPLOAD], "Request Sync re-creates the cloud copy"
    assert requested.actions[0].parent is not None
    assert requested.actions[0].parent.node_id == c.id(CLOUD, "root"), "in its original folder"
    assert c.world.records[member].status == MemberStatus.SYNCED
    assert c.converged()


def test_failed_member_is_retried_when_one_of_its_nodes_changes() -> None:
    c = synced_case()
    c.world.cloud.delete(c.id(CLOUD, "a"))
    c.world.sync()
    c.world.onprem.write(c.ids["a"], b"edited after the failure")
    plan = c.world.sync()
    assert kinds(plan, CLOUD) == [K.UPLOAD], "the change wins: re-created in the cloud"
    assert c.converged()


def test_deleted_on_prem_changed_in_cloud_recreates_on_prem() -> None:
    c = synced_case()
    c.world.onprem.delete(c.ids["sub"])
    c.world.cloud.write(c.id(CLOUD, "b"), b"cloud kept working")
    plan = c.world.sync()
    assert kinds(plan, ONPREM) == [K.CREATE_FOLDER, K.UPLOAD], "the folder on the way is re-created too"
    assert K.DELETE not in kinds(plan)
    on_prem = snapshot(c.world.onprem, c.ids["root"])
    assert on_prem["/sub/b.txt"][1] == b"cloud kept working"


def test_changed_on_prem_deleted_in_cloud_recreates_in_the_cloud() -> None:
    c = synced_case()
    c.world.cloud.delete(c.id(CLOUD, "b"))
    c.world.onprem.write(c.ids["b"], b"on-prem kept working")
    plan = c.world.sync()
    assert kinds(plan, CLOUD) == [K.UPLOAD]
    assert c.converged()


def test_deleted_on_both_sides_drops_the_member() -> None:
    c = synced_case()
    member = c.member("a")
    c.world.cloud.delete(c.id(CLOUD, "a"))
    c.world.onprem.delete(c.ids["a"])
    plan = c.world.sync()
    assert kinds(plan) == [K.DROP_MEMBER]
    assert member not in c.world.records


def test_metadata_changed_on_one_side_travels() -> None:
    c = synced_case()
    c.world.cloud.set_meta(c.id(CLOUD, "a"), Metadata(title="T", author="ann"))
    plan = c.world.sync()
    assert kinds(plan, ONPREM) == [K.UPDATE_METADATA]
    assert c.node(ONPREM, "a").meta == Metadata(title="T", author="ann")


# ---------------------------------------------------------------------------------------------- options
def test_include_subfolders_off_syncs_direct_files_only_and_reports_cloud_subfolders() -> None:
    world = new_world(Options(include_subfolders=False))
    root = world.onprem.add("o1", "Specs", folder=True)
    world.onprem.add(root, "a.txt", folder=False, content=b"a")
    world.onprem.add(world.onprem.add(root, "sub", folder=True), "b.txt", folder=False, content=b"b")
    world.add_direct(root)
    world.sync()
    cloud_root = next(r.cloud.node_id for r in world.records.values() if r.direct and r.cloud)
    assert set(snapshot(world.cloud, cloud_root)) == {"/a.txt"}
    made = world.cloud.add(cloud_root, "cloud-made", folder=True)
    plan = world.sync()
    assert plan.actions == []
    assert [(i.side, i.node_id) for i in plan.ignored] == [(CLOUD, made), (ONPREM, "o4")]


def test_lock_on_premise_locks_every_file_including_files_pulled_from_the_cloud() -> None:
    c = synced_case(Options(lock_on_premise=True))
    assert c.node(ONPREM, "a").locked and c.node(ONPREM, "b").locked
    assert not c.node(ONPREM, "sub").locked, "folders cannot be locked"
    c.world.cloud.add(c.id(CLOUD, "sub"), "new.txt", folder=False, content=b"n")
    plan = c.world.sync()
    assert kinds(plan) == [K.UPLOAD, K.RECORD_BASE, K.LOCK]
    new = next(n for n in c.world.onprem.nodes.values() if n.name == "new.txt")
    assert new.locked
    assert c.world.plan().actions == []


def test_lock_on_premise_relocks_a_file_someone_unlocked() -> None:
    c = synced_case(Options(lock_on_premise=True))
    c.node(ONPREM, "a").locked = False
    plan = c.world.sync()
    assert kinds(plan) == [K.LOCK]
    assert c.node(ONPREM, "a").locked


def test_overwrite_makes_the_node_versionable_first() -> None:
    c = synced_case(versionable=False)
    c.world.cloud.write(c.id(CLOUD, "a"), b"new bytes")
    plan = c.world.sync()
    assert kinds(plan, ONPREM)[:2] == [K.ENSURE_VERSIONABLE, K.UPDATE_CONTENT]
    assert c.node(ONPREM, "a").versions == [b"alpha"]


def test_touch_without_content_change_is_compared_not_transferred() -> None:
    c = synced_case(versionable=False)
    c.world.onprem.write(c.ids["a"], b"alpha")  # same bytes, modifiedAt moves
    plan = c.world.sync()
    assert c.world.compares == 1
    assert kinds(plan) == [K.RECORD_BASE], "the base takes the new modifiedAt"
    c.world.plan()
    assert c.world.compares == 1, "and the next run does not compare again"


# ---------------------------------------------------------------------------------------------- clashes
def test_new_node_onto_a_name_the_other_side_holds_fails_with_name_clash() -> None:
    c = synced_case()
    c.world.onprem.add(c.ids["sub"], "x.txt", folder=False, content=b"on-prem x")
    c.world.cloud.add(c.id(CLOUD, "sub"), "X.TXT", folder=False, content=b"cloud x")
    plan = c.world.sync()
    failed = [a for a in plan.actions if a.kind == K.MARK_FAILED]
    assert {a.error_code for a in failed} == {ErrorCode.TARGET_FOLDER_NAME_CLASH}
    assert len(failed) == 2, "both creates of one name (case-insensitive) fail; nothing overwritten"
    assert not [a for a in plan.actions if a.kind == K.UPLOAD]
    assert c.world.plan().actions == [], "a failed member waits for a change"


def test_rename_onto_a_name_held_by_an_unrelated_node_fails() -> None:
    c = synced_case()
    c.world.cloud.add(c.id(CLOUD, "root"), "taken.txt", folder=False, content=b"t")
    c.world.onprem.add(c.ids["root"], "TAKEN.txt", folder=False, content=b"u")
    plan = c.world.sync()
    assert [a.error_code for a in plan.actions if a.kind == K.MARK_FAILED] == [ErrorCode.TARGET_FOLDER_NAME_CLASH] * 2


def test_swapped_names_go_through_a_temporary_name() -> None:
    c = synced_case()
    op = c.world.onprem
    c_ = op.add(c.ids["root"], "c.txt", folder=False, content=b"c")
    c.ids["c"] = c_
    c.world.sync()
    op.move(c.ids["a"], c.ids["root"], "tmp")
    op.move(c_, c.ids["root"], "a.txt")
    op.move(c.ids["a"], c.ids["root"], "c.txt")
    plan = c.world.sync()
    renames = [a.name for a in plan.actions if a.kind == K.RENAME]
    assert len(renames) == 3 and any(".ecsync-tmp-" in (n or "") for n in renames)
    assert c.converged()


def test_rename_into_a_name_freed_in_the_same_plan_is_ordered_after_it() -> None:
    c = synced_case()
    op = c.world.onprem
    op.delete(c.ids["a"])
    op.move(c.ids["b"], c.ids["root"], "a.txt")
    plan = c.world.sync()
    cloud_kinds = kinds(plan, CLOUD)
    assert cloud_kinds.index(K.DELETE) < cloud_kinds.index(K.MOVE)
    assert c.converged()


# ---------------------------------------------------------------------------------------------- safety
def _many_files(n: int, options: Options | None = None) -> tuple[World, list[str]]:
    world = new_world(options)
    root = world.onprem.add("o1", "Big", folder=True)
    files = [world.onprem.add(root, f"f{i}.txt", folder=False, content=b"x") for i in range(n)]
    world.add_direct(root)
    world.sync()
    return world, files


def test_delete_guard_holds_every_delete_above_the_limit() -> None:
    world, files = _many_files(20)
    for f in files[:15]:
        world.onprem.delete(f)
    world.onprem.add("o2", "new.txt", folder=False, content=b"n")
    plan = world.sync()
    assert plan.guard.tripped and plan.guard.deletes == 15 and plan.guard.members == 21
    assert "force=true" in plan.guard.message and "15 of 21" in plan.guard.message
    assert K.DELETE not in kinds(plan)
    assert K.UPLOAD in kinds(plan), "the rest of the plan still goes"
    assert not world.cloud.trash


def test_delete_guard_lets_a_forced_run_through() -> None:
    world, files = _many_files(20)
    for f in files[:15]:
        world.onprem.delete(f)
    plan = world.sync(options=Options(force=True))
    assert not plan.guard.tripped and plan.guard.forced
    assert kinds(plan).count(K.DELETE) == 15


def test_delete_guard_ignores_fewer_than_ten_deletes() -> None:
    world, files = _many_files(9)
    for f in files:
        world.onprem.delete(f)
    plan = world.sync()
    assert not plan.guard.tripped
    assert kinds(plan).count(K.DELETE) == 9


def test_unlisted_folder_never_makes_its_children_look_deleted() -> None:
    c = synced_case()
    onprem, cloud = c.world.observe()
    sub = c.ids["sub"]
    partial = onprem.nodes.copy()
    del partial[c.ids["b"]]
    from sync import Observation
    from sync import plan as plan_fn

    broken = Observation(partial, onprem.listed - {sub})
    result = plan_fn(
        list(c.world.records.values()),
        broken,
        cloud,
        target_folder_id=c.world.target,
        options=Options(),
        now=c.world.cloud.as_node(c.world.cloud.nodes[c.world.target]).modified_at,  # type: ignore[arg-type]
    )
    assert result.actions == []
    assert [s.member for s in result.skipped] == [f"m{c.member('b')}"]


def test_request_sync_is_limited_to_the_member_subtree() -> None:
    c = synced_case()
    c.world.onprem.write(c.ids["a"], b"outside the scope")
    c.world.onprem.write(c.ids["b"], b"inside the scope")
    plan = c.world.sync(scope=c.member("sub"))
    touched = {a.member for a in plan.actions}
    assert touched == {f"m{c.member('b')}"}
    assert c.node(CLOUD, "b").content == b"inside the scope"
    assert c.node(CLOUD, "a").content == b"alpha"


def test_initial_push_of_a_multi_file_sync_set_puts_files_in_the_target_folder() -> None:
    world = new_world(Options(lock_on_premise=True))
    f1 = world.onprem.add("o1", "one.txt", folder=False, content=b"1")
    f2 = world.onprem.add("o1", "two.txt", folder=False, content=b"2")
    world.add_direct(f1)
    world.add_direct(f2)
    plan = world.sync()
    uploads = [a for a in plan.actions if a.kind == K.UPLOAD]
    assert [a.parent.node_id for a in uploads if a.parent] == [world.target, world.target]
    assert sorted(n.name for n in world.cloud.children(world.target)) == ["one.txt", "two.txt"]
    assert world.onprem.nodes[f1].locked and world.onprem.nodes[f2].locked
    world.cloud.move(next(n.id for n in world.cloud.children(world.target) if n.name == "one.txt"), world.target, "uno.txt")
    world.sync()
    assert world.onprem.nodes[f1].name == "uno.txt"


def test_same_input_gives_the_same_plan_whatever_the_record_order() -> None:
    c = synced_case()
    c.world.onprem.write(c.ids["a"], b"x")
    c.world.cloud.add(c.id(CLOUD, "sub"), "n.txt", folder=False, content=b"n")
    onprem, cloud = c.world.observe()
    from sync import plan as plan_fn

    records = list(c.world.records.values())
    now = c.world.cloud.as_node(c.world.cloud.nodes[c.world.target]).modified_at
    one = plan_fn(records, onprem, cloud, target_folder_id=c.world.target, options=Options(), now=now)  # type: ignore[arg-type]
    two = plan_fn(records[::-1], onprem, cloud, target_folder_id=c.world.target, options=Options(), now=now)  # type: ignore[arg-type]
    assert one == two and one.actions

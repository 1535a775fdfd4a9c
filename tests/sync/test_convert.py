"""The helpers the flows share with the planner: row conversion, digests, conflict names."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.base import Metadata, Node
from models.tables import Member, SyncSet
from sync import ActionKind, Options, base_from_member, fingerprint, metadata_digest, options_from_sync_set
from sync.names import conflict_name
from tests.sync.memory_repo import new_world
from vocabulary import ConflictPolicy, ErrorCode, MemberKind, MemberStatus

WHEN = datetime(2026, 11, 27, 14, 5, tzinfo=UTC)


def test_base_from_member_reads_both_sides_and_the_failure_fingerprint() -> None:
    row = Member(
        id=7,
        sync_set_id=1,
        onprem_id="o-7",
        cloud_id=None,
        kind="file",
        direct=True,
        op_name="a.txt",
        op_parent_id="lib",
        op_size=3,
        op_modified_at=WHEN,
        op_version="1.2",
        op_sha256="ab" * 32,
        op_meta=metadata_digest(Metadata(title="t")),
        status="failed",
        error_code="TARGET_FOLDER_NAME_CLASH",
        error_report={"fingerprint": "fp"},
        requested=True,
        locked_by_sync=True,
    )
    rec = base_from_member(row)
    assert rec.key == "m7" and rec.kind == MemberKind.FILE and rec.direct
    assert rec.onprem is not None and rec.onprem.version == "1.2" and rec.onprem.parent_id == "lib"
    assert rec.cloud is None, "no cloud copy yet"
    assert rec.status == MemberStatus.FAILED and rec.error_code == ErrorCode.TARGET_FOLDER_NAME_CLASH
    assert rec.failed_fingerprint == "fp" and rec.requested and rec.locked_by_sync


def test_options_from_sync_set_carries_every_planner_option() -> None:
    row = SyncSet(
        slug="s",
        owner="o",
        onprem_connection="a",
        cloud_connection="b",
        kind="folder",
        target_network="n",
        target_site="s",
        target_folder_id="t",
        target_folder_path="/",
        include_subfolders=False,
        lock_on_premise=True,
        allow_cloud_delete=False,
        delete_on_premise=True,
        conflict_policy="keep-both",
        max_delete_percent=20,
    )
    assert options_from_sync_set(row, force=True) == Options(
        include_subfolders=False,
        lock_on_premise=True,
        allow_cloud_delete=False,
        delete_on_premise=True,
        conflict_policy=ConflictPolicy.KEEP_BOTH,
        max_delete_percent=20,
        force=True,
    )


def test_metadata_digest_is_stable_and_tells_none_from_empty() -> None:
    one = metadata_digest(Metadata(title="T", author="ann"))
    assert one == metadata_digest(Metadata(title="T", author="ann"))
    assert len(one) == 64
    assert metadata_digest(Metadata(title=None)) != metadata_digest(Metadata(title=""))
    assert metadata_digest(Metadata(title="a")) != metadata_digest(Metadata(description="a"))


def test_fingerprint_moves_when_a_node_changes() -> None:
    node = Node("n", "a.txt", "p", False, 3, WHEN, "1.0")
    moved = Node("n", "a.txt", "q", False, 3, WHEN, "1.0")
    assert fingerprint(node, None) == fingerprint(node, None)
    assert fingerprint(node, None) != fingerprint(moved, None)
    assert fingerprint(node, None) != fingerprint(None, node)


def test_conflict_name_puts_the_suffix_before_the_extension() -> None:
    assert conflict_name("report.final.docx", "onprem", WHEN) == "report.final (conflict from on-prem 2026-11-27 140500).docx"
    assert conflict_name("README", "cloud", WHEN) == "README (conflict from cloud 2026-11-27 140500)"
    assert conflict_name(".profile", "cloud", WHEN) == ".profile (conflict from cloud 2026-11-27 140500)"
    assert conflict_name("a.txt", "cloud", WHEN, 3) == "a (conflict from cloud 2026-11-27 140500 3).txt"


def test_a_node_locked_by_someone_else_is_still_planned() -> None:
    world = new_world()
    root = world.onprem.add("o1", "Specs", folder=True)
    a = world.onprem.add(root, "a.txt", folder=False, content=b"a", versionable=True)
    world.add_direct(root)
    world.sync()
    world.onprem.nodes[a].locked = True  # someone else's lock: the propagator will meet NODE_LOCKED
    cloud_a = next(r.cloud.node_id for r in world.records.values() if r.onprem and r.onprem.node_id == a and r.cloud)
    world.cloud.write(cloud_a, b"from the cloud")
    plan = world.plan()
    assert [x.kind for x in plan.actions] == [ActionKind.UPDATE_CONTENT, ActionKind.RECORD_BASE]

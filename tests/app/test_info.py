"""Sync Info's fields (SPEC "Sync Info"), from rows alone."""

from __future__ import annotations

from datetime import UTC, datetime

from ecsync.info import describe, render
from models.tables import Member, SyncSet

WHEN = datetime(2026, 11, 27, 14, 5, tzinfo=UTC)


def sync_set() -> SyncSet:
    return SyncSet(
        slug="specs",
        owner="admin",
        onprem_connection="onprem",
        cloud_connection="cloud",
        kind="folder",
        items=["site:engineering/Specs"],
        target_network="acme.com",
        target_site="partners",
        target_folder_id="t",
        target_folder_path="Shared",
    )


def test_synced_indirect_member_shows_its_place_inside_the_synced_folder():
    member = Member(sync_set_id=1, kind="file", direct=False, rel_path="Drafts/a.md", onprem_id="o", cloud_id="c", op_name="a.md")
    member.status, member.last_synced_at = "synced", WHEN
    info = describe(member, sync_set(), [], root_name="Specs")
    assert info.status == "Synced 2026-11-27 14:05 UTC, by admin"
    assert info.location == "acme.com › partners › /Shared › Specs/Drafts/a.md"
    assert info.synced_folder == "site:engineering/Specs"
    assert info.error_title is None


def test_failed_member_shows_the_banner_and_the_technical_report():
    member = Member(sync_set_id=1, kind="file", direct=True, onprem_id="o", op_name="big.bin")
    member.status, member.error_code, member.error_at, member.last_run_id = "failed", "CONTENT_LIMIT_VIOLATION", WHEN, "run-1"
    member.last_synced_at = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    member.error_report = {"operation": "upload", "method": "POST", "status": 413, "log_id": "0527"}
    text = render(describe(member, sync_set(), []))
    assert "Status: Sync attempted 2026-11-27 14:05 UTC, by admin" in text
    assert "Last successful sync 2026-11-26 09:00 UTC" in text
    assert "Last sync failed: CONTENT_LIMIT_VIOLATION" in text
    assert "status: 413" in text and "run: run-1" in text
    assert "The content will be synced to: acme.com › partners › /Shared" in text


def test_temporary_error_and_pending():
    member = Member(sync_set_id=1, kind="file", direct=True, onprem_id="o", op_name="x")
    member.status, member.error_code = "temporary-error", "TRANSIENT"
    assert describe(member, sync_set(), []).error_title == "Temporary sync error"
    member.status, member.requested = "synced", True
    assert describe(member, sync_set(), []).status == "Sync Pending"

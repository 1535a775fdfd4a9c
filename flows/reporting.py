"""What a run tells its user: the state message, the run's artifacts, and its ERROR log lines.

Prefect's run history is the sync status log, so each run leaves a table of what it did, the sync set's
current status under the key `sync-info-<slug>`, and a "View in Cloud" link.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prefect.artifacts import (
    acreate_link_artifact,
    acreate_markdown_artifact,
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)

from models.store import MemberSummary
from models.tables import Member, SyncSet

Members = Sequence[Member] | MemberSummary
"""Members as a list (unsync) or as the aggregate `store.member_summary` (a run: no full reload of every row)."""


def _summary(members: Members) -> MemberSummary:
    return members if isinstance(members, MemberSummary) else MemberSummary.of(members)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One action of a run as the user reads it."""

    action: str
    item: str
    direction: str
    outcome: str
    """done | failed | skipped"""
    code: str | None = None
    detail: str = ""

    def row(self) -> dict[str, str]:
        return {
            "action": self.action,
            "item": self.item,
            "direction": self.direction,
            "outcome": self.outcome if not self.code else f"{self.outcome} ({self.code})",
            "detail": self.detail,
        }


def failure_summary(members: Members) -> str | None:
    """ "3 of 120 items not synced: TARGET_FOLDER_NAME_CLASH 1, TRANSIENT 2", or None when all synced."""
    summary = _summary(members)
    failing = sum(summary.failing_by_code.values())
    if not failing:
        return None
    by_code = ", ".join(f"{code} {count}" for code, count in sorted(summary.failing_by_code.items()))
    return f"{failing} of {summary.total} items not synced: {by_code}"


def artifact_key(slug: str) -> str:
    return f"sync-info-{slug}"


def status_markdown(sync_set: SyncSet, members: Members, cloud_url: str | None) -> str:
    summary = _summary(members)
    counts = summary.by_status
    lines = [
        f"# Sync set `{sync_set.slug}`",
        "",
        f"- **Owner**: {sync_set.owner}",
        f"- **State**: {sync_set.state}",
        f"- **Items**: {', '.join(sync_set.items)}",
        f"- **Cloud location**: {sync_set.target_network} › {sync_set.target_site} › {sync_set.target_folder_path or '/'}",
        f"- **Options**: subfolders {'on' if sync_set.include_subfolders else 'off'}, "
        f"lock on-prem {'on' if sync_set.lock_on_premise else 'off'}, "
        f"cloud delete {'allowed' if sync_set.allow_cloud_delete else 'undone'}, "
        f"delete on-prem {'on' if sync_set.delete_on_premise else 'off'}, conflicts: {sync_set.conflict_policy}",
        f"- **Members**: {summary.total} (" + ", ".join(f"{status} {count}" for status, count in sorted(counts.items())) + ")",
    ]
    if cloud_url:
        lines.append(f"- **View in Cloud**: [{cloud_url}]({cloud_url})")
    if summary.failing:
        lines += ["", "## Not synced", "", "| item | status | code | technical report |", "|---|---|---|---|"]
        for member in summary.failing[:200]:
            report = _one_line(member.error_report)
            lines.append(
                f"| {member.rel_path or member.op_name or member.onprem_id} | {member.status} | {member.error_code} | {report} |"
            )
    return "\n".join(lines)


def _one_line(report: dict[str, Any] | None) -> str:
    if not report:
        return ""
    parts = [f"{key}={value}" for key, value in report.items() if value not in (None, "")]
    return "; ".join(parts).replace("|", "/")


async def publish_artifacts(sync_set: SyncSet, members: Members, outcomes: list[Outcome], cloud_url: str | None) -> None:
    """The run's table of actions, the sync set's status (keyed), and the link to its cloud location."""
    rows = [outcome.row() for outcome in outcomes] or [
        {"action": "none", "item": "", "direction": "", "outcome": "nothing to do", "detail": ""}
    ]
    await acreate_table_artifact(
        table=rows[:5000], description=f"What this run did for sync set {sync_set.slug} ({len(outcomes)} actions)"
    )
    await acreate_markdown_artifact(
        key=artifact_key(sync_set.slug),
        markdown=status_markdown(sync_set, members, cloud_url),
        description=f"Status of sync set {sync_set.slug}",
    )
    if cloud_url:
        await acreate_link_artifact(
            key=f"view-in-cloud-{sync_set.slug}", link=cloud_url, link_text="View in Cloud", description="Cloud copy"
        )


PROGRESS_FROM = 50
"""Plans with at least this many actions get a progress bar in the UI."""


def progress_artifact(description: str) -> Callable[[int, int], Awaitable[None]]:
    """A progress artifact for a run's propagation, made when the first progress of a large plan arrives."""
    artifact_id: Any = None

    async def update(finished: int, total: int) -> None:
        nonlocal artifact_id
        if total < PROGRESS_FROM:
            return
        progress = 100.0 * finished / total
        if artifact_id is None:
            artifact_id = await acreate_progress_artifact(progress=progress, description=f"{description}: {total} actions")
        else:
            await aupdate_progress_artifact(artifact_id, progress=progress)

    return update

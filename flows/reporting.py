"""What a run tells its user: the state message, the run's artifacts, and its ERROR log lines.

Prefect's run history is the sync status log, so each run leaves a table of what it did, the sync set's
current status under the key `sync-info-<slug>`, and a "View in Cloud" link.
"""

from __future__ import annotations

import asyncio
import re
import time
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

from flows.best_effort import Throttled, best_effort
from flows.recording import member_path
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
    cloud: str = ""
    """The address of the item's cloud copy ("View in Cloud"), when it has one."""

    def row(self) -> dict[str, str]:
        return {
            "action": self.action,
            "item": self.item,
            "direction": self.direction,
            "outcome": self.outcome if not self.code else f"{self.outcome} ({self.code})",
            "detail": self.detail,
            "view in cloud": self.cloud,
        }


NAMED = 5
"""A state message names at most this many items, then says how many more."""


def named(items: Sequence[tuple[str, str]], limit: int = NAMED) -> str:
    """ "Docs/a:b.txt NAME_NOT_ALLOWED; Docs/x.txt TARGET_FOLDER_NAME_CLASH and 3 more" """
    text = "; ".join(f"{path} {code}" for path, code in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


@dataclass(frozen=True)
class RunReport:
    """SPEC "Runs and their states": a run fails only for the items it attempted and could not sync; items
    parked by an earlier failure (waiting for a change or Request Sync) are named, not failed again."""

    total: int
    failed: list[tuple[str, str]]
    """(path, error code) of each item this run attempted and could not sync."""
    waiting: list[tuple[str, str]]
    """(path, error code) of items an earlier run failed that wait for attention (at most a page of them)."""
    waiting_count: int

    @classmethod
    def of(cls, outcomes: Sequence[Outcome], summary: MemberSummary, run_id: str, root_name: str | None) -> RunReport:
        failed: dict[str, str] = {}
        for outcome in outcomes:
            if outcome.outcome == "failed":
                failed.setdefault(outcome.item, outcome.code or "UNKNOWN")
        earlier = [row for row in summary.failing if row.last_run_id != run_id]
        waiting = [(member_path(row, root_name), row.error_code or "UNKNOWN") for row in earlier]
        this_run = len(summary.failing) - len(earlier)
        waiting_count = max(len(waiting), sum(summary.failing_by_code.values()) - this_run)
        return cls(summary.total, list(failed.items()), waiting, waiting_count)

    @property
    def failure(self) -> str | None:
        """ "2 of 540 items not synced: Docs/a:b.txt NAME_NOT_ALLOWED; Docs/x.txt TARGET_FOLDER_NAME_CLASH" """
        if not self.failed:
            return None
        return f"{len(self.failed)} of {self.total} items not synced: {named(self.failed)}" + self._waiting_note()

    def _waiting_note(self) -> str:
        if not self.waiting_count:
            return ""
        return f"; {_plural(self.waiting_count, 'item waits', 'items wait')} for attention: {named(self.waiting)}"

    def completed(self, done: int) -> str:
        """The message of a run that synced everything it attempted."""
        synced = self.total - self.waiting_count
        text = f"{_plural(done, 'action', 'actions')} done, {synced} of {_plural(self.total, 'item', 'items')} synced"
        return text + self._waiting_note()


def artifact_key(slug: str) -> str:
    return f"sync-info-{slug}"


CloudLink = Callable[[str, str], str | None]
"""(cloud node id, its name) -> the address of that node's page ("View in Cloud")."""


def status_markdown(
    sync_set: SyncSet,
    members: Members,
    cloud_url: str | None,
    root_name: str | None = None,
    scan: str = "",
    missed: int | None = None,
    link: CloudLink | None = None,
) -> str:
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
    if scan:
        lines.append(f"- **Last scan**: {scan}")
    if missed is not None:
        lines.append(f"- **Changes the last full scan found that incremental scans had missed**: {missed}")
    if cloud_url:
        lines.append(f"- **View in Cloud**: [{cloud_url}]({cloud_url})")
    if summary.failing:
        lines += ["", "## Not synced", "", "| item | status | code | technical report |", "|---|---|---|---|"]
        for member in summary.failing[:200]:
            report = _one_line(member.error_report)
            item = member_path(member, root_name).replace("|", "/")
            address = link(member.cloud_id, member.cl_name or "") if link is not None and member.cloud_id else None
            shown = f"[{item}]({address})" if address else item
            lines.append(f"| {shown} | {member.status} | {member.error_code} | {report} |")
    return "\n".join(lines)


def _one_line(report: dict[str, Any] | None) -> str:
    if not report:
        return ""
    parts = [f"{key}={value}" for key, value in report.items() if value not in (None, "")]
    return "; ".join(parts).replace("|", "/")


async def publish_artifacts(
    sync_set: SyncSet,
    members: Members,
    outcomes: list[Outcome],
    cloud_url: str | None,
    root_name: str | None = None,
    scan: str = "",
    missed: int | None = None,
    link: CloudLink | None = None,
) -> None:
    """The run's table of actions, the sync set's status (keyed), and the link to its cloud location.

    Best effort (`flows.best_effort`): an artifact the Prefect API does not take is a WARNING, never a failed run.
    """
    rows = [outcome.row() for outcome in outcomes] or [
        {"action": "none", "item": "", "direction": "", "outcome": "nothing to do", "detail": ""}
    ]
    # Three independent requests to the Prefect API, sent side by side (a no-change run's fixed cost), each
    # best effort: an API that does not answer costs a WARNING, never the run.
    requests: list[Awaitable[Any]] = [
        best_effort(
            "write the table of this run's actions",
            lambda: acreate_table_artifact(
                table=rows[:5000], description=f"What this run did for sync set {sync_set.slug} ({len(outcomes)} actions)"
            ),
        ),
        best_effort(
            f"write the status artifact of sync set {sync_set.slug}",
            lambda: acreate_markdown_artifact(
                key=artifact_key(sync_set.slug),
                markdown=status_markdown(sync_set, members, cloud_url, root_name, scan, missed, link),
                description=f"Status of sync set {sync_set.slug}",
            ),
        ),
    ]
    if cloud_url:
        requests.append(
            best_effort(
                "write the View in Cloud link",
                lambda: acreate_link_artifact(
                    key=f"view-in-cloud-{sync_set.slug}", link=cloud_url, link_text="View in Cloud", description="Cloud copy"
                ),
            )
        )
    await asyncio.gather(*requests)


PLANNED = re.compile(r": (\d+) items? planned$")
"""How a progress artifact's description ends: the demo (and any reader) takes the item count from it, since
Prefect keeps only a percentage as the artifact's data."""

PROGRESS_TIMEOUT = 10.0
"""Seconds a progress update may hold the run before it is given up (the Prefect client retries ~60 s)."""
PROGRESS_EVERY_SECONDS = 1.0
"""At most one progress update per this many seconds (each is a request to the Prefect API), and the last."""


def progress_description(title: str, planned: int) -> str:
    return f"{title}: {planned} item{'s' if planned != 1 else ''} planned"


def planned_items(description: str | None) -> int | None:
    """The number of items a progress artifact's run planned, from its description."""
    found = PLANNED.search(description or "")
    return int(found.group(1)) if found else None


def progress_artifact(title: str) -> Callable[[int, int], Awaitable[None]]:
    """A progress artifact for a run's propagation: items done of items planned, made at the first progress.

    A run with nothing to do makes none, so a quiet reconcile costs no extra call. Best effort: while the
    Prefect API does not answer, updates are skipped (one WARNING a minute) and the propagation carries on; the
    bar catches up with the next update that gets through.
    """
    artifact_id: Any = None
    attempt = Throttled()
    last = 0.0

    async def update(finished: int, total: int) -> None:
        nonlocal artifact_id, last
        if total < 1:
            return
        now = time.monotonic()
        if artifact_id is not None and finished < total and now - last < PROGRESS_EVERY_SECONDS:
            return
        last = now
        progress = 100.0 * finished / total
        if artifact_id is None:
            artifact_id = await attempt(
                "create the progress artifact",
                lambda: acreate_progress_artifact(progress=progress, description=progress_description(title, total)),
                timeout=PROGRESS_TIMEOUT,
            )
        else:
            await attempt(
                "update the progress artifact",
                lambda: aupdate_progress_artifact(artifact_id, progress=progress),
                timeout=PROGRESS_TIMEOUT,
            )

    return update

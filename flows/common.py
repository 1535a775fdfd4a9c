"""What every flow does at its start and end: find the database, tag the run, and end in a clear state."""

from __future__ import annotations

import uuid
from typing import Any

from prefect.client.orchestration import get_client
from prefect.exceptions import MissingContextError
from prefect.states import Completed, Failed, State

from flows.best_effort import best_effort
from flows.engine import RunResult
from flows.settings import get_settings
from tasks.transfer import DESTINATION_UPDATED


def database_url() -> str:
    return get_settings().resolved_database_url()


def sync_set_tag(slug: str) -> str:
    return f"sync-set:{slug}"


async def tag_current_run(*tags: str) -> None:
    """Add tags to the running flow run (Prefect cannot filter runs by parameters, only by tags).

    Best effort: a Prefect API that does not answer leaves the run untagged (a WARNING), never stops it.
    """
    try:
        from prefect.runtime import flow_run

        run_id = flow_run.get_id()
        existing = list(flow_run.get_tags() or [])
    except (ImportError, MissingContextError):
        return
    if not run_id:
        return
    wanted = sorted(set(existing) | set(tags))
    if wanted == sorted(existing):
        return

    async def update() -> None:
        async with get_client() as client:
            await client.update_flow_run(uuid.UUID(str(run_id)), tags=wanted)

    # Bounded: the client alone would retry for about a minute; the run puts the tag on again before its record.
    await best_effort(f"tag this run {', '.join(tags)}", update, timeout=15)


def summary(result: RunResult) -> dict[str, Any]:
    done = sum(1 for o in result.outcomes if o.outcome == "done")
    failed = sum(1 for o in result.outcomes if o.outcome == "failed")
    skipped = sum(1 for o in result.outcomes if o.outcome == "skipped")
    conflicts = len(result.plan.conflicts) if result.plan else 0
    return {
        "sync_set": result.slug,
        "actions_done": done,
        "actions_failed": failed,
        "actions_skipped": skipped,
        "conflicts": conflicts,
        "failure": result.failure,
    }


def final_state(result: RunResult) -> State[Any]:
    """SPEC "Runs and their states": Failed, naming the items, when an item this run attempted failed;
    Completed otherwise, naming the items an earlier run parked (they wait for a change or Request Sync)."""
    data = summary(result)
    if result.failure:
        return Failed(message=result.failure)
    done = int(data["actions_done"])
    message = f"{result.slug}: " + (result.report.completed(done) if result.report else f"{done} actions done")
    updated = [o for o in result.outcomes if o.outcome == "skipped" and DESTINATION_UPDATED in (o.detail or "")]
    if updated:
        # "all items synced" alone would hide that someone's edit is waiting for the next run.
        message += f"; {len(updated)} left for the next run: {DESTINATION_UPDATED} ({', '.join(o.item for o in updated[:5])})"
    return Completed(message=message)


def refused(message: str) -> State[Any]:
    """A refusal before anything changed: the run fails with the user's message and nothing else."""
    return Failed(message=message)

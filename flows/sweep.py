"""The sweep: every active sync set reconciled, by this run or fanned out over the work pool.

Two rules keep it safe without any Prefect concurrency slot (a slot can stay taken for ever when the process
that held it was killed and the server restarted, so that every later tick would be cancelled):

- **One sweep at a time** by the `sweep` lease in the sync state (`flows.lease.run_leased`): a sweep that finds a
  live earlier sweep ends at once, Completed and named Skipped; a killed sweep's lease lapses after
  `lease_seconds` (at once when Prefect reports its run finished), so the schedule recovers by itself.
- **One run per sync set at a time** by each set's own lease: a set another run holds is skipped (that run does
  the work), never counted as a failure.

A sweep started by a work-pool worker fans out: the sync sets go in batches of at most `sweep_batch_size` to the
`reconcile-sync-sets` deployment of the same work pool (`run_deployment`), at most `sweep_concurrency` batch
runs at once, so the pool's workers share the sweep; the sweep waits and reports per set, naming failures by
slug. A served sweep (`ecsync serve`, no work pool) or `sweep_batch_size=0` reconciles the sets itself, one
after another, each as a subflow run.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prefect import flow, tags
from prefect.states import Completed, Failed, State

from flows.common import database_url, sync_set_tag
from flows.database_errors import guarded
from flows.lease import current_run_id, run_leased
from flows.parameters import Slug
from flows.settings import Settings, get_settings
from flows.sync_set_run import SKIPPED, reconcile_sync_set, skipped
from models import store
from tasks.run_log import run_logger

SWEEP_LEASE = "sweep"
BATCH_FLOW = "reconcile-sync-sets"
"""The flow a fanned-out sweep starts, one run per batch of sync sets, on its work pool's deployment of it."""


@dataclass(frozen=True)
class SetOutcome:
    """What became of one sync set in a sweep."""

    slug: str
    status: str
    """`done`, `skipped` or `failed`."""
    message: str


def outcome_of(slug: str, state_type: str, state_name: str | None, message: str | None) -> SetOutcome:
    if state_type == "COMPLETED":
        return SetOutcome(slug, "skipped" if state_name == SKIPPED else "done", message or "")
    return SetOutcome(slug, "failed", message or state_name or state_type)


def report(outcomes: Sequence[SetOutcome], how: str = "") -> State[Any]:
    """Failed naming every set not fully synced by slug; Completed otherwise, naming the sets skipped."""
    total = len(outcomes)
    failed = [o for o in outcomes if o.status == "failed"]
    skipped_sets = [o for o in outcomes if o.status == "skipped"]
    done = total - len(failed) - len(skipped_sets)
    tail = (
        f"; {len(skipped_sets)} skipped (held by another run, or unsynced): " + ", ".join(o.slug for o in skipped_sets[:20])
        if skipped_sets
        else ""
    )
    tail += how
    if failed:
        details = " | ".join(f"{o.slug}: {o.message}" for o in failed)
        return Failed(message=f"{len(failed)} of {total} sync sets not fully synced: {details}{tail}")
    return Completed(message=f"{done} of {total} sync sets reconciled{tail}")


async def reconcile_in_this_run(slugs: Sequence[str], force: bool) -> list[SetOutcome]:
    """Each set as a subflow run of this run, one after another."""
    outcomes = []
    for slug in slugs:
        with tags(sync_set_tag(slug)):
            state = await reconcile_sync_set(slug=slug, force=force, in_sweep=True, return_state=True)
        outcomes.append(outcome_of(slug, state.type.value, state.name, state.message))
    return outcomes


def _batch_run_name() -> str:
    from prefect.runtime import flow_run

    slugs = list(flow_run.get_parameters().get("slugs") or [])
    if not slugs:
        return "reconcile-sets-none"
    return f"reconcile-{slugs[0]}" if len(slugs) == 1 else f"reconcile-{slugs[0]}-to-{slugs[-1]}-{len(slugs)}-sets"


@flow(name=BATCH_FLOW, flow_run_name=_batch_run_name)
async def reconcile_sync_sets(slugs: list[Slug], force: bool = False) -> State[Any]:
    """A sweep's share of the work: these sync sets, one after another (each as a subflow run of its own).

    Args:
        slugs: The sync sets, e.g. `["specs", "notes"]`.
        force: Let these runs through the mass-delete guard (`max_delete_percent`).
    """

    async def body() -> State[Any]:
        return report(await reconcile_in_this_run(slugs, force))

    return await guarded(body())


async def _work_pool_of_this_run() -> str | None:
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return None
    return context.flow_run.work_pool_name


async def _batch_deployment(work_pool: str) -> uuid.UUID | None:
    """The `reconcile-sync-sets` deployment of this work pool, if one was deployed."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, WorkPoolFilter, WorkPoolFilterName

    async with get_client() as client:
        found = await client.read_deployments(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[BATCH_FLOW])),
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[work_pool])),
            limit=1,
        )
    return found[0].id if found else None


async def _outcomes_of_batch(run: Any, slugs: Sequence[str]) -> list[SetOutcome]:
    """Per set, from the batch run's subflow runs (tagged `sync-set:<slug>`); a set without one was not reached."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    async with get_client() as client:
        children = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run.id])), limit=200
        )
    by_slug = {}
    for child in children:
        for tag in child.tags or []:
            if tag.startswith("sync-set:") and child.state is not None:
                by_slug[tag.removeprefix("sync-set:")] = child.state
    state = run.state
    batch_said = f"batch run {run.name} ended {state.name if state else 'without a state'}" + (
        f": {state.message}" if state is not None and state.message else ""
    )
    outcomes = []
    for slug in slugs:
        child_state = by_slug.get(slug)
        if child_state is None or not child_state.is_final():
            outcomes.append(SetOutcome(slug, "failed", f"not reconciled ({batch_said})"))
        else:
            outcomes.append(outcome_of(slug, child_state.type.value, child_state.name, child_state.message))
    return outcomes


async def follow(run_id: uuid.UUID, slugs: Sequence[str], settings: Settings) -> Any:
    """Wait for a batch run to end; a Running batch that shows no sign of life for twice `lease_seconds` is
    marked Crashed and given up on, so a worker killed under it can never hold the sweep (and every later tick)
    for ever. A sign of life: one of its sync sets held under an unexpired lease (a live run renews it every third
    of `lease_seconds`, and holds it all the time it works on the set). A run still waiting for a worker
    (Scheduled, Pending) is waited for.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    url = database_url()
    loop = asyncio.get_running_loop()
    quiet_limit = 2 * settings.lease_seconds
    last_life = loop.time()
    async with get_client() as client:
        while True:
            run = await client.read_flow_run(run_id)
            state = run.state
            if state is not None and state.is_final():
                return run
            waiting = state is None or state.type in (StateType.SCHEDULED, StateType.PENDING)
            if waiting or await asyncio.to_thread(store.leased_now, url, slugs):
                last_life = loop.time()
            elif loop.time() - last_life > quiet_limit:
                message = f"No sign of life for {quiet_limit} s (its worker was probably killed); the sweep gave up on it"
                await client.set_flow_run_state(run_id, Crashed(message=message), force=True)
                return await client.read_flow_run(run_id)
            await asyncio.sleep(1.0)


def batch_size(sets: int, settings: Settings) -> int:
    """At most `sweep_batch_size` sets per run, fewer when that leaves some of `sweep_concurrency` idle: every
    run costs a new Python process on its worker, so no more runs than needed, but no fewer than can run at once."""
    return max(1, min(settings.sweep_batch_size, -(-sets // settings.sweep_concurrency)))


async def fan_out(deployment_id: uuid.UUID, slugs: Sequence[str], force: bool, settings: Settings) -> list[SetOutcome]:
    """Batches of sync sets as runs of the batch deployment, `sweep_concurrency` at once; outcomes in slug order."""
    from prefect.deployments import run_deployment

    size = batch_size(len(slugs), settings)
    batches = [list(slugs[i : i + size]) for i in range(0, len(slugs), size)]
    gate = asyncio.Semaphore(settings.sweep_concurrency)

    async def one(batch: list[str]) -> list[SetOutcome]:
        async with gate:
            try:
                created = await run_deployment(  # type: ignore[misc]
                    deployment_id, parameters={"slugs": batch, "force": force}, timeout=0
                )
                run = await follow(created.id, batch, settings)
            except Exception as exc:  # the run could not be created or followed: name its sets
                return [SetOutcome(slug, "failed", f"not reconciled: the batch run failed ({exc})") for slug in batch]
        return await _outcomes_of_batch(run, batch)

    results = await asyncio.gather(*(one(batch) for batch in batches))
    return [outcome for result in results for outcome in result]


async def sweep(force: bool) -> State[Any]:
    """Every active sync set, unless a live earlier sweep is still at it (then this one is Skipped)."""
    settings = get_settings()
    url = database_url()
    async with run_leased(url, SWEEP_LEASE, current_run_id(), settings) as busy:
        if busy is not None:
            message = f"Sweep skipped: an earlier sweep is still running ({busy}); the next tick sweeps again"
            run_logger().info(message)
            return skipped(message)
        slugs = [sync_set.slug for sync_set in store.active_sync_sets(url)]
        work_pool = await _work_pool_of_this_run() if settings.sweep_batch_size > 0 and len(slugs) > 1 else None
        deployment_id = await _batch_deployment(work_pool) if work_pool else None
        if work_pool and deployment_id is None:
            run_logger().warning("No %s deployment in work pool %r: this run sweeps every set itself", BATCH_FLOW, work_pool)
        if deployment_id is None:
            return report(await reconcile_in_this_run(slugs, force))
        outcomes = await fan_out(deployment_id, slugs, force, settings)
        size = batch_size(len(slugs), settings)
        runs = -(-len(slugs) // size)
        return report(outcomes, f" (in {runs} runs of up to {size} sets on work pool {work_pool!r})")

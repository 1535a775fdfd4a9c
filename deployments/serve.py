"""Serving the four deployments from one process on one machine (`python -m ecsync serve`).

The served deployments are named `local` so they never collide with the work-pool deployments of
`prefect.yaml` (named `pool`): both kinds can live on one Prefect server. Reconcile runs on a schedule;
the other three run when someone asks (UI, CLI, REST API).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

SERVED_NAME = "local"
"""Deployment name of every served flow: `sync-to-cloud/local`, `reconcile/local`, ..."""

POOL_NAME = "pool"
"""Deployment name of every flow in `prefect.yaml` (for workers); kept here so the two never collide."""

SCHEDULE_SUFFIX = "-schedule"
"""The scheduled sweep is a deployment of its own (`reconcile/local-schedule`, `reconcile/pool-schedule`).

A sweep that finds the previous one still running is cancelled (it would only redo the same work), while a
reconcile somebody asks for (`reconcile/local`) must neither be cancelled nor queue behind a backlog of sweeps.
Prefect applies one concurrency policy per deployment, so the two uses get one deployment each.
"""

FLOW_NAMES = ("sync-to-cloud", "reconcile", "request-sync", "unsync")

DEFAULT_INTERVAL_SECONDS = 300
"""How often the scheduled reconcile sweeps every active sync set, unless told otherwise."""


@dataclass(frozen=True)
class ServeOptions:
    """What `serve` needs: the reconcile interval and how many runs this process may run at once."""

    interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    limit: int = 4
    schedule: bool = True


def _limit(limit: int, *, cancel_new: bool = False) -> object:
    """ENQUEUE: a run over the limit waits for a slot (nobody's request is lost); CANCEL_NEW for the sweep."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    strategy = ConcurrencyLimitStrategy.CANCEL_NEW if cancel_new else ConcurrencyLimitStrategy.ENQUEUE
    return ConcurrencyLimitConfig(limit=limit, collision_strategy=strategy)


def build_deployments(options: ServeOptions) -> list[RunnerDeployment]:
    """The four flows as served deployments, plus reconcile's schedule as a deployment of its own.

    The scheduled sweep runs one at a time and a tick that finds the previous sweep still running is
    cancelled (see SCHEDULE_SUFFIX). The per-sync-set lease in the sync state keeps any two runs from
    changing one sync set at once, whatever these limits say.
    """
    from flows.reconcile import reconcile
    from flows.request_sync import request_sync
    from flows.sync_to_cloud import sync_to_cloud
    from flows.unsync import unsync

    per_flow = max(1, options.limit)
    deployments = [
        sync_to_cloud.to_deployment(
            name=SERVED_NAME,
            description="Set up a sync: push on-prem items to a cloud network, site and folder.",
            concurrency_limit=_limit(per_flow),
        ),
        reconcile.to_deployment(
            name=SERVED_NAME,
            description="Carry every change since the last run, both ways (one sync set, or all of them), now.",
            concurrency_limit=_limit(per_flow),
        ),
        request_sync.to_deployment(
            name=SERVED_NAME,
            description="Sync one member now (the remedy after a failure).",
            concurrency_limit=_limit(per_flow),
        ),
        unsync.to_deployment(
            name=SERVED_NAME,
            description="Stop syncing a direct member or a whole sync set.",
            concurrency_limit=_limit(per_flow),
        ),
    ]
    if options.schedule:
        sweep = reconcile.to_deployment(
            name=SERVED_NAME + SCHEDULE_SUFFIX,
            interval=timedelta(seconds=options.interval_seconds),
            description="The schedule: every active sync set, one sweep at a time (a tick during a sweep is skipped).",
            concurrency_limit=_limit(1, cancel_new=True),
        )
        deployments.append(sweep)
    return deployments


def serve_all(options: ServeOptions) -> None:
    """Serve until interrupted; schedules stay active when this process stops (pause_on_shutdown=False).

    Prefect's runner is restarted whenever it gives up on an unreachable API (`deployments.supervise`).
    """
    from deployments.supervise import supervise

    supervise(lambda: build_deployments(options), options.limit)

"""Serving the deployments from one process on one machine (`python -m ecsync serve`).

Built from the one table of deployments (`deployments/definitions.py`), which `prefect.yaml` is generated
from too. The served names say what each deployment is for (`sync-to-cloud/set-up-sync`,
`reconcile/reconcile-now`, `reconcile/scheduled-sweep`, `request-sync/sync-one-member`, `unsync/stop-syncing`);
the work-pool deployments add `-pool`, so both kinds can live on one Prefect server. The sweep runs on a
schedule; the others run when someone asks (UI, CLI, REST API).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from deployments.definitions import DEFAULT_INTERVAL_SECONDS, Definition, served

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

__all__ = ["DEFAULT_INTERVAL_SECONDS", "ServeOptions", "build_deployments", "serve_all"]


@dataclass(frozen=True)
class ServeOptions:
    """What `serve` needs: the sweep's interval and how many runs this process may run at once."""

    interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    limit: int = 4
    schedule: bool = True


def _limit(limit: int) -> object:
    """ENQUEUE: a run over the limit waits for a slot (nobody's request is lost)."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    return ConcurrencyLimitConfig(limit=limit, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)


def _flow(definition: Definition) -> Any:
    """The flow object of a definition's entrypoint (imported here, so the table stays pure data)."""
    import importlib

    path, function = definition.entrypoint.split(":")
    return getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), function)


def build_deployments(options: ServeOptions) -> list[RunnerDeployment]:
    """The served deployments of the table, the sweep with its schedule unless `schedule` is off.

    The sweep has no deployment concurrency limit: the sweep lease in the sync state keeps sweeps from
    overlapping and each sync set's lease keeps two runs from changing one set (see `flows/sweep.py`).
    """
    deployments = []
    for definition in served():
        if definition.scheduled and not options.schedule:
            continue
        kwargs: dict[str, Any] = {"name": definition.name, "description": definition.description}
        if definition.served_limit:
            kwargs["concurrency_limit"] = _limit(max(1, options.limit))
        if definition.scheduled:
            kwargs["interval"] = timedelta(seconds=options.interval_seconds)
        deployments.append(_flow(definition).to_deployment(**kwargs))
    return deployments


def serve_all(options: ServeOptions) -> None:
    """Serve until interrupted; schedules stay active when this process stops (pause_on_shutdown=False).

    Prefect's runner is restarted whenever it gives up on an unreachable API (`deployments.supervise`).
    """
    from deployments.supervise import supervise

    supervise(lambda: build_deployments(options), options.limit)

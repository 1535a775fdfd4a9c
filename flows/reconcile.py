"""`reconcile`: carries every change since the last run, both ways, for one sync set or (a sweep) for all."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.states import State

from flows.database_errors import guarded
from flows.parameters import Slug
from flows.sweep import sweep
from flows.sync_set_run import reconcile_one, reconcile_sync_set

__all__ = ["reconcile", "reconcile_sync_set"]


def _run_name() -> str:
    from prefect.runtime import flow_run

    slug = flow_run.get_parameters().get("slug")
    return f"reconcile-{slug}" if slug else "reconcile-all"


@flow(name="reconcile", flow_run_name=_run_name)
async def reconcile(slug: Slug | None = None, force: bool = False) -> State[Any]:
    """Carry every change since the last run, both ways: one sync set, or every active one.

    Args:
        slug: The sync set (`specs`); empty: every active sync set.
        force: Let this run through the mass-delete guard (`max_delete_percent`): only after checking that
            the deletions are wanted.
    """
    if slug is not None:
        return await guarded(reconcile_one(slug, force))
    return await guarded(sweep(force))

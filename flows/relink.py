"""`ecsync relink`: set every sync set up again from Prefect's run history, re-pairing what is there.

After the sync-state database is lost, the product no longer knows its sync sets, but Prefect's run history does:
every `sync-to-cloud` run keeps the parameters it was given (items, destination, options, slug, connections).
`relink` finds, for each slug, the newest setup that created its sync set and was not unsynced since, and runs it
again with `adopt_existing` on (`flows.adoption`): the same refusals, the existing copies re-paired, the sync's
locks adopted, what could not be paired reported in each run's state message. Sync sets the database still has
are left alone, so running it twice does nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort

from flows.parameters import Destination, default_slug
from models import store
from vocabulary import SyncSetState

CREATED_A_SET = "items not synced"
"""A Failed setup whose message says this had created its sync set (some items failed); other Failed ones were refused."""


@dataclass
class Setup:
    """One sync set as its newest setup run made it."""

    slug: str
    parameters: dict[str, Any]
    run_name: str
    when: datetime | None


def _slug_of(parameters: dict[str, Any]) -> str | None:
    slug = parameters.get("slug")
    if slug:
        return str(slug)
    try:
        return default_slug(list(parameters["items"]), Destination.model_validate(parameters["destination"]))
    except (KeyError, TypeError, ValueError):
        return None


async def _runs(flow_name: str) -> list[FlowRun]:
    """Every finished run of a flow, oldest first (paged: history can be long)."""
    found: list[FlowRun] = []
    async with get_client() as client:
        while True:
            page = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED, StateType.FAILED]))
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                offset=len(found),
                limit=200,
            )
            found.extend(page)
            if len(page) < 200:
                return found


def _made_a_set(run: FlowRun) -> bool:
    if run.state is None:
        return False
    return run.state.type == StateType.COMPLETED or CREATED_A_SET in (run.state.message or "")


async def setups_to_relink(database_url: str, slugs: list[str] | None = None) -> list[Setup]:
    """The setups to run again: per slug, the newest one that made its set, unless an unsync of the whole set
    completed after it, or the database still has the set active. `slugs` narrows the search."""
    newest: dict[str, Setup] = {}
    for run in await _runs("sync-to-cloud"):
        slug = _slug_of(dict(run.parameters))
        if slug is None or (slugs and slug not in slugs) or not _made_a_set(run):
            continue
        newest[slug] = Setup(slug, dict(run.parameters), run.name, run.start_time)
    for run in await _runs("unsync"):
        slug = run.parameters.get("slug")
        setup = newest.get(str(slug)) if slug else None
        if setup is None or run.state is None or run.state.type != StateType.COMPLETED:
            continue
        if setup.when is None or (run.start_time is not None and run.start_time > setup.when):
            del newest[setup.slug]
    wanted = []
    for slug, setup in sorted(newest.items()):
        existing = store.get_sync_set(database_url, slug)
        if existing is None or existing.state != SyncSetState.ACTIVE.value:
            wanted.append(setup)
    return wanted


def with_adoption(parameters: dict[str, Any]) -> dict[str, Any]:
    """The setup's parameters with `adopt_existing` on (and its slug spelled out, as the set had it)."""
    options = dict(parameters.get("options") or {})
    options["adopt_existing"] = True
    return {**parameters, "options": options, "slug": _slug_of(parameters)}


async def relink(database_url: str, slugs: list[str] | None = None, *, dry_run: bool = False) -> list[tuple[Setup, str]]:
    """Run each setup of `setups_to_relink` again with `adopt_existing`, one after another, in this process (each
    is a `sync-to-cloud` flow run of its own in Prefect's history). Returns (setup, its outcome) per sync set."""
    from flows.sync_to_cloud import sync_to_cloud

    outcomes: list[tuple[Setup, str]] = []
    for setup in await setups_to_relink(database_url, slugs):
        if dry_run:
            outcomes.append((setup, f"would run {setup.run_name!r} again with adopt_existing"))
            continue
        state = await sync_to_cloud(**with_adoption(setup.parameters), return_state=True)
        outcomes.append((setup, f"{state.type.value}: {state.message}"))
    return outcomes

"""The deployments, defined once: `serve` builds its RunnerDeployments from this table and `prefect.yaml` is
generated from it (`python -m deployments.definitions --write`; `tests/deploy/test_readme.py` fails when the
file differs from what the table gives).

Each deployment has a name that says what it is for, so the UI's deployment list tells them apart: `serve`
registers the names as they are (`sync-to-cloud/set-up-sync`, `reconcile/reconcile-now`, ...), `prefect.yaml`
the same names ending in `-pool` (`reconcile/scheduled-sweep-pool`), so both kinds can live on one server.

Pure data on purpose: importing this module loads no flow (the entrypoints are strings).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POOL_SUFFIX = "-pool"
"""The work-pool deployments of `prefect.yaml` are the served names plus this."""
WORK_POOL = "ecsync"
DEFAULT_INTERVAL_SECONDS = 300
"""How often the scheduled sweep reconciles every active sync set, unless told otherwise."""


@dataclass(frozen=True)
class Definition:
    """One deployment of one flow."""

    name: str
    """What the deployment is for; the served deployment's name (the pool's adds POOL_SUFFIX)."""
    flow: str
    """The flow's name (`@flow(name=...)`)."""
    entrypoint: str
    """`path/to/file.py:function`, relative to the repository."""
    description: str
    pool_limit: int | None
    """Runs of this deployment at once on the work pool (late runs wait: ENQUEUE); None: no limit."""
    served_limit: bool = True
    """Served: at most `serve --limit` runs of it at once (ENQUEUE); False: no limit."""
    scheduled: bool = False
    """The sweep: runs every interval."""
    pool_only: bool = False
    """Only the work pool has it (`reconcile-sync-sets`: a fanned-out sweep's batches; a served sweep runs in one run)."""

    @property
    def pool_name(self) -> str:
        return self.name + POOL_SUFFIX

    @property
    def function(self) -> str:
        return self.entrypoint.rsplit(":", 1)[1]


DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        name="set-up-sync",
        flow="sync-to-cloud",
        entrypoint="flows/sync_to_cloud.py:sync_to_cloud",
        description="Set up a sync: push on-prem items to a cloud network, site and folder.",
        pool_limit=4,
    ),
    Definition(
        name="reconcile-now",
        flow="reconcile",
        entrypoint="flows/reconcile.py:reconcile",
        description="Carry every change since the last run, both ways, now: one sync set (slug), or every active one.",
        pool_limit=8,
    ),
    Definition(
        name="scheduled-sweep",
        flow="reconcile",
        entrypoint="flows/reconcile.py:reconcile",
        description=(
            "The schedule: every active sync set. A tick that finds an earlier sweep still running is Skipped "
            "(the sweep lease in the sync state, which lapses when its holder dies); a set another run holds is "
            "skipped. On a work pool the sets are fanned out in batches over the workers."
        ),
        pool_limit=None,
        served_limit=False,
        scheduled=True,
    ),
    Definition(
        name="sweep-batch",
        flow="reconcile-sync-sets",
        entrypoint="flows/sweep.py:reconcile_sync_sets",
        description="A fanned-out sweep's share: a batch of sync sets, one after another (started by the sweep).",
        pool_limit=None,
        pool_only=True,
    ),
    Definition(
        name="sync-one-member",
        flow="request-sync",
        entrypoint="flows/request_sync.py:request_sync",
        description="Sync one member now (the remedy after a failure).",
        pool_limit=4,
    ),
    Definition(
        name="stop-syncing",
        flow="unsync",
        entrypoint="flows/unsync.py:unsync",
        description="Stop syncing a direct member or a whole sync set.",
        pool_limit=2,
    ),
)
"""No limit on the sweep and its batches: a deployment concurrency slot is freed by its live process, and one
left taken by a process killed while the server restarted is never freed, so the sweep would be cancelled for
ever. The sweep lease and each sync set's lease keep them apart instead; `sweep_concurrency` bounds the batches."""

FLOW_NAMES = ("sync-to-cloud", "reconcile", "request-sync", "unsync")
"""The flows people start; `reconcile-sync-sets` is started by a sweep."""


def by_name(name: str) -> Definition:
    (found,) = [d for d in DEFINITIONS if d.name == name]
    return found


def served() -> tuple[Definition, ...]:
    return tuple(d for d in DEFINITIONS if not d.pool_only)


HEADER = """\
# GENERATED from deployments/definitions.py by `python -m deployments.definitions --write`: edit the table there.
#
# The flows as work-pool deployments (`<flow>/<purpose>-pool`), for `prefect worker start --pool ecsync`:
#
#   prefect work-pool create ecsync --type process
#   prefect --no-prompt deploy --all
#   ECSYNC_PROJECT_DIR=$PWD prefect worker start --pool ecsync      # on each worker machine, as often as wanted
#
# The served deployments of `python -m ecsync serve` have the same names without `-pool`, so both kinds can live
# on one server. Every worker needs the sync-state database (ECSYNC_DATABASE_URL, PostgreSQL when there is more
# than one machine), PREFECT_API_URL, and a checkout of this repository at ECSYNC_PROJECT_DIR (see README.md,
# "Scale-out").
"""


def prefect_yaml_config(interval_seconds: float = DEFAULT_INTERVAL_SECONDS) -> dict[str, Any]:
    """What `prefect.yaml` holds, as data."""
    deployments: list[dict[str, Any]] = []
    for definition in DEFINITIONS:
        entry: dict[str, Any] = {
            "name": definition.pool_name,
            "entrypoint": definition.entrypoint,
            "description": definition.description,
            "tags": ["ecsync"],
            "work_pool": {"name": WORK_POOL, "work_queue_name": "default", "job_variables": {}},
        }
        if definition.scheduled:
            entry["schedules"] = [{"interval": interval_seconds}]
        if definition.pool_limit is not None:
            entry["concurrency_limit"] = {"limit": definition.pool_limit, "collision_strategy": "ENQUEUE"}
        deployments.append(entry)
    return {
        "name": "enterprise-cloud-sync",
        "prefect-version": "3.9.1",
        "build": None,
        "push": None,
        # Each flow run starts in the worker's checkout, so the entrypoints resolve (templated at run time from
        # the worker's environment: each worker machine may keep its checkout somewhere else).
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $ECSYNC_PROJECT_DIR }}"}}],
        "deployments": deployments,
    }


def prefect_yaml_text() -> str:
    import yaml

    body = yaml.safe_dump(prefect_yaml_config(), sort_keys=False, width=120, default_flow_style=False)
    return HEADER + "\n" + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate prefect.yaml from the deployment definitions.")
    parser.add_argument("--write", action="store_true", help="write prefect.yaml (else print it)")
    parser.add_argument("--check", action="store_true", help="exit 1 when prefect.yaml differs")
    args = parser.parse_args(argv)
    path = Path(__file__).resolve().parents[1] / "prefect.yaml"
    text = prefect_yaml_text()
    if args.write:
        path.write_text(text)
    elif args.check:
        if path.read_text() != text:
            print("prefect.yaml differs from deployments/definitions.py: python -m deployments.definitions --write")
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The command line: `demo`, `serve`, `info`, `register-blocks`, `server-secrets` and `relink`.

Heavy imports (Prefect, the flows) happen inside each command, after the environment is set, because
Prefect reads its settings (PREFECT_API_URL, PREFECT_HOME) when it is first imported.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from deployments.serve import DEFAULT_INTERVAL_SECONDS
from ecsync.server_secrets import read_auth_string

app = typer.Typer(
    name="ecsync",
    help="Enterprise to Cloud Sync: keep an on-premise Alfresco and an Alfresco cloud network in sync.",
    no_args_is_help=True,
    add_completion=False,
)

API_URL_FILE = Path("prefect") / "api-url"
"""Under the data folder: the running demo's Prefect API address, so `info` finds it without a setting."""


@app.command()
def demo(
    once: Annotated[bool, typer.Option("--once", help="Run the whole demo once and exit (for tests and CI).")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between scheduled reconciles.", min=1)] = 60,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data folder (default: ECSYNC_DATA_DIR, else ./data).", file_okay=False)
    ] = None,
    prefect_port: Annotated[int | None, typer.Option(help="Prefect server port (default 4200 if free; 0: any).")] = None,
    onprem_port: Annotated[int | None, typer.Option(help="On-prem emulator port (default 8081 if free; 0: any).")] = None,
    cloud_port: Annotated[int | None, typer.Option(help="Cloud emulator port (default 8082 if free; 0: any).")] = None,
) -> None:
    """Start a Prefect server, two Alfresco emulators and the deployments; sync a sample folder both ways."""
    from ecsync.demo import DemoOptions, run_demo

    options = DemoOptions(
        data_dir=(data_dir or Path(os.environ.get("ECSYNC_DATA_DIR", "data"))).resolve(),
        interval_seconds=interval,
        once=once,
        prefect_port=prefect_port,
        onprem_port=onprem_port,
        cloud_port=cloud_port,
    )
    raise typer.Exit(run_demo(options))


@app.command()
def serve(
    interval: Annotated[
        float,
        typer.Option(help="Seconds between scheduled reconciles.", min=1, envvar="ECSYNC_RECONCILE_INTERVAL_SECONDS"),
    ] = DEFAULT_INTERVAL_SECONDS,
    limit: Annotated[int, typer.Option(help="Flow runs this process runs at once.", min=1)] = 4,
    schedule: Annotated[bool, typer.Option(help="Put reconcile on its schedule.")] = True,
) -> None:
    """Serve the deployments (`sync-to-cloud/set-up-sync`, `reconcile/scheduled-sweep`, ...); needs PREFECT_API_URL."""
    from deployments.serve import ServeOptions, serve_all

    serve_all(ServeOptions(interval_seconds=interval, limit=limit, schedule=schedule))


def _prefect_api_url(data_dir: Path) -> str | None:
    """PREFECT_API_URL, else the address a running demo wrote into its data folder."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    path = data_dir / API_URL_FILE
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


@app.command()
def info(
    item: Annotated[str, typer.Argument(help="An on-prem or cloud node id, or `<slug>:<relative path>`.")],
    runs: Annotated[bool, typer.Option(help="Also list the Prefect runs that touched it.")] = True,
) -> None:
    """Print Sync Info for one item: status, error and technical report, cloud location, runs."""
    from flows.settings import get_settings

    # Loading the cloud block queues a "block loaded" event; Prefect sends it at exit and, while doing so, warns
    # "Still processing items: 1 items remaining..." on stderr, which tells the reader of Sync Info nothing.
    for worker in ("EventsWorker", "APILogWorker"):
        logging.getLogger(worker).setLevel(logging.ERROR)

    settings = get_settings()
    api_url = _prefect_api_url(settings.data_dir)
    if api_url:
        os.environ["PREFECT_API_URL"] = api_url
        if not os.environ.get("PREFECT_API_AUTH_STRING") and (auth := read_auth_string(settings.data_dir)):
            os.environ["PREFECT_API_AUTH_STRING"] = auth  # the demo's server asks for its password
    elif runs:
        typer.echo("(no PREFECT_API_URL and no running demo: runs are not listed)", err=True)
        runs = False
    from ecsync.info import render, sync_info

    database_url = settings.resolved_database_url()
    try:
        found = asyncio.run(sync_info(database_url, item, with_runs=runs))
    except Exception as exc:  # the Prefect server is down: the sync state alone still answers
        typer.echo(f"(could not read runs from Prefect: {exc})", err=True)
        found = asyncio.run(sync_info(database_url, item, with_runs=False))
    if found is None:
        typer.echo(f"{item} is not synced: no active sync set has it as a member.", err=True)
        raise typer.Exit(1)
    if api_url:
        found = dataclasses.replace(found, view_in_cloud=view_in_cloud(database_url, item))
    typer.echo(render(found))


def view_in_cloud(database_url: str, item: str) -> str | None:
    """The member's cloud web address from its cloud connection's `web_url_template` (best effort)."""
    from models.store import find_member

    found = find_member(database_url, item)
    if found is None or not found[0].cloud_id:
        return None
    member, sync_set = found
    try:
        from connectors.blocks import AlfrescoConnection

        block = AlfrescoConnection.load(sync_set.cloud_connection)
        return block.web_url(member.cloud_id, member.cl_name or "", site=sync_set.target_site, network=sync_set.target_network)
    except Exception:
        return None


@app.command("register-blocks")
def register_blocks(
    onprem_url: Annotated[str, typer.Option(help="On-prem Alfresco, e.g. https://alfresco.example.com")],
    cloud_url: Annotated[str, typer.Option(help="Cloud Alfresco, e.g. https://my.alfresco.example")],
    cloud_network: Annotated[str, typer.Option(help="Cloud network (tenant) id, e.g. acme.com")],
    onprem_user: Annotated[
        str, typer.Option(help="Account the sync acts as on-prem: an ordinary user, SiteManager of the synced sites.")
    ],
    cloud_user: Annotated[
        str, typer.Option(help="Account the sync acts as in the cloud: a member of the network, e.g. sync@acme.com.")
    ],
    onprem_password: Annotated[
        str, typer.Option(envvar="ECSYNC_ONPREM_PASSWORD", prompt=True, hide_input=True, help="On-prem password.")
    ] = "",
    cloud_password: Annotated[
        str, typer.Option(envvar="ECSYNC_CLOUD_PASSWORD", prompt=True, hide_input=True, help="Cloud password.")
    ] = "",
    ca_bundle: Annotated[
        Path | None,
        typer.Option(
            help="PEM file of CAs to trust (both connections); the same path must be readable wherever flows run.",
            exists=True,
            dir_okay=False,
            readable=True,
            resolve_path=True,
        ),
    ] = None,
    verify_tls: Annotated[bool, typer.Option(help="Check TLS certificates.")] = True,
    web_url_template: Annotated[
        str | None, typer.Option(help="Cloud web address of a node ({base_url} {network} {site} {id} {name}).")
    ] = None,
    onprem_name: Annotated[str, typer.Option(help="Block name of the on-prem connection.")] = "onprem",
    cloud_name: Annotated[str, typer.Option(help="Block name of the cloud connection.")] = "cloud",
) -> None:
    """Save the two connection blocks (overwriting blocks of the same names); needs PREFECT_API_URL."""
    from connectors.blocks import AlfrescoConnection

    common = {"verify_tls": verify_tls, "ca_bundle": str(ca_bundle) if ca_bundle else None}
    AlfrescoConnection(base_url=onprem_url, username=onprem_user, password=onprem_password, **common).save(
        onprem_name, overwrite=True
    )
    cloud_fields = {"web_url_template": web_url_template} if web_url_template else {}
    AlfrescoConnection(
        base_url=cloud_url, username=cloud_user, password=cloud_password, tenant=cloud_network, **common, **cloud_fields
    ).save(cloud_name, overwrite=True)
    typer.echo(f"Saved connection blocks {onprem_name!r} and {cloud_name!r}.")


@app.command("server-secrets")
def server_secrets(
    data_dir: Annotated[
        Path | None, typer.Option(help="Data folder (default: ECSYNC_DATA_DIR, else ./data).", file_okay=False)
    ] = None,
    client: Annotated[bool, typer.Option("--client", help="Only what a client needs: PREFECT_API_AUTH_STRING.")] = False,
) -> None:
    """Print `export` lines of the Prefect server's password and block encryption key (made once, kept in
    <data>/secrets): `eval "$(python -m ecsync server-secrets)"` before `prefect server start`."""
    import shlex

    from ecsync.server_secrets import load_or_create

    secrets = load_or_create((data_dir or Path(os.environ.get("ECSYNC_DATA_DIR", "data"))).resolve())
    values = secrets.client_env() if client else {**secrets.server_env(), **secrets.client_env()}
    for name, value in values.items():
        typer.echo(f"export {name}={shlex.quote(value)}")


@app.command()
def relink(
    slug: Annotated[list[str] | None, typer.Option(help="Only this sync set (repeat for several); default: every one.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the setups it would run again, and stop.")] = False,
) -> None:
    """After losing the sync database: set each sync set up again from Prefect's history, re-pairing its copies.

    Runs every sync set's newest setup again with `adopt_existing` (README: "Recovery after losing the sync
    database"). Needs PREFECT_API_URL and ECSYNC_DATABASE_URL as `serve` has them; stop `serve` first.
    """
    from flows.relink import relink as relink_from_history
    from flows.settings import get_settings

    outcomes = asyncio.run(relink_from_history(get_settings().resolved_database_url(), slug or None, dry_run=dry_run))
    if not outcomes:
        typer.echo("Nothing to relink: every sync set in Prefect's history is in the database (or was unsynced).")
    for setup, outcome in outcomes:
        typer.echo(f"{setup.slug}: {outcome}")
    if any(not outcome.startswith(("COMPLETED", "would")) for _setup, outcome in outcomes):
        raise typer.Exit(1)


def main() -> None:
    app()

"""`make demo`: the whole product on one machine, from nothing, in one command.

It starts what production would run (a real Prefect server, the four served deployments) against two
Alfresco emulators, syncs a sample folder, makes one change on each side as people would, and shows both
come across. Everything lives under the data folder, so a second start reuses the first one's server
database, emulator content, blocks and sync set. The demo owns every child process it starts and stops
them all on Ctrl-C (or SIGTERM), because background servers started with `&` ignore SIGINT.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from deployments.definitions import served
from deployments.trigger import PrefectApi, state_of
from ecsync.processes import (
    PEOPLE,
    SYNC_ACCOUNTS,
    Account,
    Child,
    die_with_parent,
    free_port,
    port_is_open,
    start_emulator,
    start_prefect_server,
)
from ecsync.server_secrets import AUTH_FILE, SECRETS_FOLDER, ServerSecrets, load_or_create

SAMPLE_ITEM = "site:engineering/Specs"
SAMPLE_SLUG = "engineering-specs"
DESTINATION = {"network": "acme.com", "site": "partners", "folder": "Shared"}
EDITED_FILE = "spec-001.md"
CLOUD_WEB_URL_TEMPLATE = "{base_url}/{network}/share/page/site/{site}/document-details?nodeRef=workspace://SpacesStore/{id}"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The checkout: served flows are found by their file paths relative to it."""

console = Console(highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class DemoOptions:
    data_dir: Path
    interval_seconds: float = 60
    once: bool = False
    prefect_port: int | None = None
    onprem_port: int | None = None
    cloud_port: int | None = None


@dataclass
class Stack:
    """The running children, stopped in reverse order of start."""

    children: list[Child] = field(default_factory=list)

    def add(self, child: Child) -> Child:
        self.children.append(child)
        return child

    def stop(self) -> None:
        for child in reversed(self.children):
            with suppress(Exception):
                child.stop()

    def dead(self) -> Child | None:
        return next((child for child in self.children if not child.alive()), None)


class Alfresco:
    """Edits made the way a person's client would make them: Alfresco's public REST API, as that person."""

    def __init__(self, base_url: str, tenant: str, person: Account) -> None:
        self.client = httpx.Client(
            base_url=f"{base_url}/alfresco/api/{tenant}/public/alfresco/versions/1",
            auth=(person.user, person.password),
            timeout=30,
        )

    def by_path(self, site: str, path: str) -> dict[str, Any]:
        library = self.client.get(f"/sites/{site}/containers/documentLibrary")
        library.raise_for_status()
        response = self.client.get(f"/nodes/{library.json()['entry']['id']}", params={"relativePath": path})
        response.raise_for_status()
        return response.json()["entry"]

    def content(self, node_id: str) -> bytes:
        response = self.client.get(f"/nodes/{node_id}/content")
        response.raise_for_status()
        return response.content

    def put_content(self, node_id: str, data: bytes) -> None:
        headers = {"Content-Type": "application/octet-stream"}
        self.client.put(f"/nodes/{node_id}/content", content=data, headers=headers).raise_for_status()

    def upload(self, parent_id: str, name: str, data: bytes) -> dict[str, Any]:
        response = self.client.post(f"/nodes/{parent_id}/children", files={"filedata": (name, data)}, data={"name": name})
        response.raise_for_status()
        return response.json()["entry"]

    def close(self) -> None:
        self.client.close()


def _mark(ok: bool) -> str:
    return "[green]✓[/]" if ok else "[red]✗[/]"


def _port(requested: int | None, preferred: int) -> int:
    """The requested port; None: the preferred one if free, else any; 0: any free port."""
    if requested:
        return requested
    if requested is None and not port_is_open(preferred):
        return preferred
    return free_port()


CLIENT_ENV_FILE = "ecsync.env"
"""Under the data folder while the demo runs: `source data/ecsync.env` gives a shell the demo's API and password."""


def _prepare_environment(data_dir: Path) -> ServerSecrets:
    """Point the sync state, Prefect's home and the settings at the data folder, before Prefect is imported.

    The demo's server asks for a password like a production one should (ecsync/server_secrets.py): generated
    once into data/secrets, given to this process and its children as PREFECT_API_AUTH_STRING.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    secrets = load_or_create(data_dir)
    os.environ.update(secrets.client_env())
    os.environ["ECSYNC_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("ECSYNC_DATABASE_URL", f"sqlite:///{data_dir / 'sync-state.db'}")
    os.environ.setdefault("ECSYNC_LEASE_WAIT_SECONDS", "120")  # a setup and a scheduled sweep wait for each other
    os.environ["PREFECT_HOME"] = str(data_dir / "prefect")
    os.environ["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "false"
    # A run queued behind the deployment's concurrency limit is retried after this long (Prefect's default: 30 s).
    os.environ.setdefault("PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS", "5")
    # The served deployments look for new runs this often (Prefect's default: every 10 s).
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "2")
    os.environ.pop("PREFECT_API_URL", None)
    from flows.settings import get_settings

    get_settings.cache_clear()
    return secrets


def _write_client_env(data_dir: Path, api_url: str, secrets: ServerSecrets) -> Path:
    """`source data/ecsync.env`: the demo's API address and password in a shell (mode 0600, removed at stop)."""
    path = data_dir / CLIENT_ENV_FILE
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(f"export PREFECT_API_URL={shlex.quote(api_url)}\n")
        handle.write(f"export PREFECT_API_AUTH_STRING={shlex.quote(secrets.auth_string)}\n")
    return path


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM/SIGHUP end the demo the same way as Ctrl-C: every child is stopped."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell starts background jobs with SIGINT ignored, and Python then never raises on Ctrl-C.
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _start_serve(data_dir: Path, interval: float) -> Child:
    """`python -m ecsync serve` as a child in its own process group (flow runs are its subprocesses)."""
    log_path = data_dir / "logs" / "serve.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ecsync", "serve", "--interval", str(interval)]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ),
            cwd=PROJECT_ROOT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    return Child(name="serve", process=process, url="", log_path=log_path)


def _start_emulator(data_dir: Path, seed: str, port: int) -> Child:
    """A seeded emulator whose content persists under the data folder (seeded only when empty)."""
    return start_emulator(seed, data_dir / f"emulator-{seed}", data_dir / "logs" / f"emulator-{seed}.log", port)


def _start_everything(options: DemoOptions, stack: Stack, secrets: ServerSecrets) -> tuple[Child, Child, Child]:
    data_dir = options.data_dir
    port = _port(options.prefect_port, 4200)
    os.environ["PREFECT_UI_API_URL"] = f"http://127.0.0.1:{port}/api"  # the UI assumes port 4200 otherwise
    with console.status("Starting the Prefect server (SQLite in data/prefect)..."):
        server = stack.add(start_prefect_server(data_dir / "prefect", port, secrets=secrets))
    os.environ["PREFECT_API_URL"] = server.extra["api_url"]
    (data_dir / "prefect" / "api-url").write_text(server.extra["api_url"] + "\n")
    _write_client_env(data_dir, server.extra["api_url"], secrets)
    console.print(f"[green]✓[/] Prefect server  {server.url}  (password required: see data/{CLIENT_ENV_FILE})")
    with console.status("Starting the two Alfresco emulators..."):
        onprem = stack.add(_start_emulator(data_dir, "onprem", _port(options.onprem_port, 8081)))
        cloud = stack.add(_start_emulator(data_dir, "cloud", _port(options.cloud_port, 8082)))
    console.print(f"[green]✓[/] On-prem emulator {onprem.url}  (site engineering)")
    console.print(f"[green]✓[/] Cloud emulator   {cloud.url}  (network acme.com, site partners)")
    return server, onprem, cloud


def _register_blocks(onprem: Child, cloud: Child) -> None:
    """The two connection blocks, saved again on every start (the emulators' ports may have changed), with the
    sync's ordinary accounts: `sync`, a SiteManager of engineering, and `sync@acme.com`, a SiteCollaborator of
    partners (not administrators)."""
    from connectors.blocks import AlfrescoConnection

    on, off = SYNC_ACCOUNTS["onprem"], SYNC_ACCOUNTS["cloud"]
    AlfrescoConnection(base_url=onprem.url, username=on.user, password=on.password, tenant="-default-").save(
        "onprem", overwrite=True
    )
    AlfrescoConnection(
        base_url=cloud.url,
        username=off.user,
        password=off.password,
        tenant="acme.com",
        web_url_template=CLOUD_WEB_URL_TEMPLATE,
    ).save("cloud", overwrite=True)
    console.print(f"[green]✓[/] Connection blocks 'onprem' ({on.user}) and 'cloud' ({off.user}) saved")


def _run_with_progress(api: PrefectApi, deployment_id: str, parameters: dict[str, Any], title: str) -> dict[str, Any]:
    """Start a run of a served deployment and show its items done of items planned until it ends.

    The count comes from the run's own progress artifact (what the UI's Artifacts tab shows); until the run has
    planned, the bar shows the run's state only.
    """
    from flows.reporting import planned_items

    run = api.create_flow_run(deployment_id, parameters)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("items"))
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=False) as progress:
        task = progress.add_task(f"{title}: Scheduled", total=None)

        def on_poll(current: dict[str, Any]) -> None:
            state = (current.get("state") or {}).get("name", "?")
            artifact = api.progress(current["id"])
            planned = planned_items(artifact.get("description")) if artifact else None
            if artifact is None or planned is None:
                progress.update(task, description=f"{title}: {state}")
                return
            done = round(float(artifact.get("data") or 0) * planned / 100)
            progress.update(task, description=f"{title}: {state}", total=planned, completed=done)

        final = api.wait(run["id"], timeout=600, on_poll=on_poll)
        on_poll(final)
        if progress.tasks[0].total is None:  # no progress artifact: the run planned nothing
            state = (final.get("state") or {}).get("name", "?")
            progress.update(task, description=f"{title}: {state}, nothing to carry", total=0, completed=0)
    kind, message = state_of(final)
    console.print(f"{_mark(kind == 'COMPLETED')} {final['name']}: {kind.lower()} — {message}")
    return final


def _members_synced(slug: str) -> tuple[int, int]:
    from flows.settings import get_settings
    from models import store

    url = get_settings().resolved_database_url()
    sync_set = store.get_sync_set(url, slug)
    if sync_set is None or sync_set.id is None:
        return 0, 0
    members = store.members_of(url, sync_set.id)
    return sum(1 for m in members if m.status == "synced"), len(members)


def _sync_set_exists(slug: str) -> bool:
    from flows.settings import get_settings
    from models import store

    found = store.get_sync_set(get_settings().resolved_database_url(), slug)
    return found is not None and found.state == "active"


def _set_up_or_reconcile(api: PrefectApi, ids: dict[str, str]) -> bool:
    """First start: sync-to-cloud of the sample folder. Later starts: the sync set exists, reconcile it."""
    if _sync_set_exists(SAMPLE_SLUG):
        console.print(f"Sync set [bold]{SAMPLE_SLUG}[/] exists from an earlier start: reconciling it, not creating it again")
        run = _run_with_progress(api, ids["reconcile"], {"slug": SAMPLE_SLUG}, "reconcile")
    else:
        console.print(f"Syncing [bold]{SAMPLE_ITEM}[/] to acme.com › partners › Shared (sync set {SAMPLE_SLUG})")
        parameters = {"items": [SAMPLE_ITEM], "destination": DESTINATION, "slug": SAMPLE_SLUG}
        run = _run_with_progress(api, ids["sync-to-cloud"], parameters, "sync-to-cloud")
    synced, total = _members_synced(SAMPLE_SLUG)
    ok = state_of(run)[0] == "COMPLETED" and total > 0 and synced == total
    console.print(f"{_mark(ok)} Sample folder synced: {synced} of {total} items of {SAMPLE_SLUG} are synced")
    return ok


def _change_both_sides(onprem: Alfresco, cloud: Alfresco) -> tuple[dict[str, Any], bytes, str, bytes]:
    """Edit a file's content on-prem and add a file in the cloud copy of the folder, as people would."""
    stamp = time.strftime("%Y-%m-%d %H%M%S")
    edited = onprem.by_path("engineering", f"Specs/{EDITED_FILE}")
    new_content = onprem.content(edited["id"]) + f"\nEdited on-prem by the demo at {stamp}.\n".encode()
    onprem.put_content(edited["id"], new_content)
    console.print(f"• On-prem: {PEOPLE['onprem'].user} edited the content of Specs/{EDITED_FILE}")
    cloud_folder = cloud.by_path("partners", "Shared/Specs")
    added_name = f"Partner feedback {stamp}.txt"
    added_content = f"Feedback from a partner, written in the cloud at {stamp}.\n".encode()
    cloud.upload(cloud_folder["id"], added_name, added_content)
    console.print(f"• Cloud: {PEOPLE['cloud'].user} added Shared/Specs/{added_name}")
    return edited, new_content, added_name, added_content


def _check_changes(onprem: Alfresco, cloud: Alfresco, new_content: bytes, added_name: str, added_content: bytes) -> bool:
    cloud_copy = cloud.by_path("partners", f"Shared/Specs/{EDITED_FILE}")
    pushed = cloud.content(cloud_copy["id"]) == new_content
    try:
        pulled = onprem.content(onprem.by_path("engineering", f"Specs/{added_name}")["id"]) == added_content
    except httpx.HTTPStatusError:
        pulled = False
    console.print(f"{_mark(pushed)} On-prem change synced: the cloud copy of {EDITED_FILE} has the edit")
    console.print(f"{_mark(pulled)} Cloud change synced: {added_name} is now on-prem in Specs")
    return pushed and pulled


def _show_sync_info(onprem_id: str) -> None:
    from ecsync.cli import view_in_cloud
    from ecsync.info import render, sync_info
    from flows.settings import get_settings

    url = get_settings().resolved_database_url()
    info = asyncio.run(sync_info(url, onprem_id))
    if info is None:
        console.print(f"[red]✗[/] {EDITED_FILE} has no Sync Info")
        return
    info.view_in_cloud = view_in_cloud(url, onprem_id)
    console.print()
    console.print(render(info), markup=False)


def _walkthrough(options: DemoOptions, server: Child, onprem_child: Child, cloud_child: Child) -> bool:
    """Everything after start-up: blocks, deployments, the sync, two changes, Sync Info. True: all went well."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: server.extra["api_url"]}):
        _register_blocks(onprem_child, cloud_child)
    with PrefectApi(server.extra["api_url"]) as api:
        with console.status("Waiting for the served deployments..."):
            found = api.wait_for_deployments([(d.flow, d.name) for d in served()])
        # the deployments the demo starts runs of, by flow (the sweep runs by itself)
        ids = {d.flow: found[f"{d.flow}/{d.name}"] for d in served() if not d.scheduled}
        console.print(f"[green]✓[/] Serving {', '.join(sorted(found))} (reconcile every {options.interval_seconds:g}s)")
        ok = _set_up_or_reconcile(api, ids)
        onprem = Alfresco(onprem_child.url, "-default-", PEOPLE["onprem"])
        cloud = Alfresco(cloud_child.url, "acme.com", PEOPLE["cloud"])
        try:
            if ok:
                edited, new_content, added_name, added_content = _change_both_sides(onprem, cloud)
                run = _run_with_progress(api, ids["reconcile"], {"slug": SAMPLE_SLUG}, "reconcile")
                ok = state_of(run)[0] == "COMPLETED" and _check_changes(onprem, cloud, new_content, added_name, added_content)
                with temporary_settings({PREFECT_API_URL: server.extra["api_url"]}):
                    _show_sync_info(edited["id"])
                info_hint = f"python -m ecsync info {edited['id']}"
            else:
                info_hint = "python -m ecsync info <node id>"
        finally:
            onprem.close()
            cloud.close()
    data = _shown(options.data_dir)
    console.print()
    console.print(f"Prefect UI:  {server.url}   (runs: {server.url}/runs, deployments: {server.url}/deployments)")
    console.print(f"             log in with the password in {data}/{SECRETS_FOLDER}/{AUTH_FILE}")
    console.print(f"In a shell:  source .venv/bin/activate && source {data}/{CLIENT_ENV_FILE}")
    console.print(f"Sync Info:   {info_hint}")
    console.print(f"Trigger:     prefect deployment run 'reconcile/reconcile-now' --param slug={SAMPLE_SLUG}")
    return ok


def _shown(path: Path) -> str:
    """A path as a person would type it from the checkout: relative when it is inside the current folder."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def run_demo(options: DemoOptions) -> int:
    """Start, walk through, then wait for Ctrl-C (or exit at once with `--once`); 0 when every check passed."""
    data_dir = options.data_dir
    secrets = _prepare_environment(data_dir)
    stack = Stack()
    ok = False
    with _terminate_as_interrupt():
        try:
            server, onprem, cloud = _start_everything(options, stack, secrets)
            stack.add(_start_serve(data_dir, options.interval_seconds))
            ok = _walkthrough(options, server, onprem, cloud)
            console.print("[bold green]Demo complete.[/]" if ok else "[bold red]Demo finished with a failed check.[/]")
            if not options.once:
                console.print("Running; press Ctrl-C to stop everything.")
                while (dead := stack.dead()) is None:
                    time.sleep(1)
                console.print(f"[red]{dead.name} stopped unexpectedly[/]; its log ends:\n{escape(dead.log_tail())}")
                ok = False
        except KeyboardInterrupt:
            console.print("\nStopping...")
        except Exception as exc:
            console.print(f"[red]Demo failed:[/] {escape(str(exc))}")
            ok = False
        finally:
            stack.stop()
            for leftover in (data_dir / "prefect" / "api-url", data_dir / CLIENT_ENV_FILE):
                with suppress(OSError):
                    leftover.unlink()
            console.print("Stopped the Prefect server, the emulators and the served deployments.")
    return 0 if ok else 1

"""`sync-to-cloud`: SPEC.md's "Setting up a sync": refuse what must be refused, then push and lock."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Annotated, Any

from prefect import flow
from prefect.states import Completed, Failed, State
from pydantic import Field
from sqlalchemy.exc import IntegrityError

from connectors.base import Node, Repository
from connectors.errors import RepositoryError
from flows.adoption import Adoption, adopt_remaining_locks, find_pairs, record_pairs
from flows.common import database_url, final_state, refused, sync_set_tag, tag_current_run
from flows.database_errors import guarded
from flows.engine import run_sync_set
from flows.lease import SyncBusy, current_run_id, lease_owner_id
from flows.parameters import ConnectionName, Destination, ItemRef, Slug, SyncOptions, default_slug
from flows.settings import get_settings
from flows.validation import (
    SyncRefused,
    check_network_membership,
    create_missing_folders,
    remove_made_folders,
    validate_setup,
)
from models import store
from models.tables import SyncSet, utcnow
from tasks.connections import open_repository, opened_repositories
from tasks.retry import RetryPolicy
from tasks.run_log import run_logger
from vocabulary import SyncSetState


def _run_name() -> str:
    from prefect.runtime import flow_run

    parameters = flow_run.get_parameters()
    items = parameters.get("items") or ["?"]
    slug = parameters.get("slug")
    label = slug or str(items[0]).rsplit("/", 1)[-1]
    return f"sync-to-cloud-{label}"


@flow(name="sync-to-cloud", flow_run_name=_run_name, log_prints=False)
async def sync_to_cloud(
    items: Annotated[list[ItemRef], Field(min_length=1, max_length=1000, examples=[["site:engineering/Specs"]])],
    destination: Destination,
    options: SyncOptions | None = SyncOptions(),
    slug: Slug | None = None,
    onprem_connection: ConnectionName = "onprem",
    cloud_connection: ConnectionName = "cloud",
) -> State[Any]:
    """Sync on-prem items to a cloud network, site and folder (Alfresco's "Sync to Cloud").

    Args:
        items: What to sync, from one site's document library: one folder (`site:engineering/Specs`), one file
            (`site:engineering/Specs/plan.docx`), or several files of one library; an on-prem node id works too.
        destination: Where the copies go: the cloud network (`acme.com`), the site id (`partners`) and a folder
            path in that site's document library (`Shared`; empty for the library itself).
        options: How to sync; the defaults are those of Alfresco's dialog.
        slug: A short name for the sync set, lower-case letters, digits and dashes (`specs`): its runs carry the
            tag `sync-set:<slug>` and its items are named `<slug>:<path>`. Empty: one is made from the first item.
        onprem_connection: The Alfresco Connection block of the on-prem server (Blocks in the UI; made by
            `python -m ecsync register-blocks`).
        cloud_connection: The Alfresco Connection block of the cloud, as the sync's cloud account.
    """
    return await guarded(_sync_to_cloud(items, destination, options, slug, onprem_connection, cloud_connection))


async def _sync_to_cloud(
    items: list[str],
    destination: Destination,
    options: SyncOptions | None,
    slug: str | None,
    onprem_connection: str,
    cloud_connection: str,
) -> State[Any]:
    options = options or SyncOptions()
    slug = slug or default_slug(items, destination)
    await tag_current_run(sync_set_tag(slug))
    url = database_url()
    folder_path = "/".join(part for part in destination.folder.replace("\\", "/").split("/") if part)

    made: list[Node] = []
    """Destination folders this setup made (create_target_folder), taken back if the setup is refused after."""

    async def prepare(onprem: Repository, cloud: Repository) -> tuple[Any, str, Any]:
        home = await open_repository(cloud_connection, "cloud")
        try:
            await check_network_membership(home, destination)
        finally:
            await home.aclose()
        setup = await validate_setup(url, onprem, cloud, items, destination, options, slug)
        owner = await onprem.whoami()
        target = setup.target_folder
        if target is None:
            assert setup.target_parent is not None
            target = await create_missing_folders(cloud, setup.target_parent, setup.missing_folders, made)
        return setup, owner, target

    async def refuse(cloud: Repository, message: str) -> State[Any]:
        """Refuse with nothing changed: the folders this setup made go back (to the trashcan) first."""
        left = await remove_made_folders(cloud, made)
        if left:
            message += f" (the destination folders {', '.join(left)} made by this setup were not empty and were kept)"
        return refused(message)

    settings = get_settings()
    # One pair of connections (pools, tickets) for validation and the first push.
    async with opened_repositories(onprem_connection, cloud_connection, destination.network) as (onprem, cloud):
        try:  # validation is read-only and folder creation resumes where it stopped, so a transient fault is retried
            setup, owner, target = await RetryPolicy.from_settings(settings).call(lambda: prepare(onprem, cloud), "setup")
        except SyncRefused as exc:
            return await refuse(cloud, str(exc))
        except RepositoryError as exc:
            return await refuse(cloud, f"Could not create sync: {exc.code.value}: {exc.message} [{exc.report}]")
        adoption: Adoption | None = None
        if options.adopt_existing:
            pairing = partial(
                find_pairs,
                onprem,
                cloud,
                setup.nodes,
                target_folder_id=target.id,
                include_subfolders=options.include_subfolders,
                account=owner,
                run_id=current_run_id(),
                concurrency=settings.transfer_concurrency,
            )
            try:  # read-only, before the sync set exists: retried when transient, else refused with nothing changed
                adoption = await RetryPolicy.from_settings(settings).call(pairing, "re-pair existing copies")
            except RepositoryError as exc:
                return await refuse(
                    cloud, f"Could not create sync: re-pairing existing copies failed: {exc.code.value}: {exc.message}"
                )
        sync_set = SyncSet(
            slug=slug,
            owner=owner,
            onprem_connection=onprem_connection,
            cloud_connection=cloud_connection,
            kind=setup.kind.value,
            items=list(items),
            target_network=destination.network,
            target_site=destination.site,
            target_folder_id=target.id,
            target_folder_path=folder_path,
            include_subfolders=options.include_subfolders,
            lock_on_premise=options.lock_on_premise,
            allow_cloud_delete=options.allow_cloud_delete,
            delete_on_premise=options.delete_on_premise,
            conflict_policy=options.conflict_policy,
            max_delete_percent=options.max_delete_percent,
            state=SyncSetState.ACTIVE.value,
            # Born leased to this run: a scheduled sweep must not take the new set between its creation and its first push.
            lease_owner=lease_owner_id(current_run_id()),
            lease_expires_at=utcnow() + timedelta(seconds=get_settings().lease_seconds),
        )
        try:
            store.create_sync_set(url, sync_set, setup.nodes)
        except IntegrityError:  # another setup took the slug (or an item) between validation and now
            return await refuse(cloud, f"Could not create sync: sync set {slug!r} or one of its items was set up meanwhile")
        if adoption is not None:
            assert sync_set.id is not None
            record_pairs(url, sync_set.id, adoption)
            run_logger().info("Sync set %r: %s", slug, adoption.summary(shown=50))
        try:
            result = await run_sync_set(url, slug, settings=settings, repositories=(onprem, cloud))
        except SyncBusy as exc:
            return refused(str(exc))
        if adoption is not None:
            assert sync_set.id is not None
            adoption.locks += adopt_remaining_locks(url, sync_set.id, adoption)
    state = final_state(result)
    if adoption is None:
        return state
    # The run's own message says what it moved; the adoption's says what it took back and what it could not pair.
    message = f"{slug}: {adoption.summary()}. First run: {state.message or ''}"
    return Completed(message=message) if state.is_completed() else Failed(message=message)

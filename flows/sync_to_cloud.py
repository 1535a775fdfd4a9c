"""`sync-to-cloud`: SPEC.md's "Setting up a sync": refuse what must be refused, then push and lock."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from prefect import flow
from prefect.states import State
from pydantic import Field

from connectors.base import Repository
from connectors.errors import RepositoryError
from flows.common import database_url, final_state, refused, sync_set_tag, tag_current_run
from flows.engine import run_sync_set
from flows.lease import SyncBusy, current_run_id
from flows.parameters import ConnectionName, Destination, ItemRef, Slug, SyncOptions, default_slug
from flows.settings import get_settings
from flows.validation import SyncRefused, check_network_membership, validate_setup
from models import store
from models.tables import SyncSet, utcnow
from tasks.connections import open_repository, opened_repositories
from tasks.retry import RetryPolicy
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
    options: SyncOptions = SyncOptions(),
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
    options = options or SyncOptions()
    slug = slug or default_slug(items, destination)
    await tag_current_run(sync_set_tag(slug))
    url = database_url()
    folder_path = "/".join(part for part in destination.folder.replace("\\", "/").split("/") if part)

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
            target = setup.target_parent
            for name in setup.missing_folders:
                target = await cloud.create_folder(target.id, name)
        return setup, owner, target

    settings = get_settings()
    # One pair of connections (pools, tickets) for validation and the first push.
    async with opened_repositories(onprem_connection, cloud_connection, destination.network) as (onprem, cloud):
        try:  # validation is read-only and folder creation resumes where it stopped, so a transient fault is retried
            setup, owner, target = await RetryPolicy.from_settings(settings).call(lambda: prepare(onprem, cloud), "setup")
        except SyncRefused as exc:
            return refused(str(exc))
        except RepositoryError as exc:
            return refused(f"Could not create sync: {exc.code.value}: {exc.message} [{exc.report}]")
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
            lease_owner=current_run_id(),
            lease_expires_at=utcnow() + timedelta(seconds=get_settings().lease_seconds),
        )
        store.create_sync_set(url, sync_set, setup.nodes)
        try:
            result = await run_sync_set(url, slug, settings=settings, repositories=(onprem, cloud))
        except SyncBusy as exc:
            return refused(str(exc))
    return final_state(result)

"""SPEC.md's refusals for "Sync to Cloud", checked before anything changes.

Each refusal raises `SyncRefused` with the message the user reads in the run's state; nothing on either
side and nothing in the sync state has been touched when it is raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.base import LibraryLocation, Node, Repository
from connectors.errors import NodeNotFoundError, RepositoryError
from flows.parameters import Destination, SyncOptions
from models.db import session_scope
from models.store import active_member_for_cloud, active_member_for_onprem, get_sync_set
from vocabulary import SyncSetKind, SyncSetState


class SyncRefused(Exception):
    """A request SPEC.md says to refuse; the message is for the user."""


@dataclass
class SetupPlan:
    """What validation found: the items as nodes, their library, and the cloud folder to sync into."""

    kind: SyncSetKind
    nodes: list[Node]
    library: LibraryLocation
    target_folder: Node | None
    missing_folders: list[str] = field(default_factory=list)
    """Folder names to create below the deepest existing folder (create_target_folder)."""
    target_parent: Node | None = None


async def resolve_item(onprem: Repository, item: str) -> Node:
    try:
        if item.startswith("site:"):
            return await onprem.get_by_path(item)
        return await onprem.get(item)
    except NodeNotFoundError as exc:
        raise SyncRefused(f"Item {item!r} does not exist on-prem") from exc


async def _check_network(cloud: Repository, destination: Destination) -> None:
    get_network = getattr(cloud, "get_network", None)
    if get_network is None:  # a local folder has no networks
        return
    try:
        network = await get_network(destination.network)
    except NodeNotFoundError as exc:
        raise SyncRefused(
            f"Could not create sync: No network is enabled for sync (network {destination.network!r} not found)"
        ) from exc
    if not network.sync_enabled:
        why = "is not enabled" if not network.is_enabled else f"is a {network.subscription_level} network"
        raise SyncRefused(f"Could not create sync: No network is enabled for sync (network {destination.network!r} {why})")


async def check_network_membership(home: Repository, destination: Destination) -> None:
    """Refuse a network the cloud account does not belong to, before opening a connection to it.

    A connection to an unknown tenant fails authentication, which would read as a password problem.
    """
    list_networks = getattr(home, "list_networks", None)
    if list_networks is None:
        return
    networks = await list_networks()
    known = {network.id: network for network in networks}
    if destination.network not in known:
        names = ", ".join(sorted(known)) or "none"
        raise SyncRefused(
            "Could not create sync: No network is enabled for sync "
            f"(network {destination.network!r} is not one of this account's networks: {names})"
        )
    network = known[destination.network]
    if not network.sync_enabled:
        why = "is not enabled" if not network.is_enabled else f"is a {network.subscription_level} network"
        raise SyncRefused(f"Could not create sync: No network is enabled for sync (network {destination.network!r} {why})")


async def _locate_target(cloud: Repository, destination: Destination, create: bool) -> tuple[Node | None, Node | None, list[str]]:
    """(existing target folder, deepest existing ancestor, names still to create)."""
    parts = [p for p in destination.folder.replace("\\", "/").split("/") if p]
    site_path = f"site:{destination.site}"
    try:
        library = await cloud.get_by_path(site_path)
    except NodeNotFoundError as exc:
        raise SyncRefused(f"The destination site {destination.site!r} does not exist in {destination.network}") from exc
    deepest = library
    for index in range(len(parts)):
        try:
            deepest = await cloud.get_by_path(f"{site_path}/{'/'.join(parts[: index + 1])}")
        except NodeNotFoundError:
            missing = parts[index:]
            if not create:
                raise SyncRefused(
                    f"The destination folder {destination.folder!r} does not exist in site {destination.site!r} "
                    "(set create_target_folder to create it)"
                ) from None
            return None, deepest, missing
        if not deepest.is_folder:
            raise SyncRefused(f"The destination {destination.folder!r} is a file, not a folder")
    return deepest, deepest, []


async def validate_setup(
    database_url: str,
    onprem: Repository,
    cloud: Repository,
    items: list[str],
    destination: Destination,
    options: SyncOptions,
    slug: str,
) -> SetupPlan:
    """Every refusal of SPEC.md's "Setting up a sync", in the order a user would want to hear them."""
    if len(set(items)) != len(items):
        raise SyncRefused("The same item is listed twice")
    existing = get_sync_set(database_url, slug)
    if existing is not None and existing.state == SyncSetState.ACTIVE.value:
        raise SyncRefused(f"A sync set named {slug!r} already exists; choose another slug or unsync it first")

    nodes = [await resolve_item(onprem, item) for item in items]
    libraries: list[LibraryLocation] = []
    for item, node in zip(items, nodes, strict=True):
        location = await onprem.library_of(node)
        if location is None:
            raise SyncRefused(f"Item {item!r} is not in a site's document library: only library content can be synced")
        if location.relative_path in ("", "/"):
            raise SyncRefused("The documentLibrary folder itself cannot be synced: choose a folder or files inside it")
        libraries.append(location)

    if len(nodes) > 1:
        if any(node.is_folder for node in nodes) or len({loc.library_id for loc in libraries}) != 1:
            raise SyncRefused("Several items can be synced together only when they are all files of one document library")
        kind = SyncSetKind.FILES
    else:
        kind = SyncSetKind.FOLDER if nodes[0].is_folder else SyncSetKind.FILE

    with session_scope(database_url) as session:
        taken = active_member_for_onprem(session, [node.id for node in nodes])
    if taken:
        member, other = taken[0]
        raise SyncRefused(
            "Content has already been synchronized from somewhere else: "
            f"{member.op_name or member.onprem_id!r} belongs to sync set {other.slug!r}"
        )

    await _check_network(cloud, destination)
    try:
        target, parent, missing = await _locate_target(cloud, destination, options.create_target_folder)
    except RepositoryError as exc:
        raise SyncRefused(f"Could not read the destination: {exc.message}") from exc
    if target is not None:
        with session_scope(database_url) as session:
            if active_member_for_cloud(session, [target.id]):
                raise SyncRefused("The destination folder is itself a synced copy: choose a folder that is not synced")
    return SetupPlan(
        kind=kind,
        nodes=nodes,
        library=libraries[0],
        target_folder=target,
        missing_folders=missing,
        target_parent=parent,
    )

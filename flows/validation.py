"""SPEC.md's refusals for "Sync to Cloud", checked before anything changes.

Each refusal raises `SyncRefused` with the message the user reads in the run's state; nothing on either
side and nothing in the sync state has been touched when it is raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.alfresco.client import check_name
from connectors.base import LibraryLocation, Node, Repository
from connectors.errors import AccessDeniedError, NodeNotFoundError, RepositoryError
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


def _check_new_folder_names(destination: Destination, missing: list[str]) -> None:
    """Refuse, before the first folder is made, a destination path with a name the cloud would refuse.

    Without this, `create_target_folder` made `New` and then failed on `bad:name` below it, leaving `New`
    behind (issue 17 item 7). The rules are Alfresco's (`connectors.alfresco.client.check_name`), also
    applied when the cloud is a local folder, so a setup that works on a disk works on the real cloud.
    """
    for name in missing:
        if name in (".", ".."):
            raise SyncRefused(f"The destination folder {destination.folder!r} contains {name!r}: give a plain path")
        try:
            check_name(name, "create the destination folder")
        except RepositoryError as exc:
            raise SyncRefused(
                f"Could not create sync: the destination folder {destination.folder!r} cannot be made: {exc.message}"
            ) from exc


async def _same_node(onprem: Repository, seen_in_cloud: Node) -> bool:
    """Is the node the cloud connection shows also the on-prem node of that id, i.e. do the two connections
    reach one repository? Alfresco node ids are UUIDs and a local folder's are `device:inode`, so an id that
    both sides know, with the same name, parent and kind, is the same node whatever URL or path spells it."""
    try:
        mine = await onprem.get(seen_in_cloud.id)
    except NodeNotFoundError:
        return False
    return (mine.name, mine.parent_id, mine.is_folder) == (seen_in_cloud.name, seen_in_cloud.parent_id, seen_in_cloud.is_folder)


async def _refuse_copy_into_itself(onprem: Repository, cloud: Repository, nodes: list[Node], start: Node, exact: bool) -> None:
    """Refuse a destination that is, or is inside, an item it would receive, or (`exact`: the destination
    folder itself exists) the folder an item already sits in, when both connections reach one repository.

    A folder synced into itself gains a copy of itself, which the next run sees as new content in the
    synced folder and copies again, one level deeper, on every run; a file synced into its own folder meets
    itself as a name clash for ever. Judged by node identity (the ids of the destination's ancestors), not
    by comparing paths or connection URLs, which can spell one place in many ways.
    """
    sources = {node.id: node for node in nodes}
    holders = {node.parent_id: node for node in nodes if node.parent_id}
    current: Node | None = start
    seen: set[str] = set()
    first = True
    while current is not None and current.id not in seen:
        seen.add(current.id)
        if current.id in sources and await _same_node(onprem, current):
            item = sources[current.id]
            where = "is" if first and exact else "is inside"
            raise SyncRefused(
                f"The destination folder {where} {item.name!r}, which this sync would copy: on-prem and cloud are one "
                "repository here, and the copy would nest inside itself on every run. Choose a destination outside it"
            )
        if first and exact and current.id in holders and await _same_node(onprem, current):
            raise SyncRefused(
                f"The destination folder is the folder {holders[current.id].name!r} is in: on-prem and cloud are one "
                "repository here, and the copy would take the original's own name. Choose another destination folder"
            )
        first = False
        if current.parent_id is None:
            return
        try:
            current = await cloud.get(current.parent_id)
        except (NodeNotFoundError, AccessDeniedError):
            return  # above what the cloud account may read: no item it syncs is up there


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
    first_spelling: dict[str, str] = {}
    for item, node in zip(items, nodes, strict=True):
        if node.id in first_spelling:
            # Two spellings of one node (its id and its path, `a//b` and `a/b`) would be one member twice.
            raise SyncRefused(f"The same item is listed twice: {first_spelling[node.id]!r} and {item!r} are both {node.name!r}")
        first_spelling[node.id] = item
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
        if exc.retryable:  # a 503 or a dropped connection: the setup's retry tries again, nothing is refused
            raise
        raise SyncRefused(f"Could not read the destination: {exc.message}") from exc
    assert parent is not None
    _check_new_folder_names(destination, missing)
    # Outside the try above: a transient failure here propagates to the setup's retry instead of refusing.
    await _refuse_copy_into_itself(onprem, cloud, nodes, parent, exact=target is not None)
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


async def create_missing_folders(cloud: Repository, parent: Node, names: list[str], made: list[Node]) -> Node:
    """Make the destination's missing folders (create_target_folder) under `parent`; each one made is appended
    to `made` so that a setup that fails afterwards can take them back (`remove_made_folders`)."""
    target = parent
    for name in names:
        target = await cloud.create_folder(target.id, name)
        made.append(target)
    return target


async def remove_made_folders(cloud: Repository, made: list[Node]) -> list[str]:
    """Undo `create_missing_folders` after a refusal: delete (to the trashcan) the folders this setup made,
    deepest first, each only while it is still empty, so nothing someone put there meanwhile goes with it.
    Returns the names of those it could not remove, for the refusal's message."""
    deepest_first = list(reversed(made))
    for index, folder in enumerate(deepest_first):
        try:
            if await _has_children(cloud, folder):
                return [f.name for f in deepest_first[index:]]  # its parents hold it, so they stay too
            await cloud.delete(folder.id)
        except NodeNotFoundError:
            continue
        except RepositoryError:
            return [f.name for f in deepest_first[index:]]
    return []


async def _has_children(cloud: Repository, folder: Node) -> bool:
    async for page in cloud.list_children(folder.id):
        if page:
            return True
    return False

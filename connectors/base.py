"""The narrow interface between the sync engine and a content repository.

Everything the engine knows about a repository goes through `Repository`; everything it knows about a
node is a `Node`. Both Alfresco servers and a plain folder on disk fit behind it, so the planner and the
flows never see HTTP or file-system details.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

COMMON_METADATA = ("title", "description", "author")
"""The metadata SPEC.md synchronises besides the name (cm:title, cm:description, cm:author)."""


@dataclass(frozen=True, slots=True)
class Metadata:
    """Common metadata of a node; `None` means "not set"."""

    title: str | None = None
    description: str | None = None
    author: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"title": self.title, "description": self.description, "author": self.author}


@dataclass(frozen=True, slots=True)
class Node:
    """One file or folder as a repository reported it at one moment."""

    id: str
    name: str
    parent_id: str | None
    is_folder: bool
    size: int = 0
    modified_at: datetime | None = None
    version_label: str | None = None
    mime_type: str | None = None
    is_locked: bool = False
    lock_owner: str | None = None
    path: str | None = None
    """Display path of the node's parent folder, e.g. "/Company Home/Sites/engineering/documentLibrary/Specs"."""
    metadata: Metadata = field(default_factory=Metadata)
    is_versionable: bool | None = None
    """None when the listing did not say (children listings omit aspects unless asked)."""
    created_by: str | None = None
    """Who made the node (named in a name clash's report); None when the repository does not say."""
    modified_by: str | None = None


@dataclass(frozen=True, slots=True)
class Network:
    """A cloud network (tenant) and whether it may receive synced content."""

    id: str
    is_enabled: bool
    subscription_level: str | None = None
    """Free | Standard | Enterprise. A Free network is not enabled for sync."""

    @property
    def sync_enabled(self) -> bool:
        return self.is_enabled and (self.subscription_level or "").lower() != "free"


@dataclass(frozen=True, slots=True)
class LibraryLocation:
    """Where a node sits inside a site's document library."""

    site_id: str
    library_id: str
    """Node id of the site's documentLibrary folder."""
    relative_path: str
    """Path from the library to the node itself, "" for the library folder."""


@dataclass(frozen=True, slots=True)
class Change:
    """A node a repository's search found modified, with the ids of its folders from the top down."""

    node: Node
    ancestors: tuple[str, ...]
    """Ids from the repository's root folder down to the node's parent (Alfresco's `path.elements`)."""


@dataclass(frozen=True, slots=True)
class ChangeFeed:
    """What changed below some folders since a moment, as a repository's search tells it."""

    changes: list[Change]
    server_time: datetime | None
    """The repository's clock when it answered (its `Date` header): where the next search can start from."""


@runtime_checkable
class ChangeSource(Protocol):
    """A repository that can say what changed below a folder since a moment (Alfresco's AFTS search).

    Search lags the repository (Solr is eventually consistent) and does not report deletions or moves out:
    a caller reads changes as candidates, lists the folders whose own modification time moved (Alfresco
    touches a folder's `cm:modified` when a child is added, removed, renamed or moved in or out), and keeps
    a periodic full scan as the safety net.
    """

    async def changed_below(self, roots: Sequence[str], since: datetime) -> ChangeFeed: ...

    async def locate(self, node_id: str) -> Change:
        """The node and its folders' ids, in one request (raises NodeNotFoundError when it is gone)."""
        ...


@runtime_checkable
class Repository(Protocol):
    """A content repository: an Alfresco server (one tenant) or a folder on disk.

    Every method raises a subclass of `connectors.errors.RepositoryError` on failure. Content moves as
    async iterables of byte chunks so memory stays flat whatever the file size. Deletes go to the
    trashcan; nothing here deletes permanently.
    """

    label: str
    """Short name for logs and reports, e.g. "onprem" or "cloud"."""

    async def get(self, node_id: str) -> Node: ...

    async def get_by_path(self, path: str) -> Node:
        """Resolve "site:<site>/<path in document library>" (Alfresco) or a root-relative path."""
        ...

    def list_children(self, folder_id: str, *, page_size: int = 100) -> AsyncIterator[list[Node]]:
        """Yield the folder's children a page at a time."""
        ...

    async def create_folder(self, parent_id: str, name: str, metadata: Metadata | None = None) -> Node: ...

    async def upload(
        self,
        parent_id: str,
        name: str,
        content: AsyncIterable[bytes],
        *,
        metadata: Metadata | None = None,
        mime_type: str | None = None,
    ) -> Node:
        """Create a file; never overwrites and never auto-renames (a clash raises NameClashError)."""
        ...

    async def update_content(self, node_id: str, content: AsyncIterable[bytes], *, major: bool = False) -> Node: ...

    def download(self, node_id: str) -> AsyncIterator[bytes]:
        """Stream the node's content in chunks."""
        ...

    async def rename(self, node_id: str, new_name: str) -> Node: ...

    async def move(self, node_id: str, target_parent_id: str, new_name: str | None = None) -> Node: ...

    async def update_metadata(self, node_id: str, metadata: Metadata) -> Node: ...

    async def delete(self, node_id: str) -> None:
        """Move to the trashcan (never permanent)."""
        ...

    async def ensure_versionable(self, node_id: str) -> Node:
        """Make the node keep versions, so an overwrite never loses the bytes it replaces."""
        ...

    async def lock(self, node_id: str) -> Node:
        """Lock a file (ALLOW_OWNER_CHANGES, PERSISTENT). Folders cannot be locked."""
        ...

    async def unlock(self, node_id: str) -> Node: ...

    async def library_of(self, node: Node) -> LibraryLocation | None:
        """The site library the node lives in, or None when it is outside any document library."""
        ...

    async def whoami(self) -> str:
        """The user id this connection acts as."""
        ...

    def web_url(self, node: Node, *, site: str | None = None) -> str:
        """The address of the node in the repository's web UI ("View in Cloud"); `site` names its site when
        the node was read without its path."""
        ...

    async def aclose(self) -> None: ...

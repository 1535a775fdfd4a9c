"""A folder on disk behind the `Repository` protocol.

It lets the engine sync a plain file share, and be benchmarked beside rclone and Unison, with the same
planner and flows that drive Alfresco. Disk has no node ids, trashcan, locks or versions, so this module
supplies small stand-ins, each documented where it lives:

- **Ids** are "<st_dev>:<st_ino>", so renames and moves keep them. Content updates are atomic (temp file,
  made durable, `os.replace`), which gives the file a new inode; an alias table (`aliases.json` in the trash
  folder) maps the new inode to the node's original id, so ids also survive `update_content`. Aliases whose
  inode is no longer on disk are dropped on the next full walk; an inode reused by the OS between two walks
  could inherit a stale alias, which is the known limit of id-by-inode.
- **Trashcan**: `<root>/.ecsync-trash/`, hidden from listings, with `trash.json` recording each deleted node's
  original parent so `restore` can put it back.
- **Versions**: before an overwrite the old bytes are copied to `.ecsync-trash/versions/`, so no policy
  loses bytes; every file therefore counts as versionable.
- **Locks** are an in-memory record only: `is_locked` is reported but nothing stops another process from
  writing the file, and the record does not outlive the object.
- **Metadata** (title, description, author) has no home on disk: `update_metadata` is accepted and ignored.

**What changed** (`ChangeSource`, so runs between full scans are incremental as with Alfresco's search):
`changed_below` walks the tree (one `lstat` per entry, no node built for what did not move) and reports every
entry whose change time (`st_ctime`, moved by any edit, rename, move, or child added or removed, and never
settable by a user) or modification time is at or after the moment asked. The connector's own writes are
left out: after each write it notes the change time the node (and its folder) had right after it
(`own-writes.json` in the trash folder), and an entry whose change time is still that one has not moved since.
A change made by someone else between a write and that note (microseconds) is the known limit; the periodic
full scan finds it and counts it as missed. `search_lag_seconds` is 1 s: the disk has no index to lag, only
timestamps taken from a coarse clock.

**Durability.** A write is durable when the call returns: its temp file is fsynced before the rename and the
folder after it. A run that records its bases through `models.writer.StateWriter` asks for grouped durability
instead (`defer_durability`): temp files are not fsynced one by one but made durable by one `syncfs` shared by
the uploads written meanwhile (still before any rename, so a crash never leaves a visible half-written file),
and renames, creates and deletes are made durable by one `syncfs` just before the writer commits the bases
that refer to them. Same guarantee (no base recorded for what the disk could lose), a fraction of the flushes.

Paths are relative to the root; a leading "/" means the root (the same form as `Node.path`). Names and
paths that would leave the root are refused with `EscapeError`; symlinks are never followed when listing
and are not nodes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import errno
import functools
import getpass
import json
import mimetypes
import os
import shutil
import stat
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.base import Change, ChangeFeed, LibraryLocation, Metadata, Node
from connectors.errors import (
    AccessDeniedError,
    EscapeError,
    InvalidRequestError,
    NameClashError,
    NodeNotFoundError,
    QuotaExceededError,
    RepositoryError,
    TechnicalReport,
)

HIDDEN_PREFIX = ".ecsync-"
"""Names the connector keeps for itself (temp files, trash); hidden from listings, refused as user names."""
TRASH_NAME = ".ecsync-trash"
TMP_PREFIX = ".ecsync-tmp-"
OWN_WRITES = "own-writes.json"
CHUNK_SIZE = 1024 * 1024

_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _visible(entries: Iterable[os.DirEntry[str]]) -> Iterator[tuple[os.DirEntry[str], os.stat_result]]:
    """The entries a listing shows, with their stat: not the connector's hidden files, not symlinks (never
    followed out of the root), not what vanished since the folder was read."""
    for entry in entries:
        if entry.name.startswith(HIDDEN_PREFIX):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISLNK(st.st_mode):
            yield entry, st


def _libc_function(name: str) -> Any:
    """A glibc function by name (renameat2, syncfs); None where the platform lacks it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    return getattr(libc, name, None)


_renameat2 = _libc_function("renameat2")
"""Renames that can never overwrite."""
_syncfs = _libc_function("syncfs")
"""Flush one filesystem."""


def _sync_filesystem(path: str) -> None:
    """Flush every write of the filesystem holding `path` (`syncfs`); `os.sync` where there is no syncfs."""
    if _syncfs is None:
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if _syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
    finally:
        os.close(fd)


def _rename_noreplace(src: str, dst: str) -> None:
    """Rename without ever replacing `dst` (FileExistsError instead), atomically where the kernel can."""
    if _renameat2 is not None:
        rc = _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE)
        if rc == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), dst)
    # Fallback (filesystem without RENAME_NOREPLACE): check then rename; a tiny race remains.
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, "File exists", dst)
    os.rename(src, dst)


def _fsync_dir(path: str) -> None:
    """Make a rename durable; best effort where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_PROC_FD = os.path.isdir("/proc/self/fd") and hasattr(os, "O_PATH")


def _real_path(full: str) -> str:
    """`os.path.realpath`, resolved by the kernel where /proc allows: one open and one readlink instead of an
    lstat per path component in Python (that was a tenth of a local sync's CPU). Falls back to realpath for a
    path that does not exist (realpath then resolves what does) or where there is no /proc."""
    if _PROC_FD:
        try:
            fd = os.open(full, os.O_PATH)
        except OSError:
            return os.path.realpath(full)
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return os.path.realpath(full)
        finally:
            os.close(fd)
    return os.path.realpath(full)


@functools.lru_cache(maxsize=1024)
def _mime_type(suffix: str) -> str | None:
    return mimetypes.guess_type(f"x{suffix}")[0]


def _key(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NO_METADATA = Metadata()
"""Shared by every node (Metadata is frozen): a folder on disk keeps no title, description or author."""


def _mtime(st: os.stat_result) -> datetime:
    """Exact to the microsecond (no float), and half the cost of fromtimestamp + replace."""
    return _EPOCH + timedelta(microseconds=st.st_mtime_ns // 1000)


def check_name(name: str) -> str:
    """Refuse a single name that could leave its folder or collide with the connector's own files."""
    if not isinstance(name, str) or name in ("", ".", ".."):
        raise EscapeError(f"invalid name {name!r}", TechnicalReport(operation="check-name", url=repr(name)))
    if "/" in name or "\\" in name or "\0" in name:
        raise EscapeError(f"name {name!r} contains a path separator or NUL", TechnicalReport(operation="check-name"))
    if name.startswith(HIDDEN_PREFIX):
        raise EscapeError(f"name {name!r} is reserved", TechnicalReport(operation="check-name", url=name))
    return name


def split_path(path: str) -> list[str]:
    """Root-relative path -> names; "" and "/" are the root. Each name is checked like `check_name`."""
    if "\0" in path or "\\" in path:
        raise EscapeError(f"path {path!r} contains NUL or a backslash", TechnicalReport(operation="path"))
    if path.startswith("//") or (len(path) >= 2 and path[1] == ":"):
        raise EscapeError(f"path {path!r} is not root-relative", TechnicalReport(operation="path"))
    stripped = path.strip("/")
    if not stripped:
        return []
    return [check_name(part) for part in stripped.split("/")]


class LocalRepository:
    """A folder on disk as a repository; see the module docstring for what stands in for what."""

    def __init__(self, root: Path | str, label: str = "local") -> None:
        self.label = label
        self.root = Path(os.path.realpath(root))
        if not self.root.is_dir():
            raise NodeNotFoundError(f"root folder {root} does not exist", TechnicalReport(operation="open", url=str(root)))
        self._root_str = str(self.root)
        self.trash = self.root / TRASH_NAME
        self.trash.mkdir(exist_ok=True)
        (self.trash / "versions").mkdir(exist_ok=True)
        self._index: dict[str, str] = {}
        """Node id -> root-relative posix path ("" for the root)."""
        self._locks: dict[str, str] = {}
        self._aliases: dict[str, str] = self._read_json("aliases.json")
        self._aliases_lock = threading.Lock()
        self._aliases_changes = 0
        """Alias changes made so far (counted after each change), and how many of them a finished save holds."""
        self._aliases_saved = 0
        self._aliases_saving: asyncio.Future[None] | None = None
        """Current inode key -> the node's stable id, for files replaced by `update_content`."""
        self._trash_index: dict[str, dict[str, Any]] = self._read_json("trash.json")
        self._dir_syncs: dict[str, asyncio.Future[None]] = {}
        self._background: set[asyncio.Future[None]] = set()
        """Folder -> the fsync of it that is scheduled and not started yet (callers in the meantime share it)."""
        self._deferred = False
        """Durability left to `flush` (see `defer_durability`) instead of an fsync per call."""
        self._written = 0
        """Writes made so far (temp files, renames, creates, deletes), counted once each is done."""
        self._flushed = 0
        """Of those, how many a finished `flush` covers."""
        self._flush_lock = threading.Lock()
        self._flushing: asyncio.Future[None] | None = None
        self._own: dict[str, int] = {}
        """Node id -> its change time (ns) right after this connector's last write of it or into it."""
        self._own_loaded = False
        self._own_changed = False
        self._opened_ns = time.time_ns()
        self.root_id = self._id_of(os.lstat(self._root_str))
        self._index[self.root_id] = ""

    # ----------------------------------------------------------------- state files

    def _read_json(self, name: str) -> dict[str, Any]:
        try:
            with open(self.trash / name, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            return {}
        return data if isinstance(data, dict) else {}

    def _write_json(self, name: str, data: dict[str, Any]) -> None:
        """Temp file + replace: a crash leaves the old index or the new one, never half of one."""
        tmp = self.trash / f"{name}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.trash / name)

    def _save_aliases(self) -> None:
        """Write the alias table as it is when the write starts (in a worker thread: the copy is one C call, so
        the event loop's changes are either in it or made after it, and a later save carries them)."""
        with self._aliases_lock:
            version = self._aliases_changes  # read before the copy: the copy holds at least these changes
            self._write_json("aliases.json", dict(self._aliases))
            self._aliases_saved = max(self._aliases_saved, version)

    async def _aliases_durable(self) -> None:
        """Return once a save that started after this call's alias change has finished: the content updates
        in flight share one save (each rewrites the whole table, so one per update grew with the square)."""
        mark = self._aliases_changes
        while self._aliases_saved < mark:
            if self._aliases_saving is None or self._aliases_saving.done():
                self._aliases_saving = asyncio.ensure_future(asyncio.to_thread(self._save_aliases))
            await asyncio.shield(self._aliases_saving)

    # ----------------------------------------------------------------- ids and paths

    def _id_of(self, st: os.stat_result) -> str:
        key = _key(st)
        return self._aliases.get(key, key)

    def _full(self, rel: str) -> str:
        return os.path.join(self._root_str, rel) if rel else self._root_str

    def _contained(self, full: str, operation: str, rel: str) -> None:
        """Refuse a path whose real location (symlinks resolved) is outside the root or in the trash."""
        real = _real_path(full)
        inside = real == self._root_str or real.startswith(self._root_str + os.sep)
        trash = str(self.trash)
        if not inside or real == trash or real.startswith(trash + os.sep):
            raise EscapeError(f"{rel!r} resolves outside the synced tree", TechnicalReport(operation=operation, url=rel))

    def _lookup(self, node_id: str, operation: str) -> tuple[str, os.stat_result]:
        """The node's current path and stat, walking the tree once when the index is stale."""
        for attempt in range(2):
            if node_id in self._trash_index:
                break  # deleted through us: no need to walk the tree to know it is gone
            rel = self._index.get(node_id)
            if rel is not None:
                full = self._full(rel)
                try:
                    st = os.lstat(full)
                except OSError:
                    st = None
                if st is not None and not stat.S_ISLNK(st.st_mode) and self._id_of(st) == node_id:
                    self._contained(full, operation, rel)
                    return rel, st
                self._index.pop(node_id, None)
            if attempt == 0:
                self._rebuild(looking_for=node_id)
        raise NodeNotFoundError(f"node {node_id} not found", TechnicalReport(operation=operation, url=node_id))

    def _rebuild(self, looking_for: str | None = None) -> None:
        """Walk the tree breadth first (never following symlinks) and prune aliases of inodes that are gone.

        With `looking_for`, stop as soon as that node is seen: a fresh connector's first `get` (the synced
        folder, near the top) then reads a few folders instead of the whole tree (seconds at 100k files).
        """
        index: dict[str, str] = {self.root_id: ""}
        seen: set[str] = set()
        stack = collections.deque([""])
        while stack:
            if looking_for is not None and looking_for in index:
                self._index.update(index)  # entries found so far are valid; _lookup re-checks every hit
                return
            rel = stack.popleft()
            try:
                entries = list(os.scandir(self._full(rel)))
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith(HIDDEN_PREFIX):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISLNK(st.st_mode):
                    continue
                child = f"{rel}/{entry.name}" if rel else entry.name
                seen.add(_key(st))
                index[self._id_of(st)] = child
                if stat.S_ISDIR(st.st_mode):
                    stack.append(child)
        for dirpath, dirnames, filenames in os.walk(self.trash):
            if dirpath == str(self.trash) and "versions" in dirnames:
                dirnames.remove("versions")
            for name in dirnames + filenames:
                with contextlib.suppress(OSError):
                    seen.add(_key(os.lstat(os.path.join(dirpath, name))))
        stale = [k for k in self._aliases if k not in seen]
        if stale:
            for k in stale:
                del self._aliases[k]
            self._save_aliases()
        self._index = index

    # ----------------------------------------------------------------- what changed

    search_lag_seconds = 1.0
    """How far before the previous scan `changed_below` must reach back: timestamps come from a coarse clock."""
    search_is_exact = True
    """`changed_below` reports every node at or below its roots that moved (`flows.changes`: a folder it did not
    report has not changed, whatever its modification time says)."""

    def _own_writes(self) -> dict[str, int]:
        if not self._own_loaded:
            saved = self._read_json(OWN_WRITES)
            self._own = {key: value for key, value in saved.items() if isinstance(value, int)} | self._own
            self._own_loaded = True
        return self._own

    def _note_own(self, node_id: str | None, st: os.stat_result | None, *folders: str) -> None:
        """Remember the change times this connector's write left (the node's and its folders')."""
        own = self._own_writes()
        self._own_changed = True
        if node_id is not None and st is not None:
            own[node_id] = st.st_ctime_ns
        for folder in folders:
            with contextlib.suppress(OSError):
                folder_st = os.lstat(self._full(folder))
                own[self._id_of(folder_st)] = folder_st.st_ctime_ns

    async def changed_below(self, roots: Sequence[str], since: datetime) -> ChangeFeed:
        """Every node at or below `roots` whose change or modification time is at or after `since`, except what this
        connector's own writes left as it is; the clock before the walk as `server_time`."""
        now = datetime.now(UTC)
        if not roots:
            return ChangeFeed([], now)
        since_ns = (since.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1) * 1000
        own = self._own_writes()
        changes: list[Change] = []
        for root in roots:
            rel, root_st = self._lookup(root, "changed-below")
            above = self._ancestors(rel)
            if (root_st.st_ctime_ns >= since_ns or root_st.st_mtime_ns >= since_ns) and own.get(root) != root_st.st_ctime_ns:
                changes.append(Change(self._node(rel, root_st), above))
            if not stat.S_ISDIR(root_st.st_mode):
                continue
            top = (*above, root)
            stack = collections.deque([(rel, root, top)])
            while stack:
                folder_rel, folder_id, chain = stack.popleft()
                try:
                    with os.scandir(self._full(folder_rel)) as it:
                        entries = list(it)
                except OSError:
                    continue
                parent_path = "/" + folder_rel
                for entry, st in _visible(entries):
                    child = f"{folder_rel}/{entry.name}" if folder_rel else entry.name
                    node_id = self._id_of(st)
                    self._index[node_id] = child
                    if stat.S_ISDIR(st.st_mode):
                        stack.append((child, node_id, (*chain, node_id)))
                    if (st.st_ctime_ns >= since_ns or st.st_mtime_ns >= since_ns) and own.get(node_id) != st.st_ctime_ns:
                        changes.append(Change(self._node(child, st, folder_id, parent_path, entry.name), chain))
        return ChangeFeed(changes, now)

    def _ancestors(self, rel: str) -> tuple[str, ...]:
        """Ids from the root down to the parent of the node at `rel` (empty for the root itself)."""
        if rel == "":
            return ()
        names = rel.split("/")
        ids = [self.root_id]
        for depth in range(1, len(names)):
            ids.append(self._id_of(os.lstat(self._full("/".join(names[:depth])))))
        return tuple(ids)

    async def locate(self, node_id: str) -> Change:
        rel, st = self._lookup(node_id, "locate")
        with self._os_errors("locate", rel):
            return Change(self._node(rel, st), self._ancestors(rel))

    def _node(
        self, rel: str, st: os.stat_result, parent_id: str | None = None, parent_path: str | None = None, name: str | None = None
    ) -> Node:
        """The node at `rel`; a listing passes what it knows already (parent id, parent path, the entry's name)
        so its nodes share those strings instead of each holding copies."""
        node_id = self._id_of(st)
        self._index[node_id] = rel
        if rel == "":
            return Node(id=node_id, name=self.root.name, parent_id=None, is_folder=True, path=None, modified_at=_mtime(st))
        parent_rel, _, own_name = rel.rpartition("/")
        name = name or own_name
        if parent_id is None:
            parent_id = self._id_of(os.lstat(self._full(parent_rel)))
            self._index.setdefault(parent_id, parent_rel)
        is_folder = stat.S_ISDIR(st.st_mode)
        return Node(
            id=node_id,
            name=name,
            parent_id=parent_id,
            is_folder=is_folder,
            size=0 if is_folder else st.st_size,
            modified_at=_mtime(st),
            version_label=None,
            mime_type=None if is_folder else _mime_type(os.path.splitext(name)[1].lower()),
            is_locked=node_id in self._locks,
            lock_owner=self._locks.get(node_id),
            path=parent_path or "/" + parent_rel,
            metadata=NO_METADATA,
            is_versionable=None if is_folder else True,
        )

    @contextlib.contextmanager
    def _os_errors(self, operation: str, rel: str) -> Iterator[None]:
        """Translate OS errors into the typed errors the engine acts on, with the relative path only."""
        try:
            yield
        except RepositoryError:
            raise
        except OSError as exc:
            report = TechnicalReport(operation=operation, url=rel, brief_summary=exc.strerror)
            message = f"{operation} {rel!r}: {exc.strerror or exc}"
            if isinstance(exc, FileNotFoundError):
                raise NodeNotFoundError(message, report) from exc
            if isinstance(exc, PermissionError):
                raise AccessDeniedError(message, report) from exc
            if isinstance(exc, FileExistsError):
                raise NameClashError(message, report) from exc
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise QuotaExceededError(message, report) from exc
            if exc.errno in (errno.ENAMETOOLONG, errno.EINVAL, errno.ENOTDIR, errno.EISDIR, errno.ENOTEMPTY):
                raise InvalidRequestError(message, report) from exc
            raise RepositoryError(message, report) from exc

    def _folder(self, folder_id: str, operation: str) -> str:
        rel, st = self._lookup(folder_id, operation)
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidRequestError(f"{rel!r} is not a folder", TechnicalReport(operation=operation, url=rel))
        return rel

    def _refuse_clash(self, parent_rel: str, name: str, operation: str, same: str | None = None) -> None:
        """Alfresco names are case-insensitive: refuse "A.txt" beside "a.txt" even on a case-sensitive disk."""
        folded = name.casefold()
        with os.scandir(self._full(parent_rel)) as entries:
            for entry in entries:
                if entry.name.casefold() != folded:
                    continue
                if same is not None:
                    with contextlib.suppress(OSError):
                        if self._id_of(entry.stat(follow_symlinks=False)) == same:
                            continue
                rel = f"{parent_rel}/{entry.name}" if parent_rel else entry.name
                raise NameClashError(f"{entry.name!r} already exists", TechnicalReport(operation=operation, url=rel))

    def _reindex_subtree(self, old_rel: str, new_rel: str) -> None:
        prefix = old_rel + "/"
        for node_id, rel in list(self._index.items()):
            if rel == old_rel:
                self._index[node_id] = new_rel
            elif rel.startswith(prefix):
                self._index[node_id] = new_rel + rel[len(old_rel) :]

    def _drop_subtree(self, old_rel: str) -> None:
        prefix = old_rel + "/"
        for node_id, rel in list(self._index.items()):
            if rel == old_rel or rel.startswith(prefix):
                del self._index[node_id]

    async def _write_temp(self, parent_rel: str, content: AsyncIterable[bytes], operation: str) -> str:
        """Stream into a new hidden file beside the target and fsync it; removed again on any failure."""
        tmp = os.path.join(self._full(parent_rel), f"{TMP_PREFIX}{uuid.uuid4().hex}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        with self._os_errors(operation, parent_rel):
            # Creating a file costs ~0.5 ms of filesystem work on a virtual disk: in a worker thread, so the
            # event loop keeps carrying the other transfers and several creates proceed at once.
            fd = await asyncio.to_thread(os.open, tmp, flags, 0o666)
        try:
            with os.fdopen(fd, "wb") as fh:
                # Only the disk's errors are translated; the source's own failure travels unchanged.
                async for chunk in content:
                    with self._os_errors(operation, parent_rel):
                        fh.write(chunk)
                with self._os_errors(operation, parent_rel):
                    fh.flush()
                    if not self._deferred:
                        await asyncio.to_thread(os.fsync, fh.fileno())
            if self._deferred:
                self._written += 1
                with self._os_errors(operation, parent_rel):
                    await self._durable()  # the bytes before the rename: never a visible half-written file
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return tmp

    # ----------------------------------------------------------------- durability

    def defer_durability(self) -> Callable[[], None]:
        """Switch to grouped durability (module docstring) and return the barrier that must run before any
        record of this connector's writes is committed (`StateWriter.barriers`)."""
        self._deferred = True
        return self.flush

    def flush(self) -> None:
        """Make every write done so far durable: one `syncfs` of the root's filesystem, none when nothing was
        written since the last. Safe from any thread; blocking."""
        with self._flush_lock:
            target = self._written
            if target <= self._flushed:
                return
            _sync_filesystem(self._root_str)
            self._flushed = target

    async def _durable(self) -> None:
        """Wait, off the event loop, until a flush that started after this call's writes has finished: the
        writes of concurrent calls share one."""
        mark = self._written
        while self._flushed < mark:
            if self._flushing is None or self._flushing.done():
                self._flushing = asyncio.ensure_future(asyncio.to_thread(self.flush))
            await asyncio.shield(self._flushing)

    async def _after_write(self, folder: str) -> None:
        """A rename into `folder` (or a create, delete) is done: durable now, or counted for the next flush."""
        if self._deferred:
            self._written += 1
        else:
            await self._sync_dir(folder)

    async def _sync_dir(self, path: str) -> None:
        """Make the renames into `path` durable before the call returns, off the event loop.

        Group commit for folders: an fsync of a folder covers every rename into it made before it starts, so
        the renames of concurrent uploads into one folder share the fsync that is scheduled and not started.
        """
        pending = self._dir_syncs.get(path)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._dir_syncs[path] = pending
            asyncio.get_running_loop().call_soon(self._start_dir_sync, path, pending)
        await asyncio.shield(pending)

    def _start_dir_sync(self, path: str, done: asyncio.Future[None]) -> None:
        if self._dir_syncs.get(path) is done:
            del self._dir_syncs[path]  # renames from now on need an fsync that starts after them

        async def run() -> None:
            try:
                await asyncio.to_thread(_fsync_dir, path)
            except BaseException as exc:  # _fsync_dir is best effort; anything else reaches every waiter
                if not done.done():
                    done.set_exception(exc)
                raise
            if not done.done():
                done.set_result(None)

        task = asyncio.ensure_future(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ----------------------------------------------------------------- reads

    async def get(self, node_id: str) -> Node:
        rel, st = self._lookup(node_id, "get")
        return self._node(rel, st)

    async def get_by_path(self, path: str) -> Node:
        """Resolve a root-relative path ("" or "/" is the root). Symlinks are not nodes."""
        names = split_path(path)
        rel = "/".join(names)
        full = self._full(rel)
        self._contained(full, "get-by-path", rel)
        with self._os_errors("get-by-path", rel):
            for depth in range(1, len(names) + 1):
                st = os.lstat(self._full("/".join(names[:depth])))
                if stat.S_ISLNK(st.st_mode):
                    raise NodeNotFoundError(
                        f"{rel!r} goes through a symlink, which is not synced",
                        TechnicalReport(operation="get-by-path", url=rel),
                    )
            st = os.lstat(full)
        return self._node(rel, st)

    async def list_children(self, folder_id: str, *, page_size: int = 100) -> AsyncIterator[list[Node]]:
        """Children sorted by name; symlinks and the connector's own hidden files are skipped."""
        rel = self._folder(folder_id, "list-children")
        with self._os_errors("list-children", rel), os.scandir(self._full(rel)) as it:
            entries = sorted(it, key=lambda e: e.name)
        page: list[Node] = []
        parent_path = "/" + rel  # one string shared by the folder's children, not one per node
        for entry, st in _visible(entries):
            page.append(self._node(f"{rel}/{entry.name}" if rel else entry.name, st, folder_id, parent_path, entry.name))
            if len(page) >= page_size:
                yield page
                page = []
        if page:
            yield page

    async def download(self, node_id: str) -> AsyncIterator[bytes]:
        rel, st = self._lookup(node_id, "download")
        if stat.S_ISDIR(st.st_mode):
            raise InvalidRequestError(f"{rel!r} is a folder", TechnicalReport(operation="download", url=rel))
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        with self._os_errors("download", rel):
            fh = os.fdopen(os.open(self._full(rel), flags), "rb")
        with fh:
            while True:
                with self._os_errors("download", rel):
                    chunk = fh.read(CHUNK_SIZE)
                if not chunk:
                    return
                yield chunk

    # ----------------------------------------------------------------- writes

    async def create_folder(self, parent_id: str, name: str, metadata: Metadata | None = None) -> Node:
        check_name(name)
        parent_rel = self._folder(parent_id, "create-folder")
        rel = f"{parent_rel}/{name}" if parent_rel else name
        with self._os_errors("create-folder", rel):
            st = await asyncio.to_thread(self._make_folder, parent_rel, name, rel)
            self._written += 1
            node = self._node(rel, st)
            self._note_own(node.id, st, parent_rel)
            return node

    def _make_folder(self, parent_rel: str, name: str, rel: str) -> os.stat_result:
        """Clash check and mkdir, in a worker thread (a mkdir is milliseconds of filesystem work here)."""
        self._refuse_clash(parent_rel, name, "create-folder")
        os.mkdir(self._full(rel))
        return os.lstat(self._full(rel))

    def _place(self, tmp: str, parent_rel: str, name: str, rel: str) -> os.stat_result:
        """Clash check and no-replace rename of a written temp file, in a worker thread."""
        self._refuse_clash(parent_rel, name, "upload")
        _rename_noreplace(tmp, self._full(rel))
        return os.lstat(self._full(rel))

    async def upload(
        self,
        parent_id: str,
        name: str,
        content: AsyncIterable[bytes],
        *,
        metadata: Metadata | None = None,
        mime_type: str | None = None,
    ) -> Node:
        """Create a file atomically; an existing name (any case) is a clash, never overwritten.

        `metadata` and `mime_type` have no home on disk and are ignored; the type is guessed from the name.
        """
        check_name(name)
        parent_rel = self._folder(parent_id, "upload")
        rel = f"{parent_rel}/{name}" if parent_rel else name
        # The clash check that counts is the one just before the no-replace rename; a name taken meanwhile
        # costs the bytes written to the temp file, not a second scan of the folder for every upload.
        tmp = await self._write_temp(parent_rel, content, "upload")
        try:
            with self._os_errors("upload", rel):
                st = await asyncio.to_thread(self._place, tmp, parent_rel, name, rel)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        node = self._node(rel, st)
        self._note_own(node.id, st, parent_rel)
        await self._after_write(self._full(parent_rel))
        return node

    async def update_content(self, node_id: str, content: AsyncIterable[bytes], *, major: bool = False) -> Node:
        """Replace the bytes atomically, keeping the old bytes in the trash folder and the node's id."""
        rel, st = self._lookup(node_id, "update-content")
        if stat.S_ISDIR(st.st_mode):
            raise InvalidRequestError(f"{rel!r} is a folder", TechnicalReport(operation="update-content", url=rel))
        parent_rel = rel.rpartition("/")[0]
        tmp = await self._write_temp(parent_rel, content, "update-content")
        try:
            with self._os_errors("update-content", rel):
                await asyncio.to_thread(self._keep_version_and_replace, node_id, rel, tmp)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        await self._after_write(self._full(parent_rel))
        with self._os_errors("update-content", rel):
            new_st = os.lstat(self._full(rel))
        self._aliases.pop(_key(st), None)
        if _key(new_st) != node_id:
            self._aliases[_key(new_st)] = node_id
        self._aliases_changes += 1
        with self._os_errors("update-content", rel):
            await self._aliases_durable()
        self._note_own(node_id, new_st, parent_rel)
        return self._node(rel, new_st)

    def _keep_version_and_replace(self, node_id: str, rel: str, tmp: str) -> None:
        """In a worker thread: the old bytes kept (and flushed), then the new file put in their place."""
        self._keep_version(node_id, rel)
        os.replace(tmp, self._full(rel))

    def _keep_version(self, node_id: str, rel: str) -> Path:
        """Copy the bytes about to be overwritten into the trash folder (fsynced) before the overwrite."""
        folder = self.trash / "versions" / node_id.replace(":", "-")
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = folder / f"{stamp}-{uuid.uuid4().hex[:8]}-{rel.rpartition('/')[2]}"
        shutil.copy2(self._full(rel), target, follow_symlinks=False)
        with open(target, "rb") as fh:
            os.fsync(fh.fileno())
        return target

    async def rename(self, node_id: str, new_name: str) -> Node:
        rel, _st = self._lookup(node_id, "rename")
        if rel == "":
            raise InvalidRequestError("the root cannot be renamed", TechnicalReport(operation="rename"))
        return await self._relocate(node_id, rel, rel.rpartition("/")[0], new_name, "rename")

    async def move(self, node_id: str, target_parent_id: str, new_name: str | None = None) -> Node:
        rel, _st = self._lookup(node_id, "move")
        if rel == "":
            raise InvalidRequestError("the root cannot be moved", TechnicalReport(operation="move"))
        target_rel = self._folder(target_parent_id, "move")
        if target_rel == rel or target_rel.startswith(rel + "/"):
            raise InvalidRequestError(f"cannot move {rel!r} into itself", TechnicalReport(operation="move", url=target_rel))
        name = rel.rpartition("/")[2] if new_name is None else new_name
        return await self._relocate(node_id, rel, target_rel, name, "move")

    async def _relocate(self, node_id: str, rel: str, parent_rel: str, name: str, operation: str) -> Node:
        check_name(name)
        new_rel = f"{parent_rel}/{name}" if parent_rel else name
        with self._os_errors(operation, new_rel):
            if new_rel != rel:
                self._refuse_clash(parent_rel, name, operation, same=node_id)
                if new_rel.casefold() == rel.casefold():
                    os.rename(self._full(rel), self._full(new_rel))  # case-only change of the same node
                else:
                    _rename_noreplace(self._full(rel), self._full(new_rel))
                st = os.lstat(self._full(new_rel))
                # Before the await: other calls may run during the fsync. A file moves alone; only a folder
                # takes the index entries below it along (a walk of the whole index, once per folder move).
                if stat.S_ISDIR(st.st_mode):
                    self._reindex_subtree(rel, new_rel)
                else:
                    self._index[node_id] = new_rel
                self._note_own(node_id, st, parent_rel, rel.rpartition("/")[0])
                await self._after_write(self._full(parent_rel))
            return self._node(new_rel, os.lstat(self._full(new_rel)))

    async def update_metadata(self, node_id: str, metadata: Metadata) -> Node:
        """Accepted and not persisted: a plain folder has nowhere to keep title, description, author."""
        return await self.get(node_id)

    async def delete(self, node_id: str) -> None:
        """Move into the hidden trash folder, remembering where it came from for `restore`."""
        rel, st = self._lookup(node_id, "delete")
        if rel == "":
            raise InvalidRequestError("the root cannot be deleted", TechnicalReport(operation="delete"))
        parent_rel, _, name = rel.rpartition("/")
        entry = f"{node_id.replace(':', '-')}-{uuid.uuid4().hex[:8]}"
        with self._os_errors("delete", rel):
            parent_id = self._id_of(os.lstat(self._full(parent_rel)))
            _rename_noreplace(self._full(rel), str(self.trash / entry))
        self._written += 1
        self._note_own(None, None, parent_rel)
        self._trash_index[node_id] = {
            "entry": entry,
            "name": name,
            "parent_id": parent_id,
            "parent_path": parent_rel,
            "is_folder": stat.S_ISDIR(st.st_mode),
            "deleted_at": datetime.now(UTC).isoformat(),
        }
        self._write_json("trash.json", self._trash_index)
        if stat.S_ISDIR(st.st_mode):
            self._drop_subtree(rel)
        else:
            self._index.pop(node_id, None)
        self._locks.pop(node_id, None)

    async def restore(self, node_id: str, target_parent_id: str | None = None) -> Node:
        """Put a deleted node back under its original parent (or `target_parent_id`); never overwrites."""
        record = self._trash_index.get(node_id)
        if record is None:
            raise NodeNotFoundError(f"node {node_id} is not in the trash", TechnicalReport(operation="restore", url=node_id))
        parent_rel = self._folder(target_parent_id or record["parent_id"], "restore")
        name = record["name"]
        new_rel = f"{parent_rel}/{name}" if parent_rel else name
        with self._os_errors("restore", new_rel):
            self._refuse_clash(parent_rel, name, "restore")
            _rename_noreplace(str(self.trash / record["entry"]), self._full(new_rel))
        self._written += 1
        del self._trash_index[node_id]
        self._write_json("trash.json", self._trash_index)
        with self._os_errors("restore", new_rel):
            st = os.lstat(self._full(new_rel))
        self._note_own(self._id_of(st), st, parent_rel)
        return self._node(new_rel, st)

    async def ensure_versionable(self, node_id: str) -> Node:
        """Every file already keeps its overwritten bytes (see `update_content`): nothing to switch on."""
        return await self.get(node_id)

    async def lock(self, node_id: str) -> Node:
        """Record a lock in memory only: reported as `is_locked`, not enforced on disk."""
        rel, st = self._lookup(node_id, "lock")
        if stat.S_ISDIR(st.st_mode):
            raise InvalidRequestError("folders cannot be locked", TechnicalReport(operation="lock", url=rel))
        self._locks[node_id] = await self.whoami()
        return self._node(rel, st)

    async def unlock(self, node_id: str) -> Node:
        rel, st = self._lookup(node_id, "unlock")
        self._locks.pop(node_id, None)
        return self._node(rel, st)

    async def library_of(self, node: Node) -> LibraryLocation | None:
        """The root plays the document library; a node no longer under the root has none."""
        try:
            rel, _st = self._lookup(node.id, "library-of")
        except NodeNotFoundError:
            return None
        return LibraryLocation(site_id="local", library_id=self.root_id, relative_path=rel)

    async def whoami(self) -> str:
        return getpass.getuser()

    def web_url(self, node: Node, *, site: str | None = None) -> str:
        if node.parent_id is None:
            return self.root.as_uri()
        parent = (node.path or "/").strip("/")
        rel = f"{parent}/{node.name}" if parent else node.name
        return (self.root / rel).as_uri()

    async def aclose(self) -> None:
        """Nothing to release but the note of this connector's own writes (`changed_below`), kept for the next
        run; notes older than a minute before this connector opened are below any moment a later run asks about."""
        if self._own_changed:
            oldest = self._opened_ns - 60 * 1_000_000_000
            self._write_json(OWN_WRITES, {key: value for key, value in self._own_writes().items() if value >= oldest})

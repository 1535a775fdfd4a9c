"""The local-folder connector: every protocol method, id stability, atomic writes, trash, and escapes."""

from __future__ import annotations

import asyncio
import errno
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path

import pytest

from connectors.base import Metadata, Repository
from connectors.errors import (
    AccessDeniedError,
    EscapeError,
    InvalidRequestError,
    NameClashError,
    NodeNotFoundError,
    QuotaExceededError,
)
from connectors.local import TMP_PREFIX, TRASH_NAME, LocalRepository


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def failing(*parts: bytes) -> AsyncIterator[bytes]:
    """A transfer that drops midway, after some bytes were already written."""
    for part in parts:
        yield part
    raise ConnectionError("peer went away")


async def read_all(repo: LocalRepository, node_id: str) -> bytes:
    return b"".join([chunk async for chunk in repo.download(node_id)])


async def children(repo: LocalRepository, folder_id: str, page_size: int = 100) -> list[list[str]]:
    return [[n.name for n in page] async for page in repo.list_children(folder_id, page_size=page_size)]


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(f"{TMP_PREFIX}*")]


# ----------------------------------------------------------------- basics


async def test_is_a_repository_and_root_is_a_node(repo: LocalRepository, root: Path) -> None:
    assert isinstance(repo, Repository)
    by_empty = await repo.get_by_path("")
    by_slash = await repo.get_by_path("/")
    assert by_empty.id == by_slash.id == repo.root_id
    assert by_empty.is_folder and by_empty.parent_id is None
    st = root.stat()
    assert by_empty.id == f"{st.st_dev}:{st.st_ino}"


async def test_upload_get_download_and_fields(repo: LocalRepository, root: Path) -> None:
    folder = await repo.create_folder(repo.root_id, "Specs")
    node = await repo.upload(folder.id, "plan.txt", chunks(b"hello ", b"world"))
    assert (root / "Specs" / "plan.txt").read_bytes() == b"hello world"
    assert node.name == "plan.txt" and node.parent_id == folder.id and not node.is_folder
    assert node.size == 11 and node.mime_type == "text/plain" and node.version_label is None
    assert node.path == "/Specs" and node.metadata == Metadata()
    assert node.modified_at is not None and node.modified_at.tzinfo == UTC
    assert folder.path == "/" and folder.parent_id == repo.root_id and folder.is_folder
    assert (await repo.get(node.id)) == node
    assert (await repo.get_by_path("/Specs/plan.txt")).id == node.id
    assert (await repo.get_by_path("Specs/plan.txt")).id == node.id
    assert await read_all(repo, node.id) == b"hello world"


async def test_download_streams_in_chunks(repo: LocalRepository) -> None:
    big = os.urandom(2 * 1024 * 1024 + 10)
    node = await repo.upload(repo.root_id, "big.bin", chunks(big[:1000], big[1000:]))
    parts = [c async for c in repo.download(node.id)]
    assert len(parts) == 3 and b"".join(parts) == big


async def test_list_children_pages_sorted_and_hides_own_files(repo: LocalRepository, root: Path) -> None:
    for name in ["c.txt", "a.txt", "b.txt", "d.txt", "e.txt"]:
        await repo.upload(repo.root_id, name, chunks(b"x"))
    await repo.create_folder(repo.root_id, "sub")
    node = await repo.get_by_path("a.txt")
    await repo.delete(node.id)  # the trash folder now exists and holds something
    (root / f"{TMP_PREFIX}stray").write_bytes(b"half")
    pages = await children(repo, repo.root_id, page_size=2)
    assert pages == [["b.txt", "c.txt"], ["d.txt", "e.txt"], ["sub"]]
    assert all(TRASH_NAME not in page for page in pages)


async def test_list_children_of_a_file_is_refused(repo: LocalRepository) -> None:
    node = await repo.upload(repo.root_id, "f.txt", chunks(b"x"))
    with pytest.raises(InvalidRequestError):
        await children(repo, node.id)


async def test_unknown_ids_and_paths_are_not_found(repo: LocalRepository) -> None:
    with pytest.raises(NodeNotFoundError):
        await repo.get("1:1")
    with pytest.raises(NodeNotFoundError):
        await repo.get_by_path("missing/file.txt")


# ----------------------------------------------------------------- ids


async def test_ids_stable_across_rename_and_move(repo: LocalRepository) -> None:
    a = await repo.create_folder(repo.root_id, "a")
    b = await repo.create_folder(repo.root_id, "b")
    node = await repo.upload(a.id, "doc.txt", chunks(b"1"))
    renamed = await repo.rename(node.id, "doc2.txt")
    assert renamed.id == node.id and renamed.name == "doc2.txt"
    moved = await repo.move(node.id, b.id)
    assert moved.id == node.id and moved.parent_id == b.id and moved.path == "/b"
    moved_renamed = await repo.move(node.id, a.id, "doc3.txt")
    assert moved_renamed.id == node.id and moved_renamed.name == "doc3.txt" and moved_renamed.parent_id == a.id
    # A folder move keeps the ids of what is inside it, and the index follows.
    await repo.move(a.id, b.id)
    inner = await repo.get(node.id)
    assert inner.path == "/b/a" and await read_all(repo, node.id) == b"1"


async def test_ids_survive_moves_made_outside_the_connector(repo: LocalRepository, root: Path) -> None:
    folder = await repo.create_folder(repo.root_id, "x")
    node = await repo.upload(folder.id, "f.txt", chunks(b"data"))
    os.rename(root / "x", root / "y")  # someone renamed it on the share directly
    found = await repo.get(node.id)
    assert found.path == "/y" and found.name == "f.txt"


async def test_id_stable_across_content_update_and_new_instance(repo: LocalRepository, root: Path) -> None:
    node = await repo.upload(repo.root_id, "f.txt", chunks(b"v1"))
    updated = await repo.update_content(node.id, chunks(b"v2"))
    updated = await repo.update_content(node.id, chunks(b"v3!"))
    assert updated.id == node.id and updated.size == 3
    listed = [n async for page in repo.list_children(repo.root_id) for n in page]
    assert [n.id for n in listed] == [node.id]
    reopened = LocalRepository(root)  # aliases are persisted, not just in memory
    assert (await reopened.get_by_path("f.txt")).id == node.id
    assert await read_all(reopened, node.id) == b"v3!"


# ----------------------------------------------------------------- atomic writes


async def test_upload_leaves_no_temp_file(repo: LocalRepository, root: Path) -> None:
    await repo.upload(repo.root_id, "a.txt", chunks(b"a"))
    assert leftovers(root) == []


async def test_failed_upload_leaves_nothing(repo: LocalRepository, root: Path) -> None:
    with pytest.raises(ConnectionError):
        await repo.upload(repo.root_id, "a.txt", failing(b"part"))
    assert leftovers(root) == [] and not (root / "a.txt").exists()


async def test_failed_update_keeps_original_intact(repo: LocalRepository, root: Path) -> None:
    node = await repo.upload(repo.root_id, "a.txt", chunks(b"original"))
    with pytest.raises(ConnectionError):
        await repo.update_content(node.id, failing(b"new", b"er"))
    assert (root / "a.txt").read_bytes() == b"original"
    assert leftovers(root) == []
    assert (await repo.get(node.id)).size == len(b"original")


async def test_overwrite_keeps_old_bytes_in_trash(repo: LocalRepository, root: Path) -> None:
    node = await repo.upload(repo.root_id, "a.txt", chunks(b"first"))
    await repo.update_content(node.id, chunks(b"second"))
    await repo.update_content(node.id, chunks(b"third"))
    kept = sorted((root / TRASH_NAME / "versions" / node.id.replace(":", "-")).iterdir())  # the on-disk history
    assert [p.read_bytes() for p in kept] == [b"first", b"second"]
    assert all(root / TRASH_NAME in p.parents for p in kept)
    assert await read_all(repo, node.id) == b"third"
    versionable = await repo.ensure_versionable(node.id)
    assert versionable.is_versionable is True and versionable.id == node.id


async def test_update_content_of_a_folder_is_refused(repo: LocalRepository) -> None:
    folder = await repo.create_folder(repo.root_id, "f")
    with pytest.raises(InvalidRequestError):
        await repo.update_content(folder.id, chunks(b"x"))


# ----------------------------------------------------------------- clashes


async def test_upload_never_overwrites_any_case(repo: LocalRepository, root: Path) -> None:
    await repo.upload(repo.root_id, "Report.txt", chunks(b"keep"))
    for name in ["Report.txt", "report.TXT"]:
        with pytest.raises(NameClashError):
            await repo.upload(repo.root_id, name, chunks(b"lost"))
    assert (root / "Report.txt").read_bytes() == b"keep"
    assert sorted(p.name for p in root.iterdir() if p.name != TRASH_NAME) == ["Report.txt"]
    assert leftovers(root) == []


async def test_create_folder_rename_move_restore_clash(repo: LocalRepository, root: Path) -> None:
    a = await repo.upload(repo.root_id, "a.txt", chunks(b"a"))
    b = await repo.upload(repo.root_id, "b.txt", chunks(b"b"))
    sub = await repo.create_folder(repo.root_id, "sub")
    await repo.upload(sub.id, "A.TXT", chunks(b"other"))
    with pytest.raises(NameClashError):
        await repo.create_folder(repo.root_id, "A.txt")
    with pytest.raises(NameClashError):
        await repo.rename(b.id, "a.txt")
    with pytest.raises(NameClashError):
        await repo.move(a.id, sub.id)
    assert (root / "a.txt").read_bytes() == b"a" and (root / "b.txt").read_bytes() == b"b"
    # A case-only rename of the same node is not a clash.
    renamed = await repo.rename(a.id, "A.txt")
    assert renamed.id == a.id and renamed.name == "A.txt"
    await repo.delete(b.id)
    await repo.upload(repo.root_id, "B.txt", chunks(b"newcomer"))
    with pytest.raises(NameClashError):
        await repo.restore(b.id)
    assert (root / "B.txt").read_bytes() == b"newcomer"


async def test_folder_cannot_move_into_itself(repo: LocalRepository) -> None:
    a = await repo.create_folder(repo.root_id, "a")
    inner = await repo.create_folder(a.id, "inner")
    with pytest.raises(InvalidRequestError):
        await repo.move(a.id, inner.id)


# ----------------------------------------------------------------- trash


async def test_delete_and_restore_to_original_parent(repo: LocalRepository, root: Path) -> None:
    folder = await repo.create_folder(repo.root_id, "docs")
    node = await repo.upload(folder.id, "a.txt", chunks(b"keep me"))
    await repo.delete(node.id)
    assert not (root / "docs" / "a.txt").exists()
    with pytest.raises(NodeNotFoundError):
        await repo.get(node.id)
    restored = await repo.restore(node.id)
    assert restored.id == node.id and restored.parent_id == folder.id
    assert (root / "docs" / "a.txt").read_bytes() == b"keep me"
    with pytest.raises(NodeNotFoundError):
        await repo.restore(node.id)  # no longer in the trash


async def test_restore_to_another_parent_and_after_restart(repo: LocalRepository, root: Path) -> None:
    folder = await repo.create_folder(repo.root_id, "docs")
    inner = await repo.upload(folder.id, "a.txt", chunks(b"x"))
    other = await repo.create_folder(repo.root_id, "other")
    await repo.delete(folder.id)
    with pytest.raises(NodeNotFoundError):
        await repo.get(inner.id)
    reopened = LocalRepository(root)  # the trash index is on disk
    restored = await reopened.restore(folder.id, other.id)
    assert restored.parent_id == other.id and restored.path == "/other"
    assert (await reopened.get(inner.id)).path == "/other/docs"


async def test_root_cannot_be_deleted_renamed_or_moved(repo: LocalRepository) -> None:
    folder = await repo.create_folder(repo.root_id, "f")
    with pytest.raises(InvalidRequestError):
        await repo.delete(repo.root_id)
    with pytest.raises(InvalidRequestError):
        await repo.rename(repo.root_id, "x")
    with pytest.raises(InvalidRequestError):
        await repo.move(repo.root_id, folder.id)


# ----------------------------------------------------------------- locks, metadata, misc


async def test_lock_and_unlock_are_reported(repo: LocalRepository) -> None:
    node = await repo.upload(repo.root_id, "a.txt", chunks(b"x"))
    locked = await repo.lock(node.id)
    assert locked.is_locked and locked.lock_owner == await repo.whoami()
    assert (await repo.get(node.id)).is_locked
    unlocked = await repo.unlock(node.id)
    assert not unlocked.is_locked and not (await repo.get(node.id)).is_locked
    folder = await repo.create_folder(repo.root_id, "f")
    with pytest.raises(InvalidRequestError):
        await repo.lock(folder.id)


async def test_update_metadata_is_accepted_not_persisted(repo: LocalRepository) -> None:
    node = await repo.upload(repo.root_id, "a.txt", chunks(b"x"))
    after = await repo.update_metadata(node.id, Metadata(title="T", author="me"))
    assert after.id == node.id and after.metadata == Metadata()


async def test_library_whoami_web_url_aclose(repo: LocalRepository, root: Path) -> None:
    folder = await repo.create_folder(repo.root_id, "My Docs")
    node = await repo.upload(folder.id, "a b.txt", chunks(b"x"))
    location = await repo.library_of(node)
    assert location is not None
    assert (location.site_id, location.library_id, location.relative_path) == (
        "local",
        repo.root_id,
        "My Docs/a b.txt",
    )
    root_location = await repo.library_of(await repo.get(repo.root_id))
    assert root_location is not None and root_location.relative_path == ""
    assert isinstance(await repo.whoami(), str) and await repo.whoami()
    assert repo.web_url(node) == (root / "My Docs" / "a b.txt").as_uri()
    assert repo.web_url(node).startswith("file://") and "a%20b.txt" in repo.web_url(node)
    assert repo.web_url(await repo.get(repo.root_id)) == root.as_uri()
    await repo.delete(node.id)
    assert await repo.library_of(node) is None
    await repo.aclose()


async def test_permission_denied_is_typed(repo: LocalRepository, root: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    node = await repo.upload(repo.root_id, "a.txt", chunks(b"x"))
    (root / "a.txt").chmod(0)
    try:
        with pytest.raises(AccessDeniedError) as info:
            await read_all(repo, node.id)
        assert info.value.report.operation == "download" and info.value.report.url == "a.txt"
    finally:
        (root / "a.txt").chmod(0o644)


# ----------------------------------------------------------------- escapes


BAD_NAMES = ["..", ".", "", "a/b", "/etc", "a\\b", "a\0b", f"{TRASH_NAME}", f"{TMP_PREFIX}x"]


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_bad_names_refused_for_every_write(repo: LocalRepository, root: Path, name: str) -> None:
    node = await repo.upload(repo.root_id, "ok.txt", chunks(b"x"))
    folder = await repo.create_folder(repo.root_id, "f")
    before = sorted(str(p) for p in root.parent.rglob("*"))
    with pytest.raises(EscapeError):
        await repo.upload(repo.root_id, name, chunks(b"x"))
    with pytest.raises(EscapeError):
        await repo.create_folder(repo.root_id, name)
    with pytest.raises(EscapeError):
        await repo.rename(node.id, name)
    with pytest.raises(EscapeError):
        await repo.move(node.id, folder.id, name)
    assert sorted(str(p) for p in root.parent.rglob("*")) == before


@pytest.mark.parametrize(
    "path", ["..", "../outside/secret.txt", "a/../..", "./x", "a\0b", "C:\\Windows", "\\\\server\\x", "//etc"]
)
async def test_bad_paths_refused_for_reads(repo: LocalRepository, outside: Path, path: str) -> None:
    with pytest.raises(EscapeError):
        await repo.get_by_path(path)


async def test_absolute_path_never_reads_outside_root(repo: LocalRepository, outside: Path) -> None:
    """A leading "/" means the root, so a machine path names something inside the root (here: nothing)."""
    with pytest.raises(NodeNotFoundError):
        await repo.get_by_path(str(outside / "secret.txt"))


async def test_trash_is_not_reachable_by_path(repo: LocalRepository) -> None:
    with pytest.raises(EscapeError):
        await repo.get_by_path(TRASH_NAME)
    with pytest.raises(EscapeError):
        await repo.get_by_path(f"/{TRASH_NAME}/trash.json")


async def test_symlink_out_of_root_refused_for_reads(repo: LocalRepository, root: Path, outside: Path) -> None:
    (root / "out_dir").symlink_to(outside, target_is_directory=True)
    (root / "out_file").symlink_to(outside / "secret.txt")
    with pytest.raises(EscapeError):
        await repo.get_by_path("out_dir/secret.txt")
    with pytest.raises(EscapeError):
        await repo.get_by_path("out_file")
    with pytest.raises(EscapeError):
        await repo.get_by_path("out_dir")
    # Listings neither follow nor report symlinks.
    assert await children(repo, repo.root_id) == []


async def test_symlink_inside_root_is_not_a_node(repo: LocalRepository, root: Path) -> None:
    await repo.upload(repo.root_id, "real.txt", chunks(b"x"))
    (root / "alias.txt").symlink_to(root / "real.txt")
    assert await children(repo, repo.root_id) == [["real.txt"]]
    with pytest.raises(NodeNotFoundError):
        await repo.get_by_path("alias.txt")


async def test_symlink_out_of_root_refused_for_writes(repo: LocalRepository, root: Path, outside: Path) -> None:
    (root / "out_file").symlink_to(outside / "secret.txt")
    with pytest.raises(NameClashError):
        await repo.upload(repo.root_id, "out_file", chunks(b"pwned"))
    node = await repo.upload(repo.root_id, "x.txt", chunks(b"x"))
    with pytest.raises(NameClashError):
        await repo.rename(node.id, "out_file")
    assert (outside / "secret.txt").read_bytes() == b"secret"


async def test_folder_swapped_for_symlink_out_of_root(repo: LocalRepository, root: Path, outside: Path) -> None:
    """A synced folder moved out of the share and replaced by a link to it must not be written through."""
    folder = await repo.create_folder(repo.root_id, "docs")
    inner = await repo.upload(folder.id, "a.txt", chunks(b"mine"))
    os.rename(root / "docs", outside / "docs")
    (root / "docs").symlink_to(outside / "docs", target_is_directory=True)
    with pytest.raises(NodeNotFoundError):
        await repo.upload(folder.id, "new.txt", chunks(b"x"))
    with pytest.raises((EscapeError, NodeNotFoundError)):
        await repo.update_content(inner.id, chunks(b"overwritten"))
    with pytest.raises((EscapeError, NodeNotFoundError)):
        await read_all(repo, inner.id)
    with pytest.raises((EscapeError, NodeNotFoundError)):
        await repo.delete(inner.id)
    assert (outside / "docs" / "a.txt").read_bytes() == b"mine"
    assert sorted(p.name for p in (outside / "docs").iterdir()) == ["a.txt"]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), AccessDeniedError),
        (FileExistsError(errno.EEXIST, "File exists"), NameClashError),
        (FileNotFoundError(errno.ENOENT, "No such file"), NodeNotFoundError),
        (OSError(errno.ENOSPC, "No space left on device"), QuotaExceededError),
    ],
)
async def test_os_errors_are_typed_with_a_report(
    repo: LocalRepository, monkeypatch: pytest.MonkeyPatch, error: OSError, expected: type
) -> None:
    folder = await repo.create_folder(repo.root_id, "docs")

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr(os, "mkdir", refuse)
    with pytest.raises(expected) as info:
        await repo.create_folder(folder.id, "new")
    assert info.value.report.operation == "create-folder" and info.value.report.url == "docs/new"


async def test_concurrent_uploads_of_one_name_never_overwrite(repo: LocalRepository, root: Path) -> None:
    results = await asyncio.gather(
        *(repo.upload(repo.root_id, "same.txt", chunks(f"writer {i}".encode())) for i in range(5)),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, NameClashError) for r in results if isinstance(r, BaseException))
    assert (root / "same.txt").read_bytes() == await read_all(repo, winners[0].id)
    assert leftovers(root) == []


async def test_external_delete_is_not_found_and_prunes_aliases(repo: LocalRepository, root: Path) -> None:
    node = await repo.upload(repo.root_id, "a.txt", chunks(b"v1"))
    await repo.update_content(node.id, chunks(b"v2"))
    aliases = root / TRASH_NAME / "aliases.json"
    assert node.id in json.loads(aliases.read_text()).values()
    (root / "a.txt").unlink()  # removed on the share, not through the connector
    with pytest.raises(NodeNotFoundError):
        await repo.get(node.id)
    assert json.loads(aliases.read_text()) == {}


async def test_concurrent_uploads_into_one_folder_share_its_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import connectors.local as local

    started: list[list[str]] = []
    real_fsync_dir = local._fsync_dir

    def recording(path: str) -> None:
        if path.endswith("many"):
            started.append(sorted(os.listdir(path)))  # what this fsync makes durable
        real_fsync_dir(path)

    monkeypatch.setattr(local, "_fsync_dir", recording)
    repo = LocalRepository(tmp_path)
    folder = await repo.create_folder(repo.root_id, "many")
    nodes = await asyncio.gather(*(repo.upload(folder.id, f"f{i}.txt", chunks(b"x" * i)) for i in range(20)))
    assert 1 <= len(started) < 20, "renames into one folder share an fsync"
    for node in nodes:  # each upload returned only after an fsync that began with its file in place
        assert any(node.name in names for names in started), node.name
    assert sorted(n.name for n in nodes) == sorted(os.listdir(tmp_path / "many"))


async def test_deferred_durability_flushes_temp_files_before_their_rename_and_the_rest_on_the_barrier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import connectors.local as local

    flushes: list[list[str]] = []
    fsyncs: list[int] = []
    renamed: list[tuple[int, str]] = []
    real_rename = local._rename_noreplace

    def recording_syncfs(path: str) -> None:
        flushes.append(sorted(p.name for p in (tmp_path / "many").iterdir()) if (tmp_path / "many").exists() else [])

    def recording_rename(src: str, dst: str) -> None:
        renamed.append((len(flushes), os.path.basename(src)))  # how many flushes had finished before it
        real_rename(src, dst)

    monkeypatch.setattr(local, "_sync_filesystem", recording_syncfs)
    monkeypatch.setattr(local, "_rename_noreplace", recording_rename)
    monkeypatch.setattr(local.os, "fsync", lambda fd: fsyncs.append(fd))
    repo = LocalRepository(tmp_path)
    barrier = repo.defer_durability()
    folder = await repo.create_folder(repo.root_id, "many")
    nodes = await asyncio.gather(*(repo.upload(folder.id, f"f{i}.txt", chunks(b"x" * i)) for i in range(20)))
    assert fsyncs == [], "no fsync per file or folder"
    assert 1 <= len(flushes) < 20, "the temp files of concurrent uploads share a flush"
    assert len(renamed) == 20
    for finished, tmp in renamed:  # each file's bytes were flushed while it still had its hidden temp name
        assert tmp.startswith(TMP_PREFIX) and any(tmp in names for names in flushes[:finished]), tmp
    assert sorted(n.name for n in nodes) == sorted(os.listdir(tmp_path / "many"))
    before = len(flushes)
    barrier()  # the renames (and the folder create) are not durable until the barrier before the commit
    assert len(flushes) == before + 1 and set(flushes[-1]) == {f"f{i}.txt" for i in range(20)}
    barrier()
    assert len(flushes) == before + 1, "nothing written since: no second flush"
    await repo.rename(nodes[0].id, "renamed.txt")
    barrier()
    assert len(flushes) == before + 2


# ----------------------------------------------------------------- what changed (ChangeSource)


async def test_changed_below_reports_what_others_changed_and_not_its_own_writes(tmp_path: Path) -> None:
    from datetime import datetime, timedelta

    from connectors.base import ChangeSource

    repo = LocalRepository(tmp_path)
    assert isinstance(repo, ChangeSource)
    top = await repo.create_folder(repo.root_id, "top")
    sub = await repo.create_folder(top.id, "sub")
    mine = await repo.upload(sub.id, "mine.txt", chunks(b"ours"))
    (tmp_path / "top" / "theirs.txt").write_bytes(b"old")
    await asyncio.sleep(0.05)
    since = datetime.now(UTC)
    await asyncio.sleep(0.05)
    moved = await repo.rename(mine.id, "renamed.txt")  # our own write after `since`: not a change
    await repo.aclose()

    again = LocalRepository(tmp_path)  # a later run: the note of our own writes was kept
    quiet = await again.changed_below([top.id], since)
    assert quiet.changes == []
    assert quiet.server_time is not None and quiet.server_time >= since

    (tmp_path / "top" / "theirs.txt").write_bytes(b"edited by someone else")
    os.rename(tmp_path / "top" / "sub" / "renamed.txt", tmp_path / "top" / "sub" / "by-hand.txt")
    (tmp_path / "top" / "new.txt").write_bytes(b"new")
    feed = await again.changed_below([top.id], since - timedelta(seconds=0))
    found = {change.node.name: change for change in feed.changes}
    assert set(found) == {"top", "sub", "theirs.txt", "by-hand.txt", "new.txt"}
    assert found["by-hand.txt"].node.id == moved.id
    assert found["by-hand.txt"].ancestors == (repo.root_id, top.id, sub.id)
    assert found["top"].ancestors == (repo.root_id,)
    located = await again.locate(moved.id)
    assert located.node.name == "by-hand.txt" and located.ancestors == (repo.root_id, top.id, sub.id)
    with pytest.raises(NodeNotFoundError):
        await again.locate("0:0")
    empty = await again.changed_below([], since)
    assert empty.changes == [] and empty.server_time is not None


async def test_changed_below_sees_a_touch_that_keeps_the_old_modification_time(tmp_path: Path) -> None:
    from datetime import datetime

    repo = LocalRepository(tmp_path)
    top = await repo.create_folder(repo.root_id, "top")
    path = tmp_path / "top" / "a.txt"
    path.write_bytes(b"one")
    old = path.stat()
    await asyncio.sleep(0.05)
    since = datetime.now(UTC)
    path.write_bytes(b"two")
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))  # content changed, modification time put back
    feed = await repo.changed_below([top.id], since)
    assert "a.txt" in {change.node.name for change in feed.changes}


async def test_concurrent_content_updates_share_alias_saves_and_every_id_survives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = LocalRepository(tmp_path)
    folder = await repo.create_folder(repo.root_id, "many")
    nodes = [await repo.upload(folder.id, f"f{i}.txt", chunks(b"old")) for i in range(20)]
    saves: list[int] = []
    real_save = repo._save_aliases

    def counting() -> None:
        saves.append(1)
        real_save()

    monkeypatch.setattr(repo, "_save_aliases", counting)
    updated = await asyncio.gather(*(repo.update_content(n.id, chunks(b"new bytes")) for n in nodes))
    assert [u.id for u in updated] == [n.id for n in nodes], "ids survive the new inodes"
    assert 1 <= len(saves) < 20, "updates in flight share a save of the alias table"
    reopened = LocalRepository(tmp_path)  # a later run reads every alias back
    for node in nodes:
        assert (await reopened.get(node.id)).name == node.name
        assert await read_all(reopened, node.id) == b"new bytes"

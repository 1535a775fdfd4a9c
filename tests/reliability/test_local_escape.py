"""The local connector refuses every escape from its root, end to end through a run.

A real on-prem repository cannot hold a node named `..` or `../x`, so the on-prem side here is a small
wrapper around a `LocalRepository` that reports such names for some of its files (as a hostile or broken
server could). The cloud side is a folder on disk. Each hostile member fails; the good one syncs; nothing
is written outside the cloud folder's root.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from prefect import flow

from connectors.base import Node
from connectors.local import LocalRepository
from flows.common import final_state
from flows.engine import run_sync_set
from models import store
from models.tables import SyncSet
from tasks.connections import set_repository_opener
from vocabulary import SyncSetState

HOSTILE = {
    "evil1.txt": "..",
    "evil2.txt": "../x",
    "evil3.txt": "../../outside.txt",
    "evil4.txt": "/abs.txt",
    "evil5": "sub/../..",
}
"""File on disk -> the name the wrapper reports for it."""


class LyingRepository:
    """A LocalRepository whose listings and reads report hostile names for some files."""

    def __init__(self, inner: LocalRepository, names: dict[str, str]) -> None:
        self._inner = inner
        self._names = names
        self.label = inner.label

    def _lie(self, node: Node) -> Node:
        return dataclasses.replace(node, name=self._names.get(node.name, node.name))

    async def get(self, node_id: str) -> Node:
        return self._lie(await self._inner.get(node_id))

    async def list_children(self, folder_id: str, *, page_size: int = 100) -> AsyncIterator[list[Node]]:
        async for page in self._inner.list_children(folder_id, page_size=page_size):
            yield [self._lie(node) for node in page]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def files_under(path: Path) -> set[str]:
    """Every path below `path`, without the connector's own `.ecsync-` trash and version store."""
    found = {p.relative_to(path).as_posix() for p in path.rglob("*")}
    return {p for p in found if not any(part.startswith(".ecsync-") for part in p.split("/"))}


async def test_hostile_names_from_on_prem_never_leave_the_local_root(prefect_server, database_url, tmp_path):
    trees = tmp_path / "trees"  # the sync database lives in tmp_path itself
    onprem_root, outer = trees / "onprem", trees / "outer"
    cloud_root = outer / "cloud"
    folder = onprem_root / "docs"
    folder.mkdir(parents=True)
    cloud_root.mkdir(parents=True)
    (folder / "good.txt").write_bytes(b"good")
    for name in HOSTILE:
        (folder / name).write_bytes(f"hostile {name}".encode())
    onprem = LyingRepository(LocalRepository(onprem_root, label="onprem"), HOSTILE)
    cloud = LocalRepository(cloud_root, label="cloud")
    before_outside = files_under(trees) - {f"outer/cloud/{p}" for p in files_under(cloud_root)} - {"outer/cloud"}

    slug = f"escape-{uuid.uuid4().hex[:8]}"
    node = await onprem.get_by_path("docs")
    sync_set = SyncSet(
        slug=slug,
        owner="test",
        onprem_connection="lying-onprem",
        cloud_connection="local-cloud",
        kind="folder",
        items=[node.id],
        target_network="local",
        target_site="local",
        target_folder_id=cloud.root_id,
        target_folder_path="",
        state=SyncSetState.ACTIVE.value,
    )
    store.create_sync_set(database_url, sync_set, [node])
    repositories = {"lying-onprem": onprem, "local-cloud": cloud}
    set_repository_opener(lambda connection, label, tenant: repositories[connection])

    @flow(name="reliability-local-escape")
    async def escape_run() -> Any:
        return final_state(await run_sync_set(database_url, slug))

    try:
        state = await escape_run(return_state=True)
    finally:
        set_repository_opener(None)
    assert state.is_failed(), state.message
    assert (cloud_root / "docs" / "good.txt").read_bytes() == b"good", "the good file synced"
    assert files_under(cloud_root) == {"docs", "docs/good.txt"}, files_under(cloud_root)
    after_outside = files_under(trees) - {f"outer/cloud/{p}" for p in files_under(cloud_root)} - {"outer/cloud"}
    assert after_outside == before_outside, "nothing was written outside the cloud folder's root"
    members = store.members_of(database_url, store.get_sync_set(database_url, slug).id)
    failed = [m for m in members if m.status != "synced"]
    assert len(failed) == len(HOSTILE), [(m.rel_path, m.status, m.error_code) for m in members]
    assert {m.error_code for m in failed} <= {"UNKNOWN", "TARGET_FOLDER_NAME_CLASH"}, [m.error_code for m in failed]

"""What a person reads about a run names every item by its path in the sync set, never by an internal key,
and a name clash says which node holds the name, where, and who made it (SPEC "Runs and their states")."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable

from connectors.base import Metadata, Node
from sync import Options
from tests.sync.memory_repo import MemoryRepository, World, new_world
from vocabulary import ConflictPolicy

INTERNAL_KEY = re.compile(r"\bm\d+\b|new-(onprem|cloud):|conflict:m")


def _synced(options: Options | None = None) -> tuple[World, dict[str, str]]:
    world = new_world(options)
    op = world.onprem
    root = op.add("o1", "Docs", folder=True)
    sub = op.add(root, "Sub", folder=True)
    ids = {
        "root": root,
        "sub": sub,
        "a": op.add(root, "a.txt", folder=False, content=b"a", versionable=True),
        "c": op.add(sub, "c.txt", folder=False, content=b"c", versionable=True),
        "d": op.add(sub, "d.txt", folder=False, content=b"d", versionable=True),
    }
    world.add_direct(root)
    world.sync()
    return world, ids


def _cloud_id(world: World, onprem_id: str) -> str:
    record = next(r for r in world.records.values() if r.onprem and r.onprem.node_id == onprem_id)
    assert record.cloud is not None
    return record.cloud.node_id


def test_every_outcome_names_its_item_by_path() -> None:
    world, ids = _synced(Options(conflict_policy=ConflictPolicy.KEEP_BOTH, lock_on_premise=True))
    op, cl = world.onprem, world.cloud
    op.add(ids["sub"], "new.txt", folder=False, content=b"new")
    op.move(ids["c"], ids["sub"], "c-renamed.txt")
    op.move(ids["d"], ids["root"], "d.txt")
    op.write(ids["a"], b"on-prem edit")
    cl.write(_cloud_id(world, ids["a"]), b"cloud edit")
    world.sync()
    assert world.last is not None
    items = {(o.action, o.item) for o in world.last.outcomes}
    assert ("upload", "Docs/Sub/new.txt") in items
    assert ("rename", "Docs/Sub/c-renamed.txt") in items
    assert ("move", "Docs/d.txt") in items
    assert any(action == "update-content" and item == "Docs/a.txt" for action, item in items), items
    assert any(action == "conflict-copy" and re.fullmatch(r"Docs/a \(conflict from .+\)\.txt", item) for action, item in items)
    assert not [item for _action, item in items if INTERNAL_KEY.search(item)]


def test_a_name_clash_seen_in_the_scan_names_the_node_that_holds_the_name() -> None:
    world = new_world()
    root = world.onprem.add("o1", "Docs", folder=True)
    world.onprem.add(root, "b.txt", folder=False, content=b"b")
    world.cloud.add(world.target, "B.TXT", folder=False, content=b"someone else's")
    stranger = next(n for n in world.cloud.nodes.values() if n.name == "B.TXT")
    world.add_direct(world.onprem.add("o1", "b.txt", folder=False, content=b"mine"))
    world.sync()
    assert world.last is not None and world.last.report is not None
    failed = [o for o in world.last.outcomes if o.outcome == "failed"]
    assert [(o.item, o.code) for o in failed] == [("b.txt", "TARGET_FOLDER_NAME_CLASH")]
    assert f"node {stranger.id}" in failed[0].detail and "'B.TXT'" in failed[0].detail, failed[0].detail
    assert "in the destination folder" in failed[0].detail
    assert world.last.report.failure == "1 of 1 items not synced: b.txt TARGET_FOLDER_NAME_CLASH"
    assert world.clashes == 0, "seen in the scan: nothing was sent"


class _Latecomer(MemoryRepository):
    """Someone creates a node of the same name in the same folder between the scan and the upload."""

    async def upload(
        self,
        parent_id: str,
        name: str,
        content: AsyncIterable[bytes],
        *,
        metadata: Metadata | None = None,
        mime_type: str | None = None,
    ) -> Node:
        if name == "late.txt" and not any(n.name == "LATE.txt" for n in self.repo.children(parent_id)):
            self.repo.add(parent_id, "LATE.txt", folder=False, content=b"theirs", created_by="carol")
        return await super().upload(parent_id, name, content, metadata=metadata, mime_type=mime_type)


def test_a_name_clash_met_while_carrying_out_names_the_node_that_took_the_name(monkeypatch) -> None:
    world, ids = _synced()
    world.onprem.add(ids["sub"], "late.txt", folder=False, content=b"mine")
    original = world._repositories

    def repositories() -> tuple[MemoryRepository, MemoryRepository]:
        onprem, _cloud = original()
        return onprem, _Latecomer(world.cloud, world.rng)

    monkeypatch.setattr(world, "_repositories", repositories)
    world.sync()
    assert world.last is not None
    failed = [o for o in world.last.outcomes if o.outcome == "failed"]
    assert [(o.item, o.code) for o in failed] == [("Docs/Sub/late.txt", "TARGET_FOLDER_NAME_CLASH")]
    assert "cloud already has a file named 'LATE.txt' in Docs/Sub" in failed[0].detail, failed[0].detail
    assert "made by carol" in failed[0].detail

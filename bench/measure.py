"""The measuring side of every benchmark: runs inside `python -m bench _measure ...`, one run per process.

A separate process per run keeps each peak RSS its own, and lets the product run with exactly the
environment a deployment gives it (`PREFECT_API_URL` of a real server, `ECSYNC_DATABASE_URL`). The last
line printed is a JSON object that the driving benchmark reads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import peak_rss_mib

if TYPE_CHECKING:
    from connectors.base import Node
    from models.tables import Member

# ---------------------------------------------------------------------------------------------- profiling

GROUPS = (
    ("prefect", "/prefect/"),
    ("sqlalchemy+sqlite (sync-state DB)", "/sqlalchemy/"),
    ("sqlmodel", "/sqlmodel/"),
    ("pydantic", "/pydantic"),
    ("httpx/httpcore (HTTP client)", "/httpx/"),
    ("httpx/httpcore (HTTP client)", "/httpcore/"),
    ("anyio", "/anyio/"),
    ("asyncio (event loop)", "/asyncio/"),
    ("ecsync: sync/ (planner)", "/sync/"),
    ("ecsync: connectors/", "/connectors/"),
    ("ecsync: models/", "/models/"),
    ("ecsync: flows/ + tasks/", "/flows/"),
    ("ecsync: flows/ + tasks/", "/tasks/"),
    ("bench", "/bench/"),
    ("json", "/json/"),
    ("logging", "/logging/"),
)


INHERIT = {"builtins / C (I/O, hashing, syscalls)", "python stdlib (other)"}


def _group(file_path: str | None) -> str:
    path = (file_path or "").replace("\\", "/")
    for name, marker in GROUPS:
        if marker in path:
            return name
    if "site-packages" in path:
        return "other libraries: " + path.split("site-packages/", 1)[1].split("/", 1)[0]
    if path.startswith("<") or not path:
        return "builtins / C (I/O, hashing, syscalls)"
    return "python stdlib (other)"


def profile_summary(session: Any, top: int = 12) -> list[dict[str, Any]]:
    """Self time per library group over the whole call tree: where the seconds go, in a dozen lines.

    Time spent in C functions (reads, writes, hashing, sqlite3) is charged to the Python frame that
    called them, which is the layer that chose to do that work.
    """
    root = session.root_frame()
    if root is None:
        return []
    totals: Counter[str] = Counter()
    stack: list[tuple[Any, str]] = [(root, _group(root.file_path))]
    while stack:
        frame, parent_group = stack.pop()
        name = str(getattr(frame, "function", "") or "")
        if name == "[await]":
            group = "waiting in await (I/O, network, server, sleeps)"
        elif name.startswith("[") or _group(frame.file_path) in INHERIT:
            group = parent_group  # [self], C-function and generic stdlib time belong to the layer that called them
        else:
            group = _group(frame.file_path)
        stack.extend((child, group) for child in frame.children)
        own = frame.time - sum(child.time for child in frame.children)
        if own > 0:
            totals[group] += own
    whole = sum(totals.values()) or 1.0
    return [
        {"group": name, "seconds": round(seconds, 3), "share": round(seconds / whole, 3)}
        for name, seconds in totals.most_common(top)
    ]


async def timed(call: Callable[[], Awaitable[Any]], profile_to: str | None) -> tuple[float, Any, list[dict[str, Any]]]:
    """Wall time of one awaited call, optionally under pyinstrument (async mode), with its summary."""
    profiler: Any = None
    if profile_to:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002, async_mode="enabled")
        profiler.start()
    started = time.perf_counter()
    result = await call()
    seconds = time.perf_counter() - started
    summary: list[dict[str, Any]] = []
    if profiler is not None:
        profiler.stop()
        Path(profile_to).write_text(profiler.output_text(unicode=False, color=False, show_all=False))
        summary = profile_summary(profiler.last_session)
    return seconds, result, summary


# ---------------------------------------------------------------------------------------------- local folders


class ByteCounter:
    """Bytes and files read through `download`, across both repositories of a run."""

    def __init__(self) -> None:
        self.bytes = 0
        self.files = 0


def counting_local(root: str, label: str, counter: ByteCounter) -> Any:
    """A LocalRepository that counts what `download` reads: proof that a quiet run re-reads nothing."""
    from connectors.local import LocalRepository

    class CountingLocalRepository(LocalRepository):
        async def download(self, node_id: str) -> AsyncIterator[bytes]:
            counter.files += 1
            async for chunk in super().download(node_id):
                counter.bytes += len(chunk)
                yield chunk

    return CountingLocalRepository(root, label=label)


def create_local_sync_set(database_url: str, slug: str, a_root: str, b_root: str, folder: str, a_node: Any = None) -> None:
    """The sync set and its direct member row, as `flows/sync_to_cloud.py` writes them after validation.

    `sync-to-cloud` itself wants Alfresco site paths, so for two plain folders the rows are made here:
    `a_root/folder` is the synced item, `b_root` the target folder it is copied into.
    """
    from connectors.local import LocalRepository
    from models import store
    from models.tables import SyncSet
    from vocabulary import SyncSetState

    a = LocalRepository(a_root, label="onprem")
    b = LocalRepository(b_root, label="cloud")
    node = a_node or asyncio.run(a.get_by_path(folder))
    sync_set = SyncSet(
        slug=slug,
        owner="bench",
        onprem_connection="local-a",
        cloud_connection="local-b",
        kind="folder",
        items=[folder],
        target_network="local",
        target_site="local",
        target_folder_id=b.root_id,
        target_folder_path="",
        state=SyncSetState.ACTIVE.value,
    )
    store.create_sync_set(database_url, sync_set, [node])


def paired_member(sync_set_id: int, rel_path: str, onprem: Node, cloud: Node) -> Member:
    """The member row a first sync leaves for a node and its copy: both bases recorded, synced, hashes unknown."""
    from flows.recording import base_fields, synced_fields
    from models.tables import Member
    from vocabulary import MemberKind

    return Member(
        sync_set_id=sync_set_id,
        kind=MemberKind.of(onprem.is_folder).value,
        direct=False,
        rel_path=rel_path,
        **base_fields("onprem", onprem, None),
        **base_fields("cloud", cloud, None),
        **synced_fields("seed"),
    )


async def seed_local_members(database_url: str, slug: str, a_root: str, b_root: str, folder: str) -> int:
    """Member rows for a tree already present on both sides (b_root/folder a copy of a_root/folder, mtimes kept).

    This is the state a first sync leaves (both bases recorded, every member synced), built without the
    first sync so that the reconcile benchmark reaches 100k members in seconds instead of an hour. Hashes
    are left unknown, as for a member whose base was recorded without moving bytes. A no-change run that
    then does nothing is the check that the rows are right.
    """
    from connectors.local import LocalRepository
    from flows.recording import base_fields, synced_fields
    from models import store

    a = LocalRepository(a_root, label="onprem")
    b = LocalRepository(b_root, label="cloud")
    a_node = await a.get_by_path(folder)
    create_local_sync_set(database_url, slug, a_root, b_root, folder, a_node)
    b_node = await b.get_by_path(folder)
    sync_set = store.get_sync_set(database_url, slug)
    assert sync_set is not None and sync_set.id is not None
    with store.session_scope(database_url) as session:
        direct = store.members_of(database_url, sync_set.id)[0]
        direct_values = {**base_fields("onprem", a_node, None), **base_fields("cloud", b_node, None), **synced_fields("seed")}
        for key, value in direct_values.items():
            setattr(direct, key, value)
        session.add(direct)
    rows: list[Member] = []
    level = [("", a_node.id, b_node.id)]
    while level:
        next_level = []
        for rel, a_id, b_id in level:
            a_children = [n async for page in a.list_children(a_id, page_size=1000) for n in page]
            b_children = {n.name: n async for page in b.list_children(b_id, page_size=1000) for n in page}
            for child in a_children:
                twin = b_children[child.name]
                child_rel = f"{rel}/{child.name}" if rel else child.name
                rows.append(paired_member(sync_set.id, child_rel, child, twin))
                if child.is_folder:
                    next_level.append((child_rel, child.id, twin.id))
        level = next_level
    with store.session_scope(database_url) as session:
        session.add_all(rows)
    return len(rows) + 1


async def seed_emulator_members(database_url: str, slug: str, onprem_url: str, cloud_url: str) -> int:
    """Member rows for a tree written into both emulators' stores directly (`bench.incremental.bulk_tree`), below
    a sync set that `sync-to-cloud` made of the then empty folder: the state a first sync of that tree leaves.

    Both trees are read over HTTP through `AlfrescoRepository` (no latency), so each base is the node exactly as
    the product reads it; hashes are left unknown, as in `seed_local_members`. The reconcile that follows (a full
    scan, nothing to do) is the check that the rows are right.
    """
    from connectors.alfresco import AlfrescoRepository
    from ecsync.processes import SYNC_ACCOUNTS
    from flows.recording import base_fields
    from models import store
    from models.tables import Member

    on, off = SYNC_ACCOUNTS["onprem"], SYNC_ACCOUNTS["cloud"]
    onprem = AlfrescoRepository(base_url=onprem_url, username=on.user, password=on.password, label="onprem", read_timeout=120)
    cloud = AlfrescoRepository(
        base_url=cloud_url, username=off.user, password=off.password, tenant="acme.com", label="cloud", read_timeout=120
    )
    sync_set = store.get_sync_set(database_url, slug)
    assert sync_set is not None and sync_set.id is not None
    direct = store.members_of(database_url, sync_set.id)[0]
    assert direct.onprem_id and direct.cloud_id, "the sync set's folder was not copied by sync-to-cloud"

    async def listing(repository: AlfrescoRepository, folder_id: str) -> list[Node]:
        return [n async for page in repository.list_children(folder_id, page_size=1000) for n in page]

    try:
        a_root, b_root = await onprem.get(direct.onprem_id), await cloud.get(direct.cloud_id)
        with store.session_scope(database_url) as session:
            row = session.get(Member, direct.id)
            assert row is not None
            for key, value in {**base_fields("onprem", a_root, None), **base_fields("cloud", b_root, None)}.items():
                setattr(row, key, value)
            session.add(row)
        rows: list[Member] = []
        level = [("", a_root.id, b_root.id)]
        while level:
            next_level = []
            for start in range(0, len(level), 8):
                batch = level[start : start + 8]
                listings = await asyncio.gather(
                    *(asyncio.gather(listing(onprem, a_id), listing(cloud, b_id)) for _rel, a_id, b_id in batch)
                )
                for (rel, _a_id, _b_id), (a_children, b_list) in zip(batch, listings, strict=True):
                    b_children = {n.name: n for n in b_list}
                    for child in a_children:
                        twin = b_children[child.name]
                        child_rel = f"{rel}/{child.name}" if rel else child.name
                        rows.append(paired_member(sync_set.id, child_rel, child, twin))
                        if child.is_folder:
                            next_level.append((child_rel, child.id, twin.id))
            level = next_level
    finally:
        await onprem.aclose()
        await cloud.aclose()
    with store.session_scope(database_url) as session:
        session.add_all(rows)
    return len(rows) + 1


def save_blocks(onprem_url: str, cloud_url: str) -> None:
    """The connection blocks of tests/flows/conftest.py, on the benchmark's server."""
    from connectors.blocks import AlfrescoConnection
    from ecsync.processes import SYNC_ACCOUNTS

    onprem, cloud = SYNC_ACCOUNTS["onprem"], SYNC_ACCOUNTS["cloud"]
    AlfrescoConnection(
        base_url=onprem_url, username=onprem.user, password=onprem.password, tenant="-default-", read_timeout=120
    ).save("onprem", overwrite=True)
    AlfrescoConnection(
        base_url=cloud_url, username=cloud.user, password=cloud.password, tenant="acme.com", read_timeout=120
    ).save("cloud", overwrite=True)


async def run_local(args: argparse.Namespace) -> dict[str, Any]:
    """One `run_sync_set` of a local sync set inside a flow run on the real server; bytes read counted."""
    from prefect import flow

    from flows.common import final_state
    from flows.engine import run_sync_set
    from models import store
    from tasks.connections import set_repository_opener

    counter = ByteCounter()
    roots = {"local-a": args.a, "local-b": args.b}
    set_repository_opener(lambda connection, label, tenant: counting_local(roots[connection], label, counter))
    database_url = os.environ["ECSYNC_DATABASE_URL"]

    results: list[Any] = []

    @flow(name="bench-local-reconcile", flow_run_name=f"bench-{args.slug}")
    async def bench_local_reconcile() -> Any:
        results.append(await run_sync_set(database_url, args.slug))
        # Only the state, as the product's flows return: Prefect walks a flow's return value for futures, and
        # walking a RunResult (every outcome, the whole plan) cost seconds that no product run pays.
        return final_state(results[-1])

    async def call() -> Any:
        return await bench_local_reconcile(return_state=True)

    seconds, state, summary = await timed(call, args.profile)
    result = results[-1]
    sync_set = store.get_sync_set(database_url, args.slug)
    assert sync_set is not None and sync_set.id is not None
    # Counted in SQL: loading 100k members as objects here would put their memory into this process's peak RSS.
    members = store.member_summary(database_url, sync_set.id, limit=0).total
    kinds = Counter(o.action for o in result.outcomes if o.outcome == "done")
    return {
        "seconds": seconds,
        "rss_peak_mib": peak_rss_mib(),
        "bytes_read": counter.bytes,
        "files_read": counter.files,
        "members": members,
        "actions_done": sum(kinds.values()),
        "actions": dict(kinds),
        "failed": sum(1 for o in result.outcomes if o.outcome == "failed"),
        "state": state.type.value,
        "message": state.message,
        "profile": summary,
    }


# ---------------------------------------------------------------------------------------------- emulators


async def emulator_stats(url: str, reset: bool = False) -> dict[str, int]:
    """Requests per route the emulator has answered (DELETE resets); the proof of "same HTTP calls"."""
    import httpx

    async with httpx.AsyncClient(timeout=30) as client:
        response = await (client.delete if reset else client.get)(f"{url}/_emulator/stats")
        response.raise_for_status()
        return dict(response.json()["routes"])


async def run_sync_to_cloud(args: argparse.Namespace) -> dict[str, Any]:
    """`sync-to-cloud` of one on-prem folder into a cloud folder, on the real server with connection blocks."""
    from flows.sync_to_cloud import sync_to_cloud

    destination = {"network": "acme.com", "site": "partners", "folder": args.target}

    async def call() -> Any:
        return await sync_to_cloud(items=[args.item], destination=destination, slug=args.slug, return_state=True)

    seconds, state, summary = await timed(call, args.profile)
    return {
        "seconds": seconds,
        "rss_peak_mib": peak_rss_mib(),
        "state": state.type.value,
        "message": state.message,
        "profile": summary,
    }


async def run_reconcile(args: argparse.Namespace) -> dict[str, Any]:
    """`reconcile` of one sync set (emulators), with content GETs counted by the on-prem/cloud emulators."""
    from flows.reconcile import reconcile

    if args.warm_up:
        # What any earlier flow run of this process has paid already: imports, Prefect's client and flow engine,
        # the sync-state database's engine. A reconcile of no sync set is refused after exactly that.
        import connectors.alfresco
        import connectors.blocks  # noqa: F401

        await reconcile(slug=f"{args.slug}-warm-up", return_state=True)

    async def call() -> Any:
        return await reconcile(slug=args.slug, return_state=True)

    seconds, state, summary = await timed(call, args.profile)
    import flows

    return {
        "seconds": seconds,
        "rss_peak_mib": peak_rss_mib(),
        "state": state.type.value,
        "message": state.message,
        "profile": summary,
        "code": str(Path(flows.__file__).resolve().parents[1]),
    }


async def run_baseline(args: argparse.Namespace) -> dict[str, Any]:
    """The same HTTP calls as `sync-to-cloud` of a folder, with the same concurrency, and nothing else:
    no Prefect, no database, no planner. `AlfrescoRepository` directly: who-am-I, get the item, list the
    on-prem tree breadth-first (scan concurrency), list the target, create each folder once its parent
    exists and stream every file (download piped into upload, transfer concurrency)."""
    from connectors.alfresco import AlfrescoRepository
    from ecsync.processes import SYNC_ACCOUNTS
    from flows.settings import get_settings
    from tasks.scan import gather_bounded
    from tasks.streaming import HashingStream

    settings = get_settings()
    on, off = SYNC_ACCOUNTS["onprem"], SYNC_ACCOUNTS["cloud"]
    onprem = AlfrescoRepository(base_url=args.onprem_url, username=on.user, password=on.password, label="onprem", read_timeout=60)
    cloud = AlfrescoRepository(
        base_url=args.cloud_url, username=off.user, password=off.password, tenant="acme.com", label="cloud", read_timeout=60
    )

    async def listing(repository: AlfrescoRepository, folder_id: str) -> list[Node]:
        found: list[Node] = []
        async for page in repository.list_children(folder_id):
            found.extend(page)
        return found

    async def call() -> int:
        await onprem.whoami()
        item = await onprem.get_by_path(args.item)
        target = await cloud.get_by_path(f"site:partners/{args.target}")
        await onprem.get(item.id)
        nodes: dict[str, Node] = {item.id: item}
        level = [item.id]
        while level:
            listings = await gather_bounded((listing(onprem, folder) for folder in level), settings.scan_concurrency)
            level = []
            for found in listings:
                assert isinstance(found, list), found
                for node in found:
                    nodes[node.id] = node
                    if node.is_folder:
                        level.append(node.id)
        await listing(cloud, target.id)
        made: dict[str, asyncio.Future[str]] = {item.parent_id or "": asyncio.get_running_loop().create_future()}
        made[item.parent_id or ""].set_result(target.id)
        for node_id, node in nodes.items():
            if node.is_folder:
                made[node_id] = asyncio.get_running_loop().create_future()
        semaphore = asyncio.Semaphore(settings.transfer_concurrency)

        async def carry(node: Node) -> None:
            parent = await made[node.parent_id or ""]
            async with semaphore:
                if node.is_folder:
                    created = await cloud.create_folder(parent, node.name)
                    made[node.id].set_result(created.id)
                else:
                    stream = HashingStream(onprem.download(node.id))
                    await cloud.upload(parent, node.name, stream, mime_type=node.mime_type)

        results = await asyncio.gather(*(carry(node) for node in nodes.values()), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        return len(nodes)

    try:
        seconds, count, summary = await timed(call, args.profile)
    finally:
        await onprem.aclose()
        await cloud.aclose()
    return {"seconds": seconds, "rss_peak_mib": peak_rss_mib(), "nodes": count, "state": "COMPLETED", "profile": summary}


# ---------------------------------------------------------------------------------------------- entry


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench _measure")
    parser.add_argument(
        "kind",
        choices=("local-setup", "local-seed", "emulator-seed", "blocks", "local-run", "sync-to-cloud", "reconcile", "baseline"),
    )
    parser.add_argument("--a")
    parser.add_argument("--b")
    parser.add_argument("--folder", default="tree")
    parser.add_argument("--slug", default="bench")
    parser.add_argument("--item")
    parser.add_argument("--target")
    parser.add_argument("--onprem-url")
    parser.add_argument("--cloud-url")
    parser.add_argument("--profile", help="write a pyinstrument text profile here")
    parser.add_argument("--warm-up", action="store_true", help="reconcile: one refused flow run first, not measured")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse(argv)
    runners: dict[str, Callable[[argparse.Namespace], Awaitable[dict[str, Any]]]] = {
        "local-run": run_local,
        "sync-to-cloud": run_sync_to_cloud,
        "reconcile": run_reconcile,
        "baseline": run_baseline,
    }
    if args.kind == "local-setup":
        create_local_sync_set(os.environ["ECSYNC_DATABASE_URL"], args.slug, args.a, args.b, args.folder)
        print(json.dumps({"state": "COMPLETED"}))
        return
    if args.kind == "local-seed":
        url = os.environ["ECSYNC_DATABASE_URL"]
        count = asyncio.run(seed_local_members(url, args.slug, args.a, args.b, args.folder))
        print(json.dumps({"state": "COMPLETED", "members": count}))
        return
    if args.kind == "emulator-seed":
        url = os.environ["ECSYNC_DATABASE_URL"]
        count = asyncio.run(seed_emulator_members(url, args.slug, args.onprem_url, args.cloud_url))
        print(json.dumps({"state": "COMPLETED", "members": count}))
        return
    if args.kind == "blocks":
        save_blocks(args.onprem_url, args.cloud_url)
        print(json.dumps({"state": "COMPLETED"}))
        return
    result = asyncio.run(runners[args.kind](args))
    if args.kind != "baseline":
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=10)
    print(json.dumps(result, default=str))

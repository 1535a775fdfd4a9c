"""The folder recursion: one task run per chunk of a level's folders and side, driven breadth-first by the flow.

Recursing from the flow body (never from inside a task) keeps a bounded pool from deadlocking on tasks that
wait for their own children. Folders are listed in chunks (`scan-folders`, ~50 folders per task run) because
one task run per folder made Prefect's machinery most of a no-change run on a big tree; each folder is still
retried and reported on its own inside its chunk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE

from connectors.base import Node, Repository
from connectors.errors import RepositoryError
from sync.paths import shorten
from tasks.retry import RetryPolicy
from tasks.run_log import run_logger
from vocabulary import Side, side_label

T = TypeVar("T")


@task(name="scan-folders", cache_policy=NO_CACHE, persist_result=False, task_run_name="{label}")
async def scan_folders(
    repository: Repository,
    side: str,
    folders: list[str],
    label: str,
    *,
    concurrency: int,
    policy: RetryPolicy,
    paths: Sequence[str] | None = None,
) -> dict[str, list[Node] | RepositoryError]:
    """Every child of each of `folders` (one chunk of a level), all pages, as one task run.

    One task run per folder cost ~3-7 ms of Prefect machinery each, most of a no-change run on a big tree
    (bench/RESULTS.md); a chunk keeps a line per ~50 folders in the run history instead. Each folder is
    still its own unit: a transient failure is retried for that folder alone (`RetryPolicy.call`), and
    each retry shows as a WARNING line in this task run's logs (not as a task-run state: the task run itself
    does not retry, so the folders that succeeded are not listed again). A folder that still fails comes
    back as its `RepositoryError`, so the caller keeps it out of `complete` and the rest of the chunk counts.
    Reads only: no side effect, but NO_CACHE all the same, as a listing must never come from a cache.
    """
    log = run_logger()

    named = list(paths) if paths is not None else list(folders)

    async def listed(folder: str, path: str) -> list[Node]:
        async def once() -> list[Node]:
            children: list[Node] = []
            async for page in repository.list_children(folder):
                children.extend(page)
            return children

        return await policy.call(once, f"Listing {side} folder {path}", log=log)

    listings = await gather_bounded((listed(folder, path) for folder, path in zip(folders, named, strict=True)), concurrency)
    result: dict[str, list[Node] | RepositoryError] = {}
    for folder, listing in zip(folders, listings, strict=True):
        if isinstance(listing, BaseException) and not isinstance(listing, RepositoryError):
            raise listing
        result[folder] = listing
    return result


@dataclass
class TreeScan:
    """What one side looked like: every node seen, and which folders were listed to the end."""

    nodes: dict[str, Node] = field(default_factory=dict)
    complete: set[str] = field(default_factory=set)
    failed: dict[str, tuple[str, RepositoryError]] = field(default_factory=dict)
    """Folders that could not be listed: folder id -> (its path, the error)."""


async def gather_bounded(calls: Iterable[Awaitable[T]], limit: int) -> list[T | BaseException]:
    """Await calls with at most `limit` in flight; exceptions are returned, not raised."""
    semaphore = asyncio.Semaphore(limit)

    async def guarded(call: Awaitable[T]) -> T | BaseException:
        async with semaphore:
            try:
                return await call
            except Exception as exc:
                return exc

    return await asyncio.gather(*(guarded(call) for call in calls))


NO_RETRIES = RetryPolicy(retries=0, backoff_seconds=0)
SCAN_CHUNK = 50
"""Folders of one level listed per `scan-folders` task run."""


async def scan_tree(
    repository: Repository,
    side: Side,
    roots: Iterable[str],
    *,
    recursive: bool,
    concurrency: int,
    scan_task: Any = scan_folders,
    policy: RetryPolicy = NO_RETRIES,
    chunk: int = SCAN_CHUNK,
    root_paths: Mapping[str, str] | None = None,
) -> TreeScan:
    """Breadth-first listing below `roots`, one level at a time in chunks of `chunk` folders per task run.

    At most `concurrency` listings are in flight: as many chunks run at once as the limit allows, each with
    its share of it. A folder that fails stays out of `complete`. Task runs and log lines name folders by
    their path (`root_paths` names the roots; children's paths follow from their names).
    """
    result = TreeScan()
    level = sorted(set(roots))
    path = {root: (root_paths or {}).get(root, root) for root in level}
    while level:
        chunks = [level[start : start + chunk] for start in range(0, len(level), chunk)]
        parallel = max(1, min(len(chunks), concurrency))
        share = max(1, concurrency // parallel)
        answers = await gather_bounded(
            (
                scan_task(
                    repository,
                    side,
                    part,
                    scan_label(side, [path[folder] for folder in part]),
                    concurrency=share,
                    policy=policy,
                    paths=[path[folder] for folder in part],
                )
                for part in chunks
            ),
            parallel,
        )
        next_level: list[str] = []
        next_path: dict[str, str] = {}
        for part, answer in zip(chunks, answers, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, RepositoryError):
                    raise answer
                answer = dict.fromkeys(part, answer)
            for folder in part:
                listing = answer[folder]
                if isinstance(listing, RepositoryError):
                    result.failed[folder] = (path[folder], listing)
                    continue
                result.complete.add(folder)
                for node in listing:
                    result.nodes[node.id] = node
                    if node.is_folder and recursive:
                        next_level.append(node.id)
                        next_path[node.id] = f"{path[folder]}/{node.name}"
        level, path = next_level, next_path
    return result


def scan_label(side: Side, paths: Sequence[str]) -> str:
    """A `scan-folders` task-run name: the side and the folders' paths (`scan on-prem: Specs/Drafts and 49 more`)."""
    more = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
    return f"scan {side_label(side)}: {shorten(paths[0], 160)}{more}"

"""The folder recursion: one retryable task per folder and side, driven breadth-first by the flow.

Recursing from the flow body (never from inside a task) keeps a bounded pool from deadlocking on tasks that
wait for their own children, and gives each folder its own line in the run history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE

from connectors.base import Node, Repository
from connectors.errors import RepositoryError

T = TypeVar("T")


@task(name="scan-folder", cache_policy=NO_CACHE, persist_result=False, task_run_name="scan-{side}-{folder_id}")
async def scan_folder(repository: Repository, side: str, folder_id: str) -> list[Node]:
    """Every child of one folder, all pages."""
    children: list[Node] = []
    async for page in repository.list_children(folder_id):
        children.extend(page)
    return children


@dataclass
class TreeScan:
    """What one side looked like: every node seen, and which folders were listed to the end."""

    nodes: dict[str, Node] = field(default_factory=dict)
    complete: set[str] = field(default_factory=set)
    failed: dict[str, RepositoryError] = field(default_factory=dict)


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


async def scan_tree(
    repository: Repository,
    side: str,
    roots: Iterable[str],
    *,
    recursive: bool,
    concurrency: int,
    scan_task: Any = scan_folder,
) -> TreeScan:
    """Breadth-first listing below `roots`; a folder that fails stays out of `complete`."""
    result = TreeScan()
    level = sorted(set(roots))
    while level:
        listings = await gather_bounded((scan_task(repository, side, folder) for folder in level), concurrency)
        next_level: list[str] = []
        for folder, listing in zip(level, listings, strict=True):
            if isinstance(listing, BaseException):
                if isinstance(listing, RepositoryError):
                    result.failed[folder] = listing
                    continue
                raise listing
            result.complete.add(folder)
            for node in listing:
                result.nodes[node.id] = node
                if node.is_folder and recursive:
                    next_level.append(node.id)
        level = next_level
    return result

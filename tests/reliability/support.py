"""Helpers shared by the reliability tests: snapshots of both trees, the exact-match check, run history.

A snapshot is `{relative path: bytes (a file) or None (a folder)}`. Comparing both sides' snapshots with
the model the test kept of every edit is what proves "nothing lost, nothing duplicated": a lost edit is a
wrong value or a missing path, a duplicate is an extra path ("name-1.txt", a second copy).
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags, TaskRunFilter, TaskRunFilterFlowRunId

from ecsync.processes import Child
from flows.reconcile import reconcile
from models import store
from tests.flows.conftest import Api

Tree = dict[str, bytes | None]


async def snapshot(api: Api, root_id: str) -> Tree:
    """Every node below `root_id`, by relative path, with its bytes."""
    nodes = await api.tree(root_id)
    return {path: (None if node["isFolder"] else await api.content(node["id"])) for path, node in sorted(nodes.items())}


async def cloud_root(cloud_api: Api, target_id: str, name: str) -> dict[str, Any]:
    return next(n for n in await cloud_api.children(target_id) if n["name"] == name)


def diff(expected: Tree, actual: Tree) -> str:
    """A readable difference: missing, extra and changed paths."""
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    changed = sorted(p for p in set(expected) & set(actual) if expected[p] != actual[p])
    return f"missing={missing} extra={extra} changed={changed}"


async def assert_converged(onprem_api: Api, cloud_api: Api, onprem_root: str, cloud_root_id: str, expected: Tree) -> None:
    """Both trees equal the model byte for byte: every edit present, nothing lost, no extra copy."""
    onprem = await snapshot(onprem_api, onprem_root)
    cloud = await snapshot(cloud_api, cloud_root_id)
    assert onprem == expected, "on-prem: " + diff(expected, onprem)
    assert cloud == expected, "cloud: " + diff(expected, cloud)


def assert_clean_state(database_url: str, slug: str, *, locks: bool = False) -> None:
    """No stuck intent, no lease left behind, every member synced."""
    sync_set = store.get_sync_set(database_url, slug)
    assert sync_set is not None
    assert sync_set.lease_owner is None, f"lease left by {sync_set.lease_owner}"
    members = store.members_of(database_url, sync_set.id)
    stuck = [(m.id, m.intent) for m in members if m.intent is not None]
    assert not stuck, f"stuck intents: {stuck}"
    unsynced = [(m.id, m.rel_path, m.status, m.error_code) for m in members if m.status != "synced"]
    assert not unsynced, f"members not synced: {unsynced}"
    if not locks:
        assert not any(m.locked_by_sync for m in members)


async def reconcile_until_quiet(slug: str, *, rounds: int = 6, force: bool = False) -> list[str]:
    """Reconcile until a run completes with nothing done; returns each run's message (bounded in rounds)."""
    messages: list[str] = []
    for _ in range(rounds):
        state = await reconcile(slug=slug, force=force, return_state=True)
        messages.append(f"{state.type.value}: {state.message}")
        if state.is_completed() and " 0 actions done" in (state.message or ""):
            return messages
    raise AssertionError(f"still not quiet after {rounds} reconciles: {messages}")


async def drain_events(timeout: float = 300) -> None:
    """Send every task-run state event this process still holds: on a loaded machine thousands can be queued,
    and the server's history (where retries show) only has what it was sent."""
    from prefect.events.worker import EventsWorker

    await asyncio.to_thread(EventsWorker.drain_all, timeout)


async def retry_states(slug: str, *, at_least: int, polls: int = 80) -> int:
    """AwaitingRetry/Retrying task-run states in the history of a sync set's runs (polled: history lags)."""
    seen = 0
    await drain_events()
    async with get_client() as client:
        for _ in range(polls):
            runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"sync-set:{slug}"])))
            seen = 0
            for run in runs:
                offset = 0
                while True:
                    task_runs = await client.read_task_runs(
                        task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run.id])), offset=offset, limit=200
                    )
                    for task_run in task_runs:
                        if task_run.run_count > 1 or (task_run.state and task_run.state.name in ("AwaitingRetry", "Retrying")):
                            states = await client.read_task_run_states(task_run.id)
                            seen += sum(1 for s in states if s.name in ("AwaitingRetry", "Retrying"))
                    if len(task_runs) < 200:
                        break
                    offset += 200
            if seen >= at_least:
                return seen
            await asyncio.sleep(0.5)
    return seen


def unique(prefix: str = "r") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Restartable:
    """A child process that a test stops and starts again with the same data and port."""

    start: Callable[[], Child]
    child: Child

    async def restart(self, *, kill: bool = False, down_until: asyncio.Task[Any] | None = None, down_for: float = 1.0) -> None:
        """Stop it, then start it again on the same port with the same data.

        The stop runs in a thread so the run under test keeps going and meets the outage. `kill` is a crash
        (SIGKILL: requests in flight are cut, a create may be committed with its answer lost) rather than a
        graceful stop; `down_until` keeps it down until that task (the run) has ended, longer than any retry;
        `down_for` keeps it down that many seconds.
        """
        if kill:
            os.killpg(self.child.process.pid, signal.SIGKILL)
            await asyncio.to_thread(self.child.process.wait, 10)
        else:
            await asyncio.to_thread(self.child.stop)
        if down_until is not None:
            await asyncio.wait({down_until}, timeout=120)
        else:
            await asyncio.sleep(down_for)  # down for a while: the run's requests now fail to connect
        self.child = await asyncio.to_thread(self.start)

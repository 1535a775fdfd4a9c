"""The batcher (`tasks.batching.Batcher`): few large batches when busy, each result handed back as it ends."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from connectors.base import Node
from sync.model import Action, ActionKind
from tasks.batching import BATCH_SIZE, Batcher, Report


def _action(n: int) -> Action:
    return Action(ActionKind.CREATE_FOLDER, "cloud", f"m{n}", "test", name=f"f{n}")


def _node(action: Action) -> Node:
    return Node(id=f"id-{action.name}", name=action.name or "", parent_id="p", is_folder=True)


class Recorder:
    """A batch function: records each batch, carries each action out (after `delay`), reports each result."""

    def __init__(self, delay: float = 0.0, fail: set[str] | None = None) -> None:
        self.batches: list[list[str]] = []
        self.delay = delay
        self.fail = fail or set()

    async def __call__(self, actions: Sequence[Action], label: str, report: Report) -> list[Node | Exception | None]:
        self.batches.append([a.name or "" for a in actions])
        results: list[Node | Exception | None] = []
        for index, action in enumerate(actions):
            await asyncio.sleep(self.delay)
            result: Node | Exception = RuntimeError(action.name) if action.name in self.fail else _node(action)
            report(index, result)
            results.append(result)
        return results


async def test_actions_ready_together_share_one_batch_of_at_most_batch_size() -> None:
    call = Recorder()
    batcher = Batcher(call, slot_count=4, describe=lambda a: a.name or "")
    nodes = await asyncio.gather(*(batcher.submit(_action(n)) for n in range(BATCH_SIZE + 20)))
    assert [n.name for n in nodes if n] == [f"f{n}" for n in range(BATCH_SIZE + 20)]
    assert [len(b) for b in call.batches] == [BATCH_SIZE, 20]
    assert batcher.batches == 2 and batcher.submitted == BATCH_SIZE + 20


async def test_a_single_action_starts_within_the_batch_wait() -> None:
    call = Recorder()
    batcher = Batcher(call, slot_count=4, describe=lambda a: a.name or "")
    node = await asyncio.wait_for(batcher.submit(_action(1)), timeout=5)
    assert node is not None and node.name == "f1"
    assert call.batches == [["f1"]]


async def test_each_result_is_handed_back_as_its_action_ends_not_when_the_batch_does() -> None:
    call = Recorder(delay=0.05)
    batcher = Batcher(call, slot_count=1, describe=lambda a: a.name or "")
    first = asyncio.ensure_future(batcher.submit(_action(0)))
    rest = [asyncio.ensure_future(batcher.submit(_action(n))) for n in range(1, 10)]
    await first
    assert not all(task.done() for task in rest), "the first action's result waited for the whole batch"
    await asyncio.gather(*rest)


async def test_actions_submitted_while_a_backlog_runs_gather_into_the_next_batch() -> None:
    call = Recorder(delay=0.01)
    batcher = Batcher(call, slot_count=1, describe=lambda a: a.name or "")
    first = [asyncio.ensure_future(batcher.submit(_action(n))) for n in range(10)]
    await asyncio.sleep(0.02)  # the first batch is running and holds more than 2 actions per slot
    later = [asyncio.ensure_future(batcher.submit(_action(n))) for n in range(10, 30)]
    await asyncio.gather(*first, *later)
    assert len(call.batches) < 30, "every late action made a batch of its own"
    assert sorted(name for batch in call.batches for name in batch) == sorted(f"f{n}" for n in range(30))


async def test_one_failure_comes_back_to_its_own_action_only() -> None:
    call = Recorder(fail={"f3"})
    batcher = Batcher(call, slot_count=4, describe=lambda a: a.name or "")
    results = await asyncio.gather(*(batcher.submit(_action(n)) for n in range(6)), return_exceptions=True)
    assert isinstance(results[3], RuntimeError)
    assert all(isinstance(r, Node) for i, r in enumerate(results) if i != 3)


async def test_a_batch_that_fails_as_a_whole_fails_each_of_its_actions() -> None:
    async def broken(actions: Sequence[Action], label: str, report: Report) -> list[Node | Exception | None]:
        raise ConnectionError("the task run itself failed")

    batcher = Batcher(broken, slot_count=4, describe=lambda a: a.name or "")
    results = await asyncio.gather(*(batcher.submit(_action(n)) for n in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)


@pytest.mark.parametrize("count", [1, 7])
async def test_the_batch_label_names_its_size_and_first_action(count: int) -> None:
    labels: list[str] = []

    async def call(actions: Sequence[Action], label: str, report: Report) -> list[Node | Exception | None]:
        labels.append(label)
        return [_node(a) for a in actions]

    batcher = Batcher(call, slot_count=4, describe=lambda a: f"create-folder {a.name}")
    await asyncio.gather(*(batcher.submit(_action(n)) for n in range(count)))
    more = f" and {count - 1} more" if count > 1 else ""
    assert labels == [f"transfer-batch of {count}: create-folder f0{more}"]

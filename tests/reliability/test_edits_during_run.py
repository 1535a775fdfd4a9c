"""Edits made while a reconcile is moving things are not lost: the run leaves them, the next run carries them.

Emulator latency on one route holds the run at a known point (the source's content being read, the
destination's content being written, the destination being re-read before a delete) while the test edits
a file as a person would. Each case checks the state right after that run and after the next runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from flows.reconcile import reconcile
from tasks.transfer import DESTINATION_UPDATED
from tests.flows.conftest import Api, make_pair
from tests.reliability.support import assert_clean_state, assert_converged, cloud_root, reconcile_until_quiet

HOLD_MS = 1500
"""Long enough for the test to make its edit while the run waits; the test waits on the request, not on time."""


def hold(method: str, path: str) -> dict[str, Any]:
    return {"seed": 1, "rules": [{"method": method, "path": path, "kind": "latency", "latency_ms": HOLD_MS, "rate": 1.0}]}


async def held_requests(api: Api) -> int:
    root = api.base.split("/alfresco/api/")[0]
    config = (await api.client.get(f"{root}/_emulator/faults")).json()
    return sum(rule["matched"] for rule in config["rules"])


async def during_run(slug: str, api: Api, fault: dict[str, Any], edit: Any) -> Any:
    """Run a reconcile with `fault` on `api`'s emulator; once a request hits it, make `edit`; the run's state."""
    await api.faults(fault)
    try:
        run = asyncio.create_task(reconcile(slug=slug, return_state=True))
        for _ in range(600):  # bounded: 60 s of polling
            if await held_requests(api) >= 1 or run.done():
                break
            await asyncio.sleep(0.1)
        assert not run.done(), f"the run ended before reaching the held request: {run.result().message}"
        await edit()
        state = await run
    finally:
        await api.faults(None)
    return state


async def version_contents(api: Api, node_id: str) -> list[bytes]:
    contents = []
    for version in await api.versions(node_id):
        response = await api.client.get(f"{api.base}/nodes/{node_id}/versions/{version['id']}/content")
        response.raise_for_status()
        contents.append(response.content)
    return contents


async def test_edits_during_a_run_are_carried_by_the_next_run(connections, database_url, onprem_api, cloud_api):
    layout = {"a.txt": b"a0", "b.txt": b"b0", "c.txt": b"c0", "e.txt": b"e0"}
    pair = await make_pair(onprem_api, cloud_api, layout)
    state = await pair.push()
    assert state.is_completed(), state.message
    root = await cloud_root(cloud_api, pair.cloud_target["id"], pair.name)
    cloud = {path: node["id"] for path, node in (await cloud_api.tree(root["id"])).items()}
    onprem = {path: node["id"] for path, node in pair.files.items()}
    expected: dict[str, bytes | None] = dict(layout)

    # A: pushing an on-prem edit; the cloud copy is edited while the on-prem bytes are being read.
    await onprem_api.put_content(onprem["a.txt"], b"a1 on-prem")
    state = await during_run(
        pair.name, onprem_api, hold("GET", "/content$"), lambda: cloud_api.put_content(cloud["a.txt"], b"a2 cloud")
    )
    assert state.is_completed(), state.message
    assert await cloud_api.content(cloud["a.txt"]) == b"a2 cloud", "the run overwrote an edit made during it"
    assert DESTINATION_UPDATED in (state.message or ""), state.message

    # B: the on-prem source is edited after its bytes were read, while the cloud copy is being written.
    await onprem_api.put_content(onprem["b.txt"], b"b1")
    state = await during_run(
        pair.name, cloud_api, hold("PUT", "/content$"), lambda: onprem_api.put_content(onprem["b.txt"], b"b2 later")
    )
    assert state.is_completed(), state.message
    assert await cloud_api.content(cloud["b.txt"]) == b"b1", "the run moved the bytes it read"
    assert DESTINATION_UPDATED not in (state.message or ""), state.message

    # C: pulling a cloud edit; the on-prem copy is edited while the cloud bytes are being read.
    await cloud_api.put_content(cloud["c.txt"], b"c1 cloud")
    state = await during_run(
        pair.name, cloud_api, hold("GET", "/content$"), lambda: onprem_api.put_content(onprem["c.txt"], b"c2 on-prem")
    )
    assert state.is_completed(), state.message
    assert await onprem_api.content(onprem["c.txt"]) == b"c2 on-prem", "the run overwrote an edit made during it"
    assert DESTINATION_UPDATED in (state.message or ""), state.message

    # D: deleted on-prem; the cloud copy is edited while the run re-reads it before deleting it.
    await onprem_api.delete(onprem["e.txt"])
    state = await during_run(
        pair.name, cloud_api, hold("GET", f"/nodes/{cloud['e.txt']}$"), lambda: cloud_api.put_content(cloud["e.txt"], b"e1 cloud")
    )
    assert state.is_completed(), state.message
    assert await cloud_api.content(cloud["e.txt"]) == b"e1 cloud", "the run deleted a copy edited during it"
    assert DESTINATION_UPDATED in (state.message or ""), state.message

    messages = await reconcile_until_quiet(pair.name)
    assert any("conflict" in m.lower() or "actions done" in m for m in messages), messages
    # A and C were edited on both sides: a conflict, cloud-wins; the on-prem bytes stay in its version history.
    expected["a.txt"] = b"a2 cloud"
    expected["c.txt"] = b"c1 cloud"
    # B: the later edit is a change the next run pushes. E: the change wins over the delete (re-created on-prem).
    expected["b.txt"] = b"b2 later"
    expected["e.txt"] = b"e1 cloud"
    await assert_converged(onprem_api, cloud_api, pair.onprem_folder["id"], root["id"], expected)
    assert b"a1 on-prem" in await version_contents(onprem_api, onprem["a.txt"])
    assert b"c2 on-prem" in await version_contents(onprem_api, onprem["c.txt"])
    assert_clean_state(database_url, pair.name)

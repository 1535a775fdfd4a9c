"""What a person reads on a run's page in the Prefect UI, read back from the Prefect API (SPEC "Runs and their
states"): the run's state and message, its task runs' names, states and messages, and its log lines.

- every item is named by its path in the sync set, never by an internal key;
- each item that failed is a Failed task run named after its action and path, carrying the error code and
  the technical report (a name clash: which node holds the name, where, and who made it);
- a parked failure fails only the run that hit it: later runs complete and name the items that wait.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterTags,
    LogFilter,
    LogFilterFlowRunId,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect.client.schemas.sorting import FlowRunSort

from flows.reconcile import reconcile
from flows.sync_to_cloud import sync_to_cloud
from tests.flows.conftest import make_pair

INTERNAL_KEY = re.compile(r"\bm\d+\b|new-(onprem|cloud):|conflict:m\d")


async def latest_run_id(slug: str) -> UUID:
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"sync-set:{slug}"])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
    return runs[0].id


async def task_runs_of(run_id: UUID, until: Any = None) -> list[Any]:
    """The run's task runs once recorded (the server records them from events, a little later: poll)."""
    task_runs: list[Any] = []
    async with get_client() as client:
        for _ in range(120):
            task_runs = await client.read_task_runs(
                task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run_id]))
            )
            finished = all(t.state is not None and t.state.is_final() for t in task_runs)
            if task_runs and finished and (until is None or until(task_runs)):
                return task_runs
            await asyncio.sleep(0.5)
    return task_runs


async def log_lines_of(run_id: UUID, until: Any) -> list[str]:
    lines: list[str] = []
    async with get_client() as client:
        for _ in range(120):
            logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
            lines = [log.message for log in logs]
            if until(lines):
                return lines
            await asyncio.sleep(0.5)
    return lines


async def test_a_failed_item_is_a_red_task_run_named_by_path_with_its_code_and_report_and_only_that_run_fails(
    connections, database_url, onprem_api, cloud_api
):
    pair = await make_pair(onprem_api, cloud_api, {"ok.txt": b"fine", "Sub": None, "Sub/big.bin": b"x" * 4096})
    root = cloud_api.base.split("/alfresco/api/")[0]
    limited = await cloud_api.client.put(f"{root}/_emulator/networks/acme.com", json={"sizeLimit": 1024})
    assert limited.status_code == 200, limited.text
    try:
        state = await pair.push()
        assert state.is_failed()
        item = f"{pair.name}/Sub/big.bin"
        assert state.message == f"1 of 4 items not synced: {item} CONTENT_LIMIT_VIOLATION"

        run_id = await latest_run_id(pair.name)
        label = f"upload → cloud: {item}"
        task_runs = await task_runs_of(run_id, until=lambda runs: any(t.name == label for t in runs))
        by_name = {t.name: t for t in task_runs}
        failed = [t for t in task_runs if t.state.is_failed()]
        assert [t.name for t in failed] == [label], sorted(by_name)
        message = failed[0].state.message or ""
        assert "CONTENT_LIMIT_VIOLATION" in message and "status 413" in message and "/_emulator" not in message, message
        batches = [t for t in task_runs if t.name.startswith("transfer-batch") and label in (t.state.message or "")]
        assert batches and batches[0].state.is_completed(), "the batch says which of its actions went on, and where"
        assert "went on to a task run of their own" in (batches[0].state.message or "")
        assert f"scan on-prem: {pair.name}" in by_name, sorted(by_name)
        assert f"scan cloud: Shared/{pair.name} (destination folder)" in by_name, sorted(by_name)
        assert not [name for name in by_name if INTERNAL_KEY.search(name)], sorted(by_name)
        lines = await log_lines_of(run_id, until=lambda lines: any(item in line for line in lines))
        assert any(item in line and "CONTENT_LIMIT_VIOLATION" in line for line in lines), lines
        assert not [line for line in lines if INTERNAL_KEY.search(line)], [line for line in lines if INTERNAL_KEY.search(line)]

        later = await reconcile(slug=pair.name, return_state=True)
        assert later.is_completed(), later.message
        assert later.message.endswith(f"3 of 4 items synced; 1 item waits for attention: {item} CONTENT_LIMIT_VIOLATION")
        later_runs = await task_runs_of(await latest_run_id(pair.name))
        assert not [t.name for t in later_runs if t.state.is_failed()], "a parked item is not attempted again"
    finally:
        await cloud_api.client.put(f"{root}/_emulator/networks/acme.com", json={"sizeLimit": -1})


async def test_a_planned_name_clash_is_a_red_task_run_naming_the_node_that_holds_the_name(
    connections, database_url, onprem_api, cloud_api
):
    pair = await make_pair(onprem_api, cloud_api, {"a.txt": b"a", "b.txt": b"b"})
    stranger = await cloud_api.upload(pair.cloud_target["id"], "B.txt", b"someone else's file")
    items = [pair.files[name]["id"] for name in ("a.txt", "b.txt")]
    state = await sync_to_cloud(items=items, destination=pair.destination, slug=pair.name, return_state=True)
    assert state.is_failed()
    assert state.message == "1 of 2 items not synced: b.txt TARGET_FOLDER_NAME_CLASH"
    run_id = await latest_run_id(pair.name)
    task_runs = await task_runs_of(run_id, until=lambda runs: any(t.state.is_failed() for t in runs))
    failed = [t for t in task_runs if t.state.is_failed()]
    assert [t.name for t in failed] == ["not synced: b.txt"]
    message = failed[0].state.message or ""
    assert "TARGET_FOLDER_NAME_CLASH" in message, message
    assert "cloud already has a file named 'B.txt' in the destination folder" in message, message
    assert f"node {stranger['id']}" in message and f"made by {stranger['createdByUser']['id']}" in message, message


async def artifacts_of(run_id: UUID, until: Any) -> list[Any]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    found: list[Any] = []
    async with get_client() as client:
        for _ in range(120):
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
            )
            if until(found):
                return found
            await asyncio.sleep(0.5)
    return found


URL = re.compile(r"https?://[^\s)\]|\"'<>]+")


async def test_every_link_the_product_emits_opens_its_item_on_the_cloud_pages(connections, database_url, onprem_api, cloud_api):
    """SPEC "View in Cloud": the sync set's link opens the synced root's own copy (never the bare destination),
    and each item's link in the run's table opens that item's copy; every address the run wrote opens."""
    pair = await make_pair(onprem_api, cloud_api, {"a.txt": b"a", "Sub": None, "Sub/b.txt": b"b"})
    state = await pair.push()
    assert state.is_completed(), state.message
    root_copy = next(n for n in await cloud_api.children(pair.cloud_target["id"]) if n["name"] == pair.name)
    copies = {path: node["id"] for path, node in (await cloud_api.tree(root_copy["id"])).items()}
    run_id = await latest_run_id(pair.name)
    keys = {f"view-in-cloud-{pair.name}", f"sync-info-{pair.name}"}
    artifacts = await artifacts_of(
        run_id, until=lambda found: {a.key for a in found} >= keys and any(a.type == "table" for a in found)
    )
    link = next(a for a in artifacts if a.key == f"view-in-cloud-{pair.name}")  # Prefect keeps a link as markdown
    [sync_set_link] = URL.findall(link.data)
    assert root_copy["id"] in sync_set_link and pair.cloud_target["id"] not in sync_set_link, sync_set_link
    table = next(a for a in artifacts if a.type == "table")
    rows = table.data if isinstance(table.data, list) else __import__("json").loads(table.data)
    by_item = {row["item"]: row["view in cloud"] for row in rows if row.get("view in cloud")}
    assert by_item[f"{pair.name}/Sub/b.txt"].endswith(copies["Sub/b.txt"]), by_item
    assert by_item[f"{pair.name}/a.txt"].endswith(copies["a.txt"]), by_item
    markdown = next(a for a in artifacts if a.key == f"sync-info-{pair.name}").data
    addresses = {sync_set_link, *by_item.values(), *URL.findall(markdown)}
    names = {root_copy["id"]: pair.name, **{node_id: path.rpartition("/")[2] for path, node_id in copies.items()}}
    for address in sorted(addresses):
        page = await cloud_api.client.get(address)
        assert page.status_code == 200, f"{address} answers {page.status_code}"
        node_id = address.rsplit("/", 1)[-1]
        assert f"<title>{names[node_id]}</title>" in page.text, (address, page.text[:300])

"""The mass-delete guard on cloud deletes that would delete on-prem originals, and secrets kept out of everything."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
import uuid
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags, LogFilter, LogFilterFlowRunId

from flows.reconcile import reconcile
from flows.sync_to_cloud import sync_to_cloud
from tests.flows.conftest import make_pair
from tests.reliability.conftest import asave_connections, create_accounts
from tests.reliability.support import cloud_root, snapshot


async def test_cloud_mass_delete_is_stopped_until_forced(connections, database_url, onprem_api, cloud_api):
    layout = {f"m{i:02}.txt": f"mass {i}".encode() for i in range(30)}
    pair = await make_pair(onprem_api, cloud_api, layout)
    options = {"delete_on_premise": True}
    state = await sync_to_cloud(
        items=[pair.site_path], destination=pair.destination, slug=pair.name, options=options, return_state=True
    )
    assert state.is_completed(), state.message
    root = await cloud_root(cloud_api, pair.cloud_target["id"], pair.name)
    cloud = await cloud_api.tree(root["id"])
    doomed = sorted(cloud)[:18]  # 60%
    for path in doomed:
        await cloud_api.delete(cloud[path]["id"])
    onprem_before = await snapshot(onprem_api, pair.onprem_folder["id"])
    guarded = await reconcile(slug=pair.name, return_state=True)
    assert guarded.is_failed()
    assert "max_delete_percent" in guarded.message and "force" in guarded.message, guarded.message
    assert await snapshot(onprem_api, pair.onprem_folder["id"]) == onprem_before, "nothing deleted on-prem"
    forced = await reconcile(slug=pair.name, force=True, return_state=True)
    assert forced.is_completed(), forced.message
    left = await snapshot(onprem_api, pair.onprem_folder["id"])
    assert sorted(left) == sorted(set(layout) - set(doomed))
    assert left == await snapshot(cloud_api, root["id"])


def scan_bytes(label: str, data: bytes, needles: list[bytes]) -> list[str]:
    return [f"{label} holds {needle[:6]!r}..." for needle in needles if needle in data]


async def test_a_password_never_leaks(prefect_server, emulators, database_url, onprem_api, cloud_api):
    user, password = f"sync{uuid.uuid4().hex[:6]}", f"pw-{uuid.uuid4().hex}"
    await create_accounts(emulators, user, password, {"onprem": "SiteManager", "cloud": "SiteCollaborator"})
    names = await asave_connections(emulators, user=user, password=password, suffix="-secret")
    pair = await make_pair(onprem_api, cloud_api, {"s.txt": b"secret test", "sub": None, "sub/t.txt": b"t"})
    kwargs = {"onprem_connection": names["onprem"], "cloud_connection": names["cloud"]}
    state = await sync_to_cloud(items=[pair.site_path], destination=pair.destination, slug=pair.name, return_state=True, **kwargs)
    assert state.is_completed(), state.message
    root = await cloud_root(cloud_api, pair.cloud_target["id"], pair.name)
    await onprem_api.put_content(pair.files["s.txt"]["id"], b"changed")
    await onprem_api.upload(pair.onprem_folder["id"], "clash.txt", b"on-prem")
    await cloud_api.upload(root["id"], "clash.txt", b"cloud")  # a failure with a technical report
    await cloud_api.faults({"rules": [{"method": "PUT", "path": "/content$", "fail_next": 2, "status": 503}]})
    try:
        failed = await reconcile(slug=pair.name, return_state=True)
    finally:
        await cloud_api.faults(None)
    assert failed.is_failed() and "TARGET_FOLDER_NAME_CLASH" in failed.message
    wrong = await asave_connections(emulators, user=user, password=password + "-wrong", suffix="-secret-wrong")
    refused = await sync_to_cloud(
        items=[pair.site_path + "/sub"],
        destination=pair.destination,
        onprem_connection=wrong["onprem"],
        cloud_connection=wrong["cloud"],
        return_state=True,
    )
    assert refused.is_failed()

    needles = [password.encode(), base64.b64encode(f"{user}:{password}".encode())]
    hits: list[str] = []
    texts: list[str] = [failed.message or "", refused.message or "", state.message or ""]
    async with get_client() as client:
        await asyncio.sleep(2)
        runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"sync-set:{pair.name}"])))
        runs += await client.read_flow_runs(limit=50)
        for run in runs:
            for run_state in await client.read_flow_run_states(run.id):
                texts.append(run_state.message or "")
            offset = 0
            while True:
                logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])), offset=offset)
                texts += [log.message for log in logs]
                if len(logs) < 200:
                    break
                offset += len(logs)
            for task_run in await client.read_task_runs(limit=200):
                texts.append(task_run.state.message if task_run.state else "")
        for artifact in await client.read_artifacts(limit=200):
            texts.append(str(artifact.data) + str(artifact.description))
        api_block = await client.read_block_document_by_name(names["onprem"], "alfresco-connection", include_secrets=False)
        texts.append(str(api_block.data))  # what the API and the UI show of the block
    for text in texts:
        hits += scan_bytes(f"API text {text[:80]!r}", text.encode(), needles)
    assert len(texts) > 20, "the search really read run history"

    db_path = database_url.removeprefix("sqlite:///")
    with sqlite3.connect(db_path) as sync_db:
        hits += scan_bytes("sync database", "\n".join(sync_db.iterdump()).encode(), needles)
    home = Path(prefect_server.log_path).parent
    for path in home.glob("prefect.db*"):
        hits += scan_bytes(path.name, path.read_bytes(), needles)
    hits += scan_bytes("server log", Path(prefect_server.log_path).read_bytes(), needles)
    assert not hits, hits

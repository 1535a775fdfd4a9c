"""Names the cloud cannot take, names that differ only by case or Unicode form, very long names, a ticket
that expires mid-run: each fails its own member with a clear code, the rest syncs, nothing is overwritten.

The on-prem side of the first test is a folder on disk (a `LocalFolderConnection`): a file system accepts
`bad:name.txt`, `trailing.` and `a|b.txt`, which no Alfresco user could create.
"""

from __future__ import annotations

import asyncio
import base64
import unicodedata
import uuid
from pathlib import Path

import httpx

from connectors.blocks import LocalFolderConnection
from flows.reconcile import reconcile
from flows.sync_to_cloud import sync_to_cloud
from models import store
from tests.flows.conftest import make_pair
from tests.reliability.conftest import asave_connections, cloud_user, create_accounts
from tests.reliability.support import cloud_root, snapshot

LONGEST = "n" * 251 + ".txt"
"""255 characters: the longest name the Alfresco connector sends (and a Linux file system keeps)."""
NFC = unicodedata.normalize("NFC", "café.txt")
NFD = unicodedata.normalize("NFD", "café.txt")


async def cloud_files(api, root_id: str) -> dict[str, bytes | int]:
    """Name -> bytes; for a name the emulator cannot put in a Content-Disposition header (NFD's combining
    accent is not Latin-1: it answers 500, an emulator limit), the size it reports instead."""
    found: dict[str, bytes | int] = {}
    for child in await api.children(root_id):
        try:
            child["name"].encode("latin-1")
        except UnicodeEncodeError:
            found[child["name"]] = child["content"]["sizeInBytes"]
        else:
            found[child["name"]] = await api.content(child["id"])
    return found


def local_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


async def test_names_the_cloud_refuses_fail_alone(prefect_server, connections, database_url, onprem_api, cloud_api, tmp_path):
    share = tmp_path / "share"  # items name a local folder by its node id, "<st_dev>:<st_ino>"
    docs = share / "docs"
    docs.mkdir(parents=True)
    files = {
        "good.txt": b"good",
        "bad:name.txt": b"colon",
        "trailing.": b"dot",
        "a|b.txt": b"pipe",
        LONGEST: b"long",
        "Case.txt": b"upper",
        NFC: b"composed",
        NFD: b"decomposed",
        "ß.txt": b"eszett",
        "SS.txt": b"double s",
    }
    for name, data in files.items():
        (docs / name).write_bytes(data)
    (docs / "case.txt").write_bytes(b"lower")  # written last: the first of the two case variants wins the name
    before = local_tree(share)
    block = f"local-{uuid.uuid4().hex[:8]}"
    await LocalFolderConnection(root=str(share)).asave(block)
    pair = await make_pair(onprem_api, cloud_api, {})

    state = await sync_to_cloud(
        items=[f"{docs.stat().st_dev}:{docs.stat().st_ino}"],
        destination=pair.destination,
        slug=pair.name,
        onprem_connection=block,
        return_state=True,
    )
    assert state.is_failed(), state.message
    root = await cloud_root(cloud_api, pair.cloud_target["id"], "docs")
    cloud = await cloud_files(cloud_api, root["id"])
    assert cloud["good.txt"] == b"good" and cloud[LONGEST] == b"long"
    # Alfresco compares names case-insensitively but does not normalise Unicode: NFC and NFD are two names.
    assert cloud[NFC] == b"composed" and cloud[NFD] == len(b"decomposed")
    # Alfresco lower-cases (ChildAssocEntity.getChildNameUnique), it does not case-fold: `ß.txt` and `SS.txt` are
    # two names (issue 17 item 7; a case-folding planner failed both as a clash).
    assert cloud["ß.txt"] == b"eszett" and cloud["SS.txt"] == b"double s"
    # The planner sees two on-prem names that are one name to Alfresco and syncs neither (it cannot know which
    # one the user means); each fails TARGET_FOLDER_NAME_CLASH and nothing is overwritten.
    case_variants = {name: data for name, data in cloud.items() if name.casefold() == "case.txt"}
    assert len(case_variants) <= 1, case_variants
    for kept, data in case_variants.items():
        assert data == files.get(kept, b"lower"), "a copy that got the name carries its own bytes"
    assert not {"bad:name.txt", "trailing.", "a|b.txt"} & set(cloud)

    sync_set = store.get_sync_set(database_url, pair.name)
    failed = {m.rel_path.rpartition("/")[2]: m for m in store.members_of(database_url, sync_set.id) if m.status != "synced"}
    losers = {"Case.txt", "case.txt"} - set(case_variants)
    assert set(failed) == {"bad:name.txt", "trailing.", "a|b.txt", *losers}, sorted(failed)
    for name in ("bad:name.txt", "trailing.", "a|b.txt"):
        assert failed[name].error_code == "NAME_NOT_ALLOWED"
        assert "is not allowed in Alfresco" in failed[name].error_report["brief_summary"], failed[name].error_report
    assert "docs/bad:name.txt NAME_NOT_ALLOWED" in state.message, state.message
    assert all(failed[loser].error_code == "TARGET_FOLDER_NAME_CLASH" for loser in losers)
    assert local_tree(share) == before, "nothing on the on-prem side changed"

    again = await reconcile(slug=pair.name, return_state=True)
    # Parked until a change or Request Sync (SPEC "Runs and their states"): this run completes and names them.
    assert again.is_completed() and " 0 actions done" in again.message, again.message
    assert "5 items wait for attention: " in again.message and "docs/a|b.txt NAME_NOT_ALLOWED" in again.message
    assert await cloud_files(cloud_api, root["id"]) == cloud, "a failed member is not retried into a duplicate"
    assert local_tree(share) == before


async def test_a_cloud_name_longer_than_255_characters_fails_alone(connections, database_url, onprem_api, cloud_api):
    pair = await make_pair(onprem_api, cloud_api, {"x.txt": b"x"})
    state = await pair.push()
    assert state.is_completed(), state.message
    root = await cloud_root(cloud_api, pair.cloud_target["id"], pair.name)
    too_long = "L" * 300 + ".txt"
    await cloud_api.upload(root["id"], too_long, b"too long for the connector")
    await cloud_api.upload(root["id"], LONGEST, b"just fits")
    state = await reconcile(slug=pair.name, return_state=True)
    assert state.is_failed() and "NAME_NOT_ALLOWED" in (state.message or ""), state.message
    onprem = await snapshot(onprem_api, pair.onprem_folder["id"])
    assert onprem == {"x.txt": b"x", LONGEST: b"just fits"}
    sync_set = store.get_sync_set(database_url, pair.name)
    failed = [m for m in store.members_of(database_url, sync_set.id) if m.status != "synced"]
    assert len(failed) == 1 and "300" not in failed[0].error_code
    assert "characters long (at most 255)" in failed[0].error_report["brief_summary"]


async def test_an_expired_ticket_is_renewed_once_then_reported(prefect_server, emulators, database_url, onprem_api, cloud_api):
    """The cloud ticket logged out mid-run: one new ticket and the run goes on. The password changed as well:
    the member fails AUTHENTICATION_ERROR with a clear message and nothing else changes."""
    from tasks import connections as connections_module

    user, password = f"tick{uuid.uuid4().hex[:6]}", f"pw-{uuid.uuid4().hex[:8]}"
    cloud_url = emulators["cloud"].url
    await create_accounts(emulators, user, password, {"onprem": "SiteManager", "cloud": "SiteCollaborator"})
    names = await asave_connections(emulators, user=user, password=password, suffix=f"-{user}")
    kwargs = {"onprem_connection": names["onprem"], "cloud_connection": names["cloud"]}
    pair = await make_pair(onprem_api, cloud_api, {"t1.txt": b"one", "t2.txt": b"two"})
    state = await sync_to_cloud(items=[pair.site_path], destination=pair.destination, slug=pair.name, return_state=True, **kwargs)
    assert state.is_completed(), state.message
    root = await cloud_root(cloud_api, pair.cloud_target["id"], pair.name)

    opened: dict[str, object] = {}

    async def opener(connection: str, label: str, tenant: str | None) -> object:
        """The blocks' own repositories, kept so the test can read the cloud side's ticket."""
        block = await connections_module._load_block(connection)
        if tenant is not None and hasattr(block, "tenant"):
            block = block.model_copy(update={"tenant": tenant})
        opened[label] = repository = block.repository(label)
        return repository

    async def log_out(new_password: str | None) -> None:
        ticket = opened["cloud"]._http._ticket  # type: ignore[attr-defined]
        assert ticket, "the run holds a cloud ticket by now"
        async with httpx.AsyncClient(timeout=10) as client:
            if new_password is not None:
                changed = await client.post(
                    f"{cloud_url}/_emulator/users",
                    json={"id": cloud_user(user), "password": new_password, "sites": {"partners": "SiteCollaborator"}},
                )
                assert changed.status_code == 201, changed.text
            gone = await client.delete(
                f"{cloud_url}/alfresco/api/acme.com/public/authentication/versions/1/tickets/-me-",
                headers={"Authorization": "Basic " + base64.b64encode(ticket.encode()).decode()},
            )
            assert gone.status_code == 204, gone.text

    async def run_with_logout(data: bytes, new_password: str | None) -> object:
        await onprem_api.put_content(pair.files["t1.txt"]["id"], data)
        await cloud_api.faults(
            {"seed": 2, "rules": [{"method": "PUT", "path": "/content$", "kind": "latency", "latency_ms": 800, "rate": 1.0}]}
        )
        connections_module.set_repository_opener(opener)
        try:
            run = asyncio.create_task(reconcile(slug=pair.name, return_state=True))
            for _ in range(600):
                if run.done() or await held(cloud_api):
                    break
                await asyncio.sleep(0.1)
            assert not run.done(), "the run ended before writing"
            await log_out(new_password)
            return await run
        finally:
            connections_module.set_repository_opener(None)
            await cloud_api.faults(None)

    state = await run_with_logout(b"after a lost ticket", None)
    assert state.is_completed(), state.message
    assert (await snapshot(cloud_api, root["id"]))["t1.txt"] == b"after a lost ticket"

    before = await snapshot(cloud_api, root["id"])
    state = await run_with_logout(b"after a password change", f"new-{password}")
    assert state.is_failed() and "AUTHENTICATION_ERROR" in (state.message or ""), state.message
    assert await snapshot(cloud_api, root["id"]) == before, "nothing changed in the cloud"
    sync_set = store.get_sync_set(database_url, pair.name)
    failed = [m for m in store.members_of(database_url, sync_set.id) if m.status != "synced"]
    assert [m.error_code for m in failed] == ["AUTHENTICATION_ERROR"], [(m.rel_path, m.error_code) for m in failed]
    assert failed[0].error_report["operation"] == "authenticate", failed[0].error_report  # the new ticket was refused


async def held(api) -> bool:
    root = api.base.split("/alfresco/api/")[0]
    config = (await api.client.get(f"{root}/_emulator/faults")).json()
    return sum(rule["matched"] for rule in config["rules"]) >= 1

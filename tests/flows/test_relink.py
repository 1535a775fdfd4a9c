"""Issue 17 item 9: the way back after losing the sync-state database (`sync-to-cloud` with `adopt_existing`)."""

from __future__ import annotations

import uuid
from pathlib import Path

from flows import settings as settings_module
from flows.reconcile import reconcile
from flows.sync_to_cloud import sync_to_cloud
from flows.unsync import unsync
from models import store
from tests.flows.conftest import Api, make_pair


def lose_the_database(monkeypatch, tmp_path: Path) -> str:
    """A new, empty sync-state database in place of the old one (as after a lost disk with no backup)."""
    url = f"sqlite:///{tmp_path / f'new-{uuid.uuid4().hex[:8]}.db'}"
    monkeypatch.setenv("ECSYNC_DATABASE_URL", url)
    settings_module.get_settings.cache_clear()
    return url


async def locked(api: Api, node_id: str) -> bool:
    return bool((await api.node(node_id, include="isLocked"))["isLocked"])


async def test_setup_again_with_adopt_existing_re_pairs_the_copies_and_adopts_the_locks(
    connections, database_url, emulators, onprem_api, cloud_api, monkeypatch, tmp_path
):
    layout = {"a.txt": b"a", "sub": None, "sub/b.txt": b"b", "c.txt": b"c", "theirs.txt": b"t"}
    pair = await make_pair(onprem_api, cloud_api, layout)
    alice = Api(emulators["onprem"].url, "-default-", "alice", "alice")
    try:
        await alice.lock(pair.files["theirs.txt"]["id"])  # someone else's lock: never the sync's, before or after
    finally:
        await alice.aclose()
    options = {"lock_on_premise": True}
    first = await sync_to_cloud(
        items=[pair.site_path], destination=pair.destination, slug=pair.name, options=options, return_state=True
    )
    assert first.is_completed(), first.message
    root = next(n for n in await cloud_api.children(pair.cloud_target["id"]) if n["name"] == pair.name)
    cloud_before = await cloud_api.tree(root["id"])

    # The database is lost. Setting the sync up again, as before, meets every copy as someone else's node.
    lose_the_database(monkeypatch, tmp_path)
    again = await sync_to_cloud(
        items=[pair.site_path], destination=pair.destination, slug=pair.name, options=options, return_state=True
    )
    assert again.is_failed() and "TARGET_FOLDER_NAME_CLASH" in again.message, again.message
    assert await cloud_api.tree(root["id"]) == cloud_before, "nothing duplicated, nothing overwritten"

    # Meanwhile both sides moved on: a new file on each side, and c.txt edited on-prem (no base says which is newer).
    url = lose_the_database(monkeypatch, tmp_path)
    await onprem_api.upload(pair.onprem_folder["id"], "new.txt", b"made on-prem")
    await cloud_api.upload(root["id"], "cloud-only.txt", b"made in the cloud")
    await onprem_api.put_content(pair.files["c.txt"]["id"], b"c, edited on-prem")
    state = await sync_to_cloud(
        items=[pair.site_path],
        destination=pair.destination,
        slug=pair.name,
        options={**options, "adopt_existing": True},
        return_state=True,
    )
    message = state.message or ""
    assert state.is_failed(), message  # c.txt cannot be paired and fails as a name clash, as the report says
    name = pair.name
    assert "re-paired 5 existing cloud copies" in message, message  # the folder, sub, sub/b.txt, a.txt, theirs.txt
    assert "adopted 3 on-prem locks" in message, message  # a.txt and sub/b.txt, then new.txt's made by the first run
    assert f"{name}/c.txt: the cloud file of that name has other bytes" in message, message
    assert f"{name}/cloud-only.txt: only in the cloud" in message and f"{name}/new.txt: only on-prem" in message, message
    assert f"{name}/theirs.txt" not in message, "theirs.txt paired: same path, same bytes (its lock is alice's)"

    onprem_tree = await onprem_api.tree(pair.onprem_folder["id"])
    cloud_tree = await cloud_api.tree(root["id"])
    expected = ["a.txt", "c.txt", "cloud-only.txt", "new.txt", "sub", "sub/b.txt", "theirs.txt"]
    assert sorted(onprem_tree) == sorted(cloud_tree) == expected, "no copy twice, nothing renamed aside"
    for path in ("a.txt", "sub", "sub/b.txt", "theirs.txt"):
        assert cloud_tree[path]["id"] == cloud_before[path]["id"], f"{path}: the existing copy was re-paired"
    assert await cloud_api.content(cloud_tree["c.txt"]["id"]) == b"c", "a difference is never overwritten"
    assert await onprem_api.content(onprem_tree["c.txt"]["id"]) == b"c, edited on-prem"
    sync_set = store.get_sync_set(url, pair.name)
    by_path = {m.rel_path: m for m in store.members_of(url, sync_set.id)}
    assert by_path["a.txt"].status == by_path["sub/b.txt"].status == "synced"
    assert by_path["c.txt"].error_code == "TARGET_FOLDER_NAME_CLASH"

    # The locks the sync holds are known as the sync's again: unsync releases them, and only them.
    done = await unsync(slug=pair.name, return_state=True)
    assert done.is_completed(), done.message
    onprem_tree = await onprem_api.tree(pair.onprem_folder["id"])
    still = sorted(path for path, node in onprem_tree.items() if node.get("isLocked"))
    assert still == ["theirs.txt"], f"only alice's lock is left: {still}"


async def test_adopt_existing_on_an_untouched_destination_moves_nothing(
    connections, database_url, onprem_api, cloud_api, monkeypatch, tmp_path
):
    """After the re-pairing, the first run and the next reconcile have nothing to move: the bases are whole."""
    pair = await make_pair(onprem_api, cloud_api, {"a.txt": b"a", "sub": None, "sub/b.txt": b"b"})
    first = await pair.push()
    assert first.is_completed(), first.message
    url = lose_the_database(monkeypatch, tmp_path)
    state = await sync_to_cloud(
        items=[pair.site_path],
        destination=pair.destination,
        slug=pair.name,
        options={"adopt_existing": True},
        return_state=True,
    )
    assert state.is_completed(), state.message
    assert "re-paired 4 existing cloud copies" in state.message and "not paired" not in state.message, state.message
    assert "0 actions done" in state.message, state.message
    sync_set = store.get_sync_set(url, pair.name)
    assert {m.status for m in store.members_of(url, sync_set.id)} == {"synced"}
    again = await reconcile(slug=pair.name, return_state=True)
    assert again.is_completed() and "0 actions done" in again.message, again.message


async def test_relink_sets_up_again_from_prefect_history_what_the_database_lost(
    connections, database_url, onprem_api, cloud_api, monkeypatch, tmp_path
):
    """`ecsync relink`: the setups are found in Prefect's run history (their parameters), not typed again; an
    unsynced set is not brought back; running it a second time finds nothing to do."""
    from flows.relink import relink, setups_to_relink

    kept = await make_pair(onprem_api, cloud_api, {"a.txt": b"a", "sub": None, "sub/b.txt": b"b"})
    gone = await make_pair(onprem_api, cloud_api, {"x.txt": b"x"})
    for pair in (kept, gone):
        state = await sync_to_cloud(
            items=[pair.site_path],
            destination=pair.destination,
            slug=pair.name,
            options={"lock_on_premise": True},
            return_state=True,
        )
        assert state.is_completed(), state.message
    done = await unsync(slug=gone.name, return_state=True)
    assert done.is_completed(), done.message

    url = lose_the_database(monkeypatch, tmp_path)
    slugs = [kept.name, gone.name]  # the shared test server's history has other tests' sets too
    assert [s.slug for s in await setups_to_relink(url, slugs)] == [kept.name]
    outcomes = await relink(url, slugs)
    assert [(setup.slug, outcome.split(":")[0]) for setup, outcome in outcomes] == [(kept.name, "COMPLETED")], outcomes
    assert "re-paired 4 existing cloud copies" in outcomes[0][1] and "adopted 2 on-prem locks" in outcomes[0][1]
    sync_set = store.get_sync_set(url, kept.name)
    assert sync_set.lock_on_premise, "the options of the original setup came back with it"
    assert {m.status for m in store.members_of(url, sync_set.id)} == {"synced"}
    assert store.get_sync_set(url, gone.name) is None
    assert await relink(url, slugs) == [], "nothing left to relink"
    assert not await locked(onprem_api, gone.files["x.txt"]["id"])

"""The way back after losing the sync-state database (issue 17 item 9): re-pair the copies that are there.

Without its database the product has no base: every cloud copy looks like someone else's node of the same name,
so setting the sync up again failed each item TARGET_FOLDER_NAME_CLASH, and the on-prem locks the sync had placed
were no longer known as the sync's, so no unsync would ever release them.

`sync-to-cloud` with `adopt_existing` set runs the same setup as the first time (every refusal still applies),
then, before its first run, walks the on-prem items and the destination side by side and pairs each on-prem node
with the cloud node at the same path when they match: two folders, or two files with the same bytes (SHA-256 of
both downloads; Alfresco keeps no hash). A pair is recorded as synced, with both nodes as its base, exactly as a
run records one, so the first run after it has nothing to move for it. An on-prem file locked by the sync's own
on-prem account is recorded as locked by the sync, so unsync releases it; a lock anyone else holds is never taken.

What does not pair is reported by path with the reason, and left to the first run, which treats it as it treats
any node without a base, moving nothing over a difference (as Unison does after losing its archives: the union of
both sides, never an overwrite):

- only on-prem: copied to the cloud;
- only in the cloud: copied on-prem (a file deleted on-prem while the database was lost comes back: nothing lost);
- the same path with different bytes, or a file on one side and a folder on the other: neither is touched, the
  on-prem item fails TARGET_FOLDER_NAME_CLASH naming the cloud node, until someone renames one of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from connectors.base import Node, Repository
from flows.recording import base_fields, synced_fields
from models.db import session_scope
from models.tables import Member
from sync.names import name_key
from tasks.streaming import hash_stream
from vocabulary import CLOUD, ONPREM, MemberKind


@dataclass
class Adoption:
    """What re-pairing found: how many pairs and locks it took back, and what it could not pair, by path."""

    paired: int = 0
    locks: int = 0
    unpaired: list[tuple[str, str]] = field(default_factory=list)
    """(path in the sync set, why it was not paired and what the first run does with it)."""
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)
    """The member columns of each pair, written by `record_pairs` once the sync set exists."""
    locked_unpaired: list[str] = field(default_factory=list, repr=False)
    """On-prem files locked by the sync's account that did not pair: `adopt_remaining_locks` marks their members
    as locked by the sync once the first run has made them."""

    def summary(self, shown: int = 5) -> str:
        """One line for the run's state message and log."""
        text = f"re-paired {self.paired} existing cloud copies with their on-prem originals, adopted {self.locks} on-prem locks"
        if self.unpaired:
            named = "; ".join(f"{path}: {why}" for path, why in self.unpaired[:shown])
            more = f" and {len(self.unpaired) - shown} more" if len(self.unpaired) > shown else ""
            text += f"; {len(self.unpaired)} not paired: {named}{more}"
        return text


async def _children(repository: Repository, folder_id: str) -> list[Node]:
    found: list[Node] = []
    async for page in repository.list_children(folder_id):
        found.extend(page)
    return found


async def _sha256(repository: Repository, node_id: str) -> str:
    digest, _size = await hash_stream(repository.download(node_id))
    return digest


class _Adopter:
    def __init__(
        self,
        include_subfolders: bool,
        target_folder_id: str,
        onprem: Repository,
        cloud: Repository,
        account: str,
        run_id: str,
        concurrency: int,
    ) -> None:
        self.include_subfolders = include_subfolders
        self.target_folder_id = target_folder_id
        self.onprem = onprem
        self.cloud = cloud
        self.account = account
        self.run_id = run_id
        self.slots = asyncio.Semaphore(concurrency)
        self.result = Adoption()

    async def _limited(self, work: Awaitable[str]) -> str:
        async with self.slots:
            return await work

    def _pair(self, op: Node, cl: Node, rel_path: str, sha: str | None, direct: bool) -> None:
        locked = (not op.is_folder) and op.is_locked and op.lock_owner == self.account
        values: dict[str, Any] = {
            **base_fields(ONPREM, op, sha),
            **base_fields(CLOUD, cl, sha),
            **synced_fields(self.run_id),
            "kind": MemberKind.of(op.is_folder).value,
            "direct": direct,
            "rel_path": rel_path,
            "locked_by_sync": locked,
        }
        self.result.rows.append(values)
        self.result.paired += 1
        self.result.locks += int(locked)
        if locked:
            self.result.locked_unpaired.remove(op.id)

    async def _match(self, op: Node, cl: Node | None, path: str, rel_path: str, direct: bool) -> None:
        """Pair `op` with `cl` (the cloud node at the same path, if any) and go down a pair of folders."""
        if op.is_locked and op.lock_owner == self.account and not op.is_folder:
            self.result.locked_unpaired.append(op.id)  # taken back out below if it pairs
        if cl is None:
            self.result.unpaired.append((path, "only on-prem: the first run copies it to the cloud"))
            return
        if op.is_folder != cl.is_folder:
            self.result.unpaired.append(
                (path, "a file on one side and a folder on the other: neither is touched, it fails as a name clash")
            )
            return
        if not op.is_folder:
            op_sha, cl_sha = await asyncio.gather(
                self._limited(_sha256(self.onprem, op.id)), self._limited(_sha256(self.cloud, cl.id))
            )
            if op_sha != cl_sha:
                self.result.unpaired.append(
                    (path, "the cloud file of that name has other bytes: neither is touched, it fails as a name clash")
                )
                return
            self._pair(op, cl, rel_path, op_sha, direct)
            return
        self._pair(op, cl, rel_path, None, direct)
        await self._folder(op, cl, path, rel_path, top=direct)

    async def _folder(self, op_folder: Node, cl_folder: Node, path: str, rel_path: str, top: bool) -> None:
        op_children, cl_children = await asyncio.gather(_children(self.onprem, op_folder.id), _children(self.cloud, cl_folder.id))
        if not self.include_subfolders:
            op_children = [n for n in op_children if not n.is_folder] if top else []
            cl_children = [n for n in cl_children if not n.is_folder] if top else []
        cloud_by_name = {name_key(n.name): n for n in cl_children}
        taken: set[str] = set()
        work = []
        for child in op_children:
            match = cloud_by_name.get(name_key(child.name))
            if match is not None:
                taken.add(match.id)
            child_rel = f"{rel_path}/{child.name}" if rel_path else child.name
            work.append(self._match(child, match, f"{path}/{child.name}", child_rel, direct=False))
        await asyncio.gather(*work)
        for child in cl_children:
            if child.id not in taken:
                self.result.unpaired.append((f"{path}/{child.name}", "only in the cloud: the first run copies it on-prem"))

    async def run(self, direct: list[Node]) -> Adoption:
        target = {name_key(n.name): n for n in await _children(self.cloud, self.target_folder_id)}
        await asyncio.gather(*(self._match(node, target.get(name_key(node.name)), node.name, "", direct=True) for node in direct))
        self.result.unpaired.sort()
        return self.result


async def find_pairs(
    onprem: Repository,
    cloud: Repository,
    direct: list[Node],
    *,
    target_folder_id: str,
    include_subfolders: bool,
    account: str,
    run_id: str,
    concurrency: int = 4,
) -> Adoption:
    """Pair the on-prem items `direct` and everything below them with the cloud nodes at the same paths under
    `target_folder_id`. Read-only: it runs before the sync set exists, so a repository error refuses the setup
    with nothing changed."""
    adopter = _Adopter(include_subfolders, target_folder_id, onprem, cloud, account, run_id, concurrency)
    return await adopter.run(direct)


def record_pairs(url: str, sync_set_id: int, adoption: Adoption) -> None:
    """Every pair in one transaction: a direct member's row (made with the sync set) gets its base, the others
    are new rows. Called under the new set's lease, before its first run."""
    with session_scope(url) as session:
        direct = {m.onprem_id: m for m in session.exec(select(Member).where(Member.sync_set_id == sync_set_id)) if m.direct}
        for values in adoption.rows:
            row = direct.get(values["onprem_id"]) if values["direct"] else None
            if row is None:
                session.add(Member(sync_set_id=sync_set_id, **values))
                continue
            for column, value in values.items():
                setattr(row, column, value)
            session.add(row)


def adopt_remaining_locks(url: str, sync_set_id: int, adoption: Adoption) -> int:
    """After the first run: the members it made for on-prem files the sync's account had locked are marked as
    locked by the sync, so that unsync releases those locks too. Returns how many."""
    if not adoption.locked_unpaired:
        return 0
    with session_scope(url) as session:
        result = session.execute(
            update(Member)
            .where(col(Member.sync_set_id) == sync_set_id)
            .where(col(Member.onprem_id).in_(adoption.locked_unpaired))
            .values(locked_by_sync=True)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

"""Planning a run: the pure planner, plus the content hashes it asks for when sizes and versions cannot tell.

Alfresco has no content hash and moves `modifiedAt` on metadata edits too, so a file whose size matches its
base but whose `modifiedAt` moved may or may not have changed. The planner then asks for a COMPARE; the
bytes are hashed (a `compare` task run each) and the planner decides again with the hashes (Unison's
fastcheck followed by a checksum).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sync.model import ActionKind, BaseRecord, Observation, Options, Plan
from sync.planner import plan as make_plan
from tasks.scan import gather_bounded
from vocabulary import CLOUD, ONPREM, SIDES, Side

Hasher = Callable[[Side, str], Awaitable[str]]
"""(side, node id) -> SHA-256 of the node's content."""
MAX_ROUNDS = 3


async def plan_with_hashes(
    records: Sequence[BaseRecord],
    observations: dict[Side, Observation],
    *,
    target_folder_id: str,
    options: Options,
    now: Callable[[], Any],
    scope: int | None,
    hasher: Hasher,
    concurrency: int,
    log: Any,
    member_count: int | None = None,
) -> tuple[Plan, dict[Side, Observation]]:
    """The plan, after hashing whatever its COMPARE actions ask (at most `MAX_ROUNDS` rounds), and the
    observations with those hashes (the base recorded after the run keeps them: no second hashing)."""
    plan = _plan(records, observations, target_folder_id, options, now(), scope, member_count)
    for _round in range(MAX_ROUNDS - 1):
        if not plan.needs_compare:
            return plan, observations
        wanted: list[tuple[Side, str]] = []
        for action in plan.actions:
            if action.kind is ActionKind.COMPARE:
                for side in action.hash_sides:
                    ref = action.onprem if side == ONPREM else action.cloud
                    if ref is not None and ref.node_id:
                        wanted.append((side, ref.node_id))
        digests = await gather_bounded((hasher(side, node_id) for side, node_id in wanted), concurrency)
        hashes: dict[Side, dict[str, str]] = {side: dict(observations[side].sha256) for side in SIDES}
        for (side, node_id), digest in zip(wanted, digests, strict=True):
            if isinstance(digest, str):
                hashes[side][node_id] = digest
            else:
                log.warning("Could not hash %s node %s: %s", side, node_id, digest)
        observations = {side: Observation(observations[side].nodes, observations[side].listed, hashes[side]) for side in SIDES}
        plan = _plan(records, observations, target_folder_id, options, now(), scope, member_count)
    return plan, observations


def _plan(
    records: Sequence[BaseRecord],
    observations: dict[Side, Observation],
    target_folder_id: str,
    options: Options,
    now: Any,
    scope: int | None,
    member_count: int | None,
) -> Plan:
    return make_plan(
        records,
        observations[ONPREM],
        observations[CLOUD],
        target_folder_id=target_folder_id,
        options=options,
        now=now,
        scope=scope,
        member_count=member_count,
    )

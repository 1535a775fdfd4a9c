"""What both sides of a sync set look like now (Unison's update detection reads, the planner decides).

On-prem: each direct member's own node, then every folder below the direct folders, breadth first. Cloud:
the target folder's children (so a name clash there is seen), then every folder below the direct members'
copies. A folder that cannot be listed is left out of `listed`, so nothing under it is taken for deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from connectors.base import Node, Repository
from connectors.errors import NodeNotFoundError, RepositoryError
from models.store import MemberRow
from sync.model import Observation
from tasks.retry import RetryPolicy
from tasks.scan import TreeScan, gather_bounded, scan_tree
from vocabulary import CLOUD, ONPREM, MemberKind, Side


@dataclass(frozen=True, slots=True)
class SyncSetScan:
    onprem: Observation
    cloud: Observation


@dataclass
class Scanner:
    repositories: dict[Side, Repository]
    scan_task: Any
    policy: RetryPolicy
    concurrency: int
    log: Any

    async def scan(
        self, direct: Sequence[MemberRow], target_folder_id: str, include_subfolders: bool, target_name: str = ""
    ) -> SyncSetScan:
        onprem_nodes: dict[str, Node] = {}
        onprem_listed: set[str] = set()
        direct = [m for m in direct if m.onprem_id]
        onprem = self.repositories[ONPREM]
        fetched = await gather_bounded(
            (self.policy.call(partial(onprem.get, m.onprem_id), "Reading a direct member") for m in direct if m.onprem_id),
            self.concurrency,
        )
        for member, result in zip(direct, fetched, strict=True):
            if isinstance(result, NodeNotFoundError):
                if member.op_parent_id:
                    onprem_listed.add(member.op_parent_id)
                continue
            if isinstance(result, BaseException):
                if isinstance(result, RepositoryError):
                    self.log.warning("Could not read on-prem item %s: %s", member.op_name or member.onprem_id, result)
                    continue
                raise result
            onprem_nodes[result.id] = result
            for parent in (member.op_parent_id, result.parent_id):
                if parent:
                    onprem_listed.add(parent)
        onprem_roots = {node.id: node.name for node in onprem_nodes.values() if node.is_folder}
        onprem_scan = await self._tree(ONPREM, onprem_roots, include_subfolders)
        onprem_nodes.update(onprem_scan.nodes)
        onprem_listed |= onprem_scan.complete

        target_scan = await self._tree(CLOUD, {target_folder_id: f"{target_name or '/'} (destination folder)"}, False)
        cloud_nodes = dict(target_scan.nodes)
        cloud_listed = set(target_scan.complete)
        cloud_roots = {
            m.cloud_id: cloud_nodes[m.cloud_id].name
            for m in direct
            if m.kind == MemberKind.FOLDER and m.cloud_id and m.cloud_id in cloud_nodes
        }
        cloud_scan = await self._tree(CLOUD, cloud_roots, include_subfolders)
        cloud_nodes.update(cloud_scan.nodes)
        cloud_listed |= cloud_scan.complete
        for failed_scan in (onprem_scan, target_scan, cloud_scan):
            for path, error in failed_scan.failed.values():
                self.log.warning("Folder %s could not be listed; its content is left as it is this run: %s", path, error)
        return SyncSetScan(
            Observation(nodes=onprem_nodes, listed=frozenset(onprem_listed)),
            Observation(nodes=cloud_nodes, listed=frozenset(cloud_listed)),
        )

    async def _tree(self, side: Side, roots: dict[str, str], recursive: bool) -> TreeScan:
        """Everything below `roots` (folder id -> the path it is named by)."""
        if not roots:
            return TreeScan()
        return await scan_tree(
            self.repositories[side],
            side,
            list(roots),
            recursive=recursive,
            concurrency=self.concurrency,
            scan_task=self.scan_task,
            policy=self.policy,
            root_paths=roots,
        )

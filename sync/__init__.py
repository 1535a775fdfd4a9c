"""The sync planner: pure functions from (base, both sides' scans, options) to an ordered `Plan`.

Entry point: `plan(records, onprem, cloud, *, target_folder_id, options, now, scope=None) -> Plan`.

- `records`: one `BaseRecord` per member of the sync set (`base_from_member(row)` converts a
  `models.tables.Member`); each holds the pair of node ids and the base of each side (`SideBase`).
- `onprem`, `cloud`: `Observation(nodes, listed, sha256)`: the `Node`s seen under the synced roots (cloud:
  plus the target folder's children), the folders listed completely (an unseen member whose folder is
  not in `listed` is "unknown", never "deleted"), and content hashes already known.
- `target_folder_id`: the cloud folder where the direct members' copies live.
- `options`: `Options` (`options_from_sync_set(row, force=...)`); `now` stamps keep-both copy names;
  `scope`: a member id for Request Sync (its subtree only; clears "failed, waiting"; re-creates a
  deleted cloud copy).

The `Plan` holds `actions` (ordered; see `Action` and `ActionKind`), `conflicts` and how they were
settled, `skipped` members with the reason, `ignored` nodes (subfolders with include_subfolders off),
the delete `guard` verdict, and `fingerprints` to store with a failure. When `plan.needs_compare`, hash
what the COMPARE actions ask, put the hashes in `Observation.sha256` and plan again.

`metadata_digest(metadata)` is the digest stored as the base's `op_meta` / `cl_meta`.
"""

from sync.convert import base_from_member, options_from_sync_set
from sync.digest import fingerprint, metadata_digest
from sync.model import (
    CLOUD,
    ONPREM,
    OUTSIDE_KEY,
    TARGET_KEY,
    Action,
    ActionKind,
    BaseRecord,
    Conflict,
    DeleteGuard,
    Ignored,
    Observation,
    Options,
    Plan,
    Ref,
    SideBase,
    Skip,
)
from sync.planner import plan

__all__ = [
    "CLOUD",
    "ONPREM",
    "OUTSIDE_KEY",
    "TARGET_KEY",
    "Action",
    "ActionKind",
    "BaseRecord",
    "Conflict",
    "DeleteGuard",
    "Ignored",
    "Observation",
    "Options",
    "Plan",
    "Ref",
    "SideBase",
    "Skip",
    "base_from_member",
    "fingerprint",
    "metadata_digest",
    "options_from_sync_set",
    "plan",
]

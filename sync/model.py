"""The planner's inputs and outputs as plain slotted dataclasses.

Why not the SQLModel rows: a sync set of 100k members must plan within a few hundred MB, and a pure
planner must not need a database session. The flows convert rows with `sync.convert`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from connectors.base import Metadata, Node
from vocabulary import (
    CLOUD,
    ONPREM,
    OUTSIDE_KEY,
    SIDES,
    TARGET_KEY,
    ConflictPolicy,
    ErrorCode,
    MemberKind,
    MemberStatus,
    Side,
    member_key,
    new_key,
    other,
)

__all__ = ["CLOUD", "ONPREM", "OUTSIDE_KEY", "SIDES", "TARGET_KEY", "Side", "member_key", "new_key", "other"]


@dataclass(frozen=True, slots=True)
class Options:
    """The sync set's options that change what the planner decides (SPEC "Setting up a sync")."""

    include_subfolders: bool = True
    lock_on_premise: bool = False
    allow_cloud_delete: bool = True
    delete_on_premise: bool = False
    conflict_policy: ConflictPolicy = ConflictPolicy.CLOUD_WINS
    max_delete_percent: int = 50
    force: bool = False


@dataclass(frozen=True, slots=True)
class SideBase:
    """What one side's node looked like at the member's last successful sync."""

    node_id: str
    name: str | None = None
    parent_id: str | None = None
    size: int | None = None
    modified_at: datetime | None = None
    version: str | None = None
    sha256: str | None = None
    meta: str | None = None


@dataclass(frozen=True, slots=True)
class BaseRecord:
    """One member: the pair of node ids and the base of each side (None: that side has no node yet)."""

    member_id: int
    kind: MemberKind
    direct: bool = False
    onprem: SideBase | None = None
    cloud: SideBase | None = None
    status: MemberStatus = MemberStatus.SYNCED
    error_code: ErrorCode | None = None
    requested: bool = False
    locked_by_sync: bool = False
    failed_fingerprint: str | None = None
    """`sync.digest.fingerprint` of both nodes when the member failed; a failed member waits until it moves."""
    error_at: datetime | None = None

    @property
    def key(self) -> str:
        return member_key(self.member_id)

    def base(self, side: Side) -> SideBase | None:
        return self.onprem if side == ONPREM else self.cloud

    @property
    def is_folder(self) -> bool:
        return self.kind == MemberKind.FOLDER


@dataclass(frozen=True, slots=True)
class Observation:
    """What one side's scan saw.

    `nodes` holds every node seen under the synced roots, plus the children of the cloud target folder (so
    name clashes there are seen) and, on-prem, each direct member's own node. `listed` names the folders
    whose children were listed completely; a member whose base parent is not in it and that was not seen is
    "unknown", never "deleted". For an on-prem direct member (its parent is outside the tree) the flow adds
    the base parent id to `listed` once `get(id)` answered, found or 404. `sha256` holds content hashes the
    flow already knows (from a COMPARE or from a repository that has them), by node id.
    """

    nodes: Mapping[str, Node]
    listed: frozenset[str] = frozenset()
    sha256: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ref:
    """A node on one side: known by id, or the node an earlier action of this plan creates for `member`."""

    side: Side
    member: str
    node_id: str | None = None


class ActionKind(StrEnum):
    COMPARE = "compare"
    UNLOCK = "unlock"
    ENSURE_VERSIONABLE = "ensure-versionable"
    CONFLICT_COPY = "conflict-copy"
    CREATE_FOLDER = "create-folder"
    RENAME = "rename"
    MOVE = "move"
    UPLOAD = "upload"
    UPDATE_CONTENT = "update-content"
    UPDATE_METADATA = "update-metadata"
    DELETE = "delete"
    LOCK = "lock"
    MARK_FAILED = "mark-failed"
    RECORD_BASE = "record-base"
    DROP_MEMBER = "drop-member"


CREATES = frozenset({ActionKind.CREATE_FOLDER, ActionKind.UPLOAD, ActionKind.CONFLICT_COPY})


@dataclass(frozen=True, slots=True)
class Action:
    """One step for the propagator. Fields not used by a kind stay None.

    - side: the repository acted on (for RECORD_BASE / DROP_MEMBER / MARK_FAILED / COMPARE: the state).
    - member: key of the member concerned ("m<id>", or "new-<side>:<node id>" for a pair being born).
    - node: the node acted on (rename, move, update, delete, lock, unlock, versionable, conflict copy).
    - parent / name: where a created or moved node goes and its name.
    - source: the node on the other side whose content / metadata are copied.
    - onprem / cloud: for RECORD_BASE, MARK_FAILED, COMPARE: the pair's nodes.
    """

    kind: ActionKind
    side: Side
    member: str
    reason: str
    member_id: int | None = None
    node: Ref | None = None
    parent: Ref | None = None
    name: str | None = None
    source: Ref | None = None
    metadata: Metadata | None = None
    is_folder: bool | None = None
    onprem: Ref | None = None
    cloud: Ref | None = None
    error_code: ErrorCode | None = None
    new_member: str | None = None
    """CONFLICT_COPY: the key of the member the copy starts."""
    hash_sides: tuple[Side, ...] = ()
    """COMPARE: the sides whose content must be hashed."""
    direct: bool = False
    """RECORD_BASE: the member is direct (chosen by the user)."""


@dataclass(frozen=True, slots=True)
class Conflict:
    member: str
    aspects: tuple[str, ...]
    policy: ConflictPolicy
    winner: Side
    loser_kept_as: str
    """"version" (the overwritten bytes stay in the version history) or the conflict copy's name."""


@dataclass(frozen=True, slots=True)
class Skip:
    member: str
    reason: str
    parked: bool = False
    """A member an earlier failure parked (it waits for a change or Request Sync), not one this run left out."""


@dataclass(frozen=True, slots=True)
class Ignored:
    side: Side
    node_id: str
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class DeleteGuard:
    """The mass-delete verdict: `tripped` means no DELETE of this sync set is in the plan."""

    deletes: int
    members: int
    max_percent: int
    forced: bool
    tripped: bool
    message: str


@dataclass(slots=True)
class Plan:
    actions: list[Action]
    """In an order that always works when carried out one by one."""
    depends_on: list[tuple[int, ...]]
    """For each action, the positions of the earlier actions it must wait for (and nothing else): a member's
    own steps in sequence, a node's creation before what refers to it, the step that frees a name before the
    one that takes it in the same folder, children leaving a folder before its delete (`sync.order`)."""
    conflicts: list[Conflict]
    skipped: list[Skip]
    ignored: list[Ignored]
    guard: DeleteGuard
    fingerprints: dict[str, str]
    """Member key -> fingerprint of its nodes now; store it with a failure (see BaseRecord)."""

    @property
    def needs_compare(self) -> bool:
        """True: hash what the COMPARE actions ask, add the hashes to the observations, plan again."""
        return any(a.kind == ActionKind.COMPARE for a in self.actions)

    @property
    def is_empty(self) -> bool:
        return not self.actions

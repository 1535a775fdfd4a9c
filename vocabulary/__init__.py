"""The product's words, with no dependencies: sides, error codes, states, member keys and the intent record.

Everything else speaks these: the pure planner (`sync/`), the ORM columns (`models/`), the connectors'
errors, the flows and their parameters. Kept apart so that importing the planner loads no database library,
and so that no code compares raw strings such as `"synced"` or `"folder"`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, Literal, cast

Side = Literal["onprem", "cloud"]
"""Which repository: the on-prem one (system of record) or the cloud one."""

ONPREM: Side = "onprem"
CLOUD: Side = "cloud"
SIDES: tuple[Side, Side] = (ONPREM, CLOUD)


def other(side: Side) -> Side:
    return CLOUD if side == ONPREM else ONPREM


def side_label(side: Side) -> str:
    """How people name a side: "on-prem" or "cloud"."""
    return "on-prem" if side == ONPREM else "cloud"


class ErrorCode(StrEnum):
    """SPEC.md's error codes, as users read them in Sync Info and run summaries."""

    TARGET_FOLDER_NAME_CLASH = "TARGET_FOLDER_NAME_CLASH"
    TARGET_NODE_NO_LONGER_EXISTS = "TARGET_NODE_NO_LONGER_EXISTS"
    SOURCE_NODE_ACCESS_DENIED = "SOURCE_NODE_ACCESS_DENIED"
    TARGET_NODE_ACCESS_DENIED = "TARGET_NODE_ACCESS_DENIED"
    NODE_LOCKED = "NODE_LOCKED"
    CONTENT_LIMIT_VIOLATION = "CONTENT_LIMIT_VIOLATION"
    QUOTA_LIMIT_VIOLATION = "QUOTA_LIMIT_VIOLATION"
    AUTHENTICATION_ERROR = "AUTHENTICATION_ERROR"
    TRANSIENT = "TRANSIENT"
    NAME_NOT_ALLOWED = "NAME_NOT_ALLOWED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_temporary(self) -> bool:
        """The next scheduled run tries again (SPEC: NODE_LOCKED and TRANSIENT); the rest wait for a change."""
        return self in (ErrorCode.TRANSIENT, ErrorCode.NODE_LOCKED)


class SyncSetKind(StrEnum):
    FOLDER = "folder"
    FILE = "file"
    FILES = "files"


class SyncSetState(StrEnum):
    ACTIVE = "active"
    UNSYNCED = "unsynced"


class ConflictPolicy(StrEnum):
    CLOUD_WINS = "cloud-wins"
    ONPREM_WINS = "onprem-wins"
    NEWER_WINS = "newer-wins"
    KEEP_BOTH = "keep-both"


class MemberStatus(StrEnum):
    PENDING = "pending"
    SYNCED = "synced"
    FAILED = "failed"
    TEMPORARY_ERROR = "temporary-error"


FAILING_STATUSES = (MemberStatus.FAILED, MemberStatus.TEMPORARY_ERROR)


class MemberKind(StrEnum):
    FILE = "file"
    FOLDER = "folder"

    @classmethod
    def of(cls, is_folder: bool | None) -> MemberKind:
        return cls.FOLDER if is_folder else cls.FILE


# ---------------------------------------------------------------------------------------------- member keys
def member_key(member_id: int) -> str:
    """The planner's key of an existing member."""
    return f"m{member_id}"


def member_id_of(key: str) -> int | None:
    """The member id behind `member_key(id)`; None for any other key."""
    if not key.startswith("m"):
        return None
    try:
        return int(key[1:])
    except ValueError:
        return None


def new_key(side: Side, node_id: str) -> str:
    """The key of a member that does not exist yet, named after the node it starts from."""
    return f"new-{side}:{node_id}"


def parse_new_key(key: str) -> tuple[Side, str] | None:
    """(side, node id) of a `new_key`, else None."""
    if not key.startswith("new-"):
        return None
    side_name, _, node_id = key.removeprefix("new-").partition(":")
    return (ONPREM if side_name == ONPREM else CLOUD), node_id


TARGET_KEY = "target"
"""Member key used in refs to the sync set's cloud target folder."""
OUTSIDE_KEY = "outside"
"""Member key used in refs to an on-prem folder outside the synced tree (a direct member's parent)."""


# ---------------------------------------------------------------------------------------------- the intent
@dataclass(frozen=True, slots=True)
class Intent:
    """The side-effecting call in flight for a member, written (and committed) before the call is sent.

    A run killed during the call leaves it behind; the next run's recovery reads it: a create it finds done
    (`made_id`, or a node of `name` in `parent_id` whose bytes equal the source's) is adopted, anything
    else is cleared and planned again.
    """

    kind: str
    side: Side
    run: str
    parent_id: str | None = None
    name: str | None = None
    source_side: Side | None = None
    source_id: str | None = None
    made_id: str | None = None
    """The node a create made, once it answered: until the base pairs it, only the intent knows it is ours."""

    @property
    def is_create(self) -> bool:
        return self.kind in ("upload", "create-folder")

    @property
    def can_adopt(self) -> bool:
        """Enough is known to look for the node an interrupted create made."""
        return self.is_create and self.source_id is not None and self.parent_id is not None and self.name is not None

    def to_json(self) -> dict[str, Any]:
        # Every field is a plain string: read them directly (dataclasses.asdict deep-copies, and was a tenth of
        # the event loop's time in a local first sync, one intent per file).
        values = (self.kind, self.side, self.run, self.parent_id, self.name, self.source_side, self.source_id, self.made_id)
        return {key: value for key, value in zip(_INTENT_FIELDS, values, strict=True) if value is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Intent:
        side = cast(Side, data.get("side", ONPREM))
        source_side = data.get("source_side")
        return cls(
            kind=str(data.get("kind", "")),
            side=side,
            run=str(data.get("run", "")),
            parent_id=data.get("parent_id"),
            name=data.get("name"),
            source_side=cast(Side, source_side) if source_side else None,
            source_id=data.get("source_id"),
            made_id=data.get("made_id"),
        )

    def made(self, node_id: str) -> Intent:
        return Intent(self.kind, self.side, self.run, self.parent_id, self.name, self.source_side, self.source_id, node_id)


_INTENT_FIELDS = tuple(f.name for f in fields(Intent))

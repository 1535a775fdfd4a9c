"""Sync state tables and the database session."""

from models.db import engine_for, make_engine, session_scope
from models.tables import (
    ConflictPolicy,
    Member,
    MemberKind,
    MemberStatus,
    SyncSet,
    SyncSetKind,
    SyncSetState,
    utcnow,
)

__all__ = [
    "ConflictPolicy",
    "Member",
    "MemberKind",
    "MemberStatus",
    "SyncSet",
    "SyncSetKind",
    "SyncSetState",
    "engine_for",
    "make_engine",
    "session_scope",
    "utcnow",
]

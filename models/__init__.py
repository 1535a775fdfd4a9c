"""Sync state tables and the database session (the product's words are in `vocabulary`)."""

from models.db import engine_for, make_engine, session_scope
from models.tables import Member, SyncSet, utcnow

__all__ = ["Member", "SyncSet", "engine_for", "make_engine", "session_scope", "utcnow"]

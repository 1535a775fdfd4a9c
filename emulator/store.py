"""The emulator's state: one SQLite database (file or memory) plus a blob folder.

Only data access lives here; Alfresco's rules (names, permissions, locks) are in `rules.py` and the routes.
Lookups by parent and by (parent, lower-cased name) are indexed so that a folder listing or a name check
never scans the whole node table, which keeps the emulator usable with 100k nodes.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.blobs import Blobs
from emulator.clock import Clock

LIVE, ARCHIVED, ARCHIVED_WITH_PARENT = 0, 1, 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS networks(
  id TEXT PRIMARY KEY, is_enabled INT, subscription_level TEXT, storage_limit INT, size_limit INT,
  created_at INT, paid INT, root_id TEXT, sites_id TEXT, homes_id TEXT);
CREATE TABLE IF NOT EXISTS users(id TEXT PRIMARY KEY, password TEXT, first_name TEXT, last_name TEXT, email TEXT);
CREATE TABLE IF NOT EXISTS sites(
  tenant TEXT, id TEXT, guid TEXT, title TEXT, description TEXT, visibility TEXT, doclib_id TEXT,
  PRIMARY KEY(tenant, id));
CREATE TABLE IF NOT EXISTS site_members(
  tenant TEXT, site TEXT, user_id TEXT, role TEXT, PRIMARY KEY(tenant, site, user_id));
CREATE TABLE IF NOT EXISTS tickets(id TEXT PRIMARY KEY, user_id TEXT, created_at INT);
CREATE TABLE IF NOT EXISTS nodes(
  id TEXT PRIMARY KEY, tenant TEXT, parent_id TEXT, name TEXT, name_lc TEXT, node_type TEXT, is_folder INT,
  created_at INT, created_by TEXT, modified_at INT, modified_by TEXT, changed_at INT,
  mime_type TEXT, size INT, blob TEXT, encoding TEXT, aspects TEXT, props TEXT,
  lock_owner TEXT, lock_type TEXT, lock_lifetime TEXT, lock_expires INT,
  state INT DEFAULT 0, archived_at INT, archived_by TEXT, site_id TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS nodes_parent_name ON nodes(parent_id, name_lc) WHERE state = 0;
CREATE INDEX IF NOT EXISTS nodes_parent ON nodes(parent_id, state);
CREATE INDEX IF NOT EXISTS nodes_archived ON nodes(tenant, state, archived_at);
CREATE INDEX IF NOT EXISTS nodes_modified ON nodes(tenant, modified_at);
CREATE TABLE IF NOT EXISTS versions(
  node_id TEXT, seq INT, label TEXT, name TEXT, mime_type TEXT, size INT, blob TEXT, encoding TEXT,
  modified_at INT, modified_by TEXT, comment TEXT, PRIMARY KEY(node_id, seq));
"""


@dataclass
class Node:
    """One row of `nodes`, with its JSON columns decoded."""

    id: str
    tenant: str
    parent_id: str | None
    name: str
    node_type: str
    is_folder: bool
    created_at: int
    created_by: str
    modified_at: int
    modified_by: str
    changed_at: int
    mime_type: str | None = None
    size: int = 0
    blob: str | None = None
    encoding: str | None = None
    aspects: list[str] = field(default_factory=list)
    props: dict[str, Any] = field(default_factory=dict)
    lock_owner: str | None = None
    lock_type: str | None = None
    lock_lifetime: str | None = None
    lock_expires: int | None = None
    state: int = LIVE
    archived_at: int | None = None
    archived_by: str | None = None
    site_id: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Node:
        d = dict(row)
        d.pop("name_lc", None)
        d["is_folder"] = bool(d["is_folder"])
        d["aspects"] = json.loads(d["aspects"] or "[]")
        d["props"] = json.loads(d["props"] or "{}")
        return cls(**d)

    @property
    def is_versionable(self) -> bool:
        return "cm:versionable" in self.aspects


NODE_COLUMNS = [
    "id",
    "tenant",
    "parent_id",
    "name",
    "name_lc",
    "node_type",
    "is_folder",
    "created_at",
    "created_by",
    "modified_at",
    "modified_by",
    "changed_at",
    "mime_type",
    "size",
    "blob",
    "encoding",
    "aspects",
    "props",
    "lock_owner",
    "lock_type",
    "lock_lifetime",
    "lock_expires",
    "state",
    "archived_at",
    "archived_by",
    "site_id",
]


def _node_values(n: Node) -> list[Any]:
    d = n.__dict__.copy()
    d["name_lc"] = n.name.lower()
    d["is_folder"] = int(n.is_folder)
    d["aspects"] = json.dumps(n.aspects)
    d["props"] = json.dumps(n.props)
    return [d[c] for c in NODE_COLUMNS]


class Store:
    """SQLite plus blobs. `data_dir=None` keeps everything in memory (blobs in a temp dir)."""

    def __init__(self, data_dir: Path | None = None, clock: Clock | None = None) -> None:
        self.data_dir = data_dir
        self.clock = clock or Clock()
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            db_path = str(data_dir / "emulator.sqlite")
        else:
            db_path = ":memory:"
        self.db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.blobs = Blobs(data_dir / "blobs" if data_dir is not None else None)
        self._depth = 0
        self._display_names: dict[str, str] = {}

    def close(self) -> None:
        self.db.close()
        self.blobs.close()

    @contextmanager
    def tx(self) -> Iterator[None]:
        """A transaction; nested uses join the outer one so a route's steps commit together."""
        if self._depth == 0:
            self.db.execute("BEGIN")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self.db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self.db.execute("COMMIT")

    def is_empty(self) -> bool:
        return self.db.execute("SELECT COUNT(*) FROM networks").fetchone()[0] == 0

    def wipe(self) -> None:
        self._display_names.clear()
        with self.tx():
            for table in (
                "meta",
                "networks",
                "users",
                "sites",
                "site_members",
                "tickets",
                "nodes",
                "versions",
            ):
                self.db.execute(f"DELETE FROM {table}")

    # ---- meta --------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # ---- users and tickets -----------------------------------------------------------------------
    def add_user(self, user_id: str, password: str, first: str, last: str = "", email: str | None = None) -> None:
        """Create or replace a user; which network it belongs to follows from its name (`context.user_domain`)."""
        self._display_names.pop(user_id, None)
        self.db.execute(
            "INSERT OR REPLACE INTO users(id, password, first_name, last_name, email) VALUES (?, ?, ?, ?, ?)",
            (user_id, password, first, last, email or (user_id if "@" in user_id else f"{user_id}@example.com")),
        )

    def get_user(self, user_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM users WHERE id=?", (user_id,)).fetchone()
        return dict(row) if row else None

    def display_name(self, user_id: str) -> str:
        """Cached: every node entry needs two of these, and listings return hundreds of entries."""
        name = self._display_names.get(user_id)
        if name is None:
            u = self.get_user(user_id)
            name = (f"{u['first_name']} {u['last_name']}".strip() or user_id) if u else user_id
            self._display_names[user_id] = name
        return name

    def create_ticket(self, user_id: str) -> str:
        ticket = "TICKET_" + uuid.uuid4().hex
        self.db.execute("INSERT INTO tickets VALUES (?, ?, ?)", (ticket, user_id, self.clock.wall_ms()))
        return ticket

    def ticket_user(self, ticket: str) -> str | None:
        row = self.db.execute("SELECT user_id FROM tickets WHERE id=?", (ticket,)).fetchone()
        return row[0] if row else None

    def delete_ticket(self, ticket: str) -> None:
        self.db.execute("DELETE FROM tickets WHERE id=?", (ticket,))

    # ---- networks --------------------------------------------------------------------------------
    def add_network(
        self, net_id: str, *, enabled: bool, level: str, root_id: str, sites_id: str, homes_id: str, paid: bool = True
    ) -> None:
        self.db.execute(
            "INSERT INTO networks VALUES (?, ?, ?, -1, -1, ?, ?, ?, ?, ?)",
            (net_id, int(enabled), level, self.clock.now_ms(), int(paid), root_id, sites_id, homes_id),
        )

    def get_network(self, net_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM networks WHERE id=?", (net_id,)).fetchone()
        return dict(row) if row else None

    def list_networks(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM networks ORDER BY id")]

    def update_network(self, net_id: str, **fields: Any) -> None:
        for key, value in fields.items():
            self.db.execute(f"UPDATE networks SET {key}=? WHERE id=?", (value, net_id))

    def usage(self, tenant: str) -> int:
        """Bytes held by a tenant: live and trashed current content (versions are not counted)."""
        return int(
            self.db.execute("SELECT COALESCE(SUM(size), 0) FROM nodes WHERE tenant=? AND is_folder=0", (tenant,)).fetchone()[0]
        )

    # ---- sites -----------------------------------------------------------------------------------
    def add_site(
        self, tenant: str, site_id: str, guid: str, title: str, description: str, visibility: str, doclib_id: str
    ) -> None:
        self.db.execute(
            "INSERT INTO sites VALUES (?, ?, ?, ?, ?, ?, ?)",
            (tenant, site_id, guid, title, description, visibility, doclib_id),
        )

    def get_site(self, tenant: str, site_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM sites WHERE tenant=? AND id=?", (tenant, site_id)).fetchone()
        return dict(row) if row else None

    def find_site_any_tenant(self, site_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM sites WHERE id=? ORDER BY tenant LIMIT 1", (site_id,)).fetchone()
        return dict(row) if row else None

    def list_sites(self, tenant: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM sites WHERE tenant=? ORDER BY id", (tenant,))]

    def set_site_role(self, tenant: str, site_id: str, user_id: str, role: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO site_members VALUES (?, ?, ?, ?)", (tenant, site_id, user_id, role))

    def site_members(self, tenant: str, site_id: str) -> list[tuple[str, str]]:
        """(user, role) of a site, by user id."""
        rows = self.db.execute(
            "SELECT user_id, role FROM site_members WHERE tenant=? AND site=? ORDER BY user_id", (tenant, site_id)
        )
        return [(r[0], r[1]) for r in rows]

    def user_sites(self, tenant: str, user_id: str) -> list[tuple[str, str]]:
        """(site, role) of a user in one tenant, by site id."""
        rows = self.db.execute(
            "SELECT site, role FROM site_members WHERE tenant=? AND user_id=? ORDER BY site", (tenant, user_id)
        )
        return [(r[0], r[1]) for r in rows]

    def site_role(self, tenant: str, site_id: str, user_id: str) -> str | None:
        row = self.db.execute(
            "SELECT role FROM site_members WHERE tenant=? AND site=? AND user_id=?", (tenant, site_id, user_id)
        ).fetchone()
        return row[0] if row else None

    # ---- nodes -----------------------------------------------------------------------------------
    def insert_node(self, node: Node) -> None:
        marks = ",".join("?" * len(NODE_COLUMNS))
        self.db.execute(f"INSERT INTO nodes({','.join(NODE_COLUMNS)}) VALUES ({marks})", _node_values(node))

    def save_node(self, node: Node) -> None:
        sets = ",".join(f"{c}=?" for c in NODE_COLUMNS[1:])
        vals = _node_values(node)
        self.db.execute(f"UPDATE nodes SET {sets} WHERE id=?", [*vals[1:], node.id])

    def get_node(self, node_id: str, state: int | None = LIVE) -> Node | None:
        if state is None:
            row = self.db.execute("SELECT * FROM nodes WHERE id=?", (node_id,)).fetchone()
        else:
            row = self.db.execute("SELECT * FROM nodes WHERE id=? AND state=?", (node_id, state)).fetchone()
        return Node.from_row(row) if row else None

    def parent_id(self, node_id: str) -> str | None:
        """A live node's parent id (None for a root, or a node that is not live)."""
        row = self.db.execute("SELECT parent_id FROM nodes WHERE id=? AND state=0", (node_id,)).fetchone()
        return row[0] if row else None

    def child_by_name(self, parent_id: str, name: str) -> Node | None:
        row = self.db.execute(
            "SELECT * FROM nodes WHERE parent_id=? AND name_lc=? AND state=0", (parent_id, name.lower())
        ).fetchone()
        return Node.from_row(row) if row else None

    def list_children(
        self, parent_id: str, *, where_folder: bool | None, order_sql: str, skip: int, limit: int
    ) -> tuple[list[Node], int]:
        cond = "parent_id=? AND state=0"
        args: list[Any] = [parent_id]
        if where_folder is not None:
            cond += " AND is_folder=?"
            args.append(int(where_folder))
        total = self.db.execute(f"SELECT COUNT(*) FROM nodes WHERE {cond}", args).fetchone()[0]
        rows = self.db.execute(f"SELECT * FROM nodes WHERE {cond} ORDER BY {order_sql} LIMIT ? OFFSET ?", [*args, limit, skip])
        return [Node.from_row(r) for r in rows], int(total)

    def descendant_ids(self, node_id: str, state: int = LIVE) -> list[str]:
        """All nodes below `node_id` (not itself) in the given state, by a recursive walk of the parent index."""
        rows = self.db.execute(
            "WITH RECURSIVE sub(id) AS (SELECT id FROM nodes WHERE parent_id=? AND state=? "
            "UNION ALL SELECT n.id FROM nodes n JOIN sub ON n.parent_id=sub.id WHERE n.state=?) SELECT id FROM sub",
            (node_id, state, state),
        )
        return [r[0] for r in rows]

    def descendants(self, node_id: str, state: int = LIVE) -> list[Node]:
        ids = self.descendant_ids(node_id, state)
        return [n for n in (self.get_node(i, state) for i in ids) if n is not None]

    def set_state(self, ids: Iterable[str], state: int) -> None:
        self.db.executemany("UPDATE nodes SET state=? WHERE id=?", [(state, i) for i in ids])

    def set_site_id(self, ids: Iterable[str], site_id: str | None) -> None:
        self.db.executemany("UPDATE nodes SET site_id=? WHERE id=?", [(site_id, i) for i in ids])

    def delete_rows(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        self.db.executemany("DELETE FROM nodes WHERE id=?", [(i,) for i in ids])
        self.db.executemany("DELETE FROM versions WHERE node_id=?", [(i,) for i in ids])

    def archived(self, tenant: str, archived_by: str | None = None) -> list[Node]:
        """Top-level trashcan items, newest first; `archived_by` narrows them to one user's deletions."""
        cond, args = "tenant=? AND state=1", [tenant]
        if archived_by is not None:
            cond += " AND archived_by=?"
            args.append(archived_by)
        rows = self.db.execute(f"SELECT * FROM nodes WHERE {cond} ORDER BY archived_at DESC, id", args)
        return [Node.from_row(r) for r in rows]

    def nodes_modified_since(
        self, tenant: str, since_ms: int | None, until_ms: int | None, parent_id: str | None = None
    ) -> list[Node]:
        """Search candidates in insertion order (the order of an index); each given bound narrows the scan."""
        cond, args = "tenant=? AND state=0", [tenant]
        if parent_id is not None:
            cond += " AND parent_id=?"
            args.append(parent_id)
        if since_ms is not None:
            cond += " AND modified_at>=?"
            args.append(since_ms)
        if until_ms is not None:
            cond += " AND modified_at<=?"
            args.append(until_ms)
        return [Node.from_row(r) for r in self.db.execute(f"SELECT * FROM nodes WHERE {cond} ORDER BY rowid", args)]

    def count_nodes(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM nodes").fetchone()[0])

    # ---- versions --------------------------------------------------------------------------------
    def add_version(self, node: Node, label: str, comment: str | None = None) -> None:
        seq = self.db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM versions WHERE node_id=?", (node.id,)).fetchone()[0]
        self.db.execute(
            "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                node.id,
                seq,
                label,
                node.name,
                node.mime_type,
                node.size,
                node.blob,
                node.encoding,
                node.modified_at,
                node.modified_by,
                comment,
            ),
        )

    def versions(self, node_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM versions WHERE node_id=? ORDER BY seq DESC", (node_id,))]

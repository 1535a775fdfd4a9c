"""Deterministic starting content: `onprem` (site engineering), `cloud` (networks acme.com, free.example).

Ids and bytes come from a seeded generator, so two fresh emulators hold identical ids and content, which
lets tests and the demo name nodes in advance.

Accounts are ordinary members, as on a real server, so that permission, lock and trashcan rules are exercised
by users who are not administrators:
- on-prem (default domain): `admin` (administrator), `sync` (the sync's account, SiteManager of engineering:
  it must delete and move content other people created, which only a Coordinator may), `alice`
  (SiteCollaborator), `carol` (SiteConsumer);
- cloud (tenant acme.com, users are user@acme.com): `admin@acme.com` (the tenant's administrator, who made the
  site), `sync@acme.com` (the sync's account, SiteCollaborator of partners), `bob@acme.com` (SiteCollaborator).
Passwords are the part of the user name before the `@`.
"""

from __future__ import annotations

import random
import struct
import uuid
import zlib

from emulator import repo
from emulator.store import Node, Store

SEEDS = ("onprem", "cloud", "none")


class _Ids:
    def __init__(self, name: str) -> None:
        self.rng = random.Random(f"emulator-seed:{name}")

    def __call__(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid, tiny PNG, generated so that no binary fixture has to live in the repository."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def pdfish(rng: random.Random, size: int) -> bytes:
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n"
    tail = b"\n%%EOF\n"
    return head + rng.randbytes(max(size - len(head) - len(tail), 0)) + tail


def _text(rng: random.Random, title: str, lines: int) -> bytes:
    words = [
        "sync",
        "cloud",
        "alfresco",
        "folder",
        "version",
        "lock",
        "network",
        "site",
        "draft",
        "review",
        "budget",
        "release",
        "spec",
        "owner",
    ]
    body = [f"# {title}", ""] + [" ".join(rng.choice(words) for _ in range(rng.randint(4, 12))) for _ in range(lines)]
    return ("\n".join(body) + "\n").encode()


def _file(store: Store, ids: _Ids, parent: Node, name: str, data: bytes, user: str = "admin", **props: str) -> Node:
    """Uploaded as a person would: versioned (1.0), like a multipart upload."""
    blob = store.blobs.write_bytes(data)
    return repo.create_node(
        store, user, parent, name, "cm:content", props=props, blob=blob, size=len(data), version_major=True, node_id=ids()
    )


def _folder(store: Store, ids: _Ids, parent: Node, name: str, user: str = "admin") -> Node:
    return repo.create_node(store, user, parent, name, "cm:folder", node_id=ids())


ACCOUNTS: dict[str, list[tuple[str, str, str, str, str]]] = {
    "onprem": [
        ("admin", "Administrator", "", "admin@alfresco.com", "SiteManager"),
        ("sync", "Sync", "Account", "sync@example.com", "SiteManager"),
        ("alice", "Alice", "Adams", "alice@example.com", "SiteCollaborator"),
        ("carol", "Carol", "Clark", "carol@example.com", "SiteConsumer"),
    ],
    "cloud": [
        ("admin@acme.com", "Administrator", "", "admin@acme.com", "SiteManager"),
        ("sync@acme.com", "Sync", "Account", "sync@acme.com", "SiteCollaborator"),
        ("bob@acme.com", "Bob", "Brown", "bob@acme.com", "SiteCollaborator"),
    ],
}
"""(user, first name, last name, email, role in the seed's site) per seed; the password is the name before @."""
SEED_SITE = {"onprem": ("-default-", "engineering"), "cloud": ("acme.com", "partners")}


def ensure_accounts(store: Store, name: str) -> None:
    """Add the seed's accounts and site roles that a store lacks (one kept from an older emulator), so that a
    persisted demo keeps working after the seeded accounts changed; existing users are left as they are."""
    if name not in ACCOUNTS:
        return
    tenant, site = SEED_SITE[name]
    if store.get_site(tenant, site) is None:
        return
    with store.tx():
        for user, first, last, email, role in ACCOUNTS[name]:
            if store.get_user(user) is None:
                store.add_user(user, user.split("@")[0], first, last, email)
            if role and store.site_role(tenant, site, user) is None:
                store.set_site_role(tenant, site, user, role)


def seed_onprem(store: Store) -> None:
    ids = _Ids("onprem")
    rng = random.Random("emulator-content:onprem")
    repo.make_tenant(store, "-default-", enabled=True, level="Enterprise", ids=[ids(), ids(), ids()])
    doclib_id = repo.make_site(store, "-default-", "engineering", "Engineering", ids=[ids(), ids()])
    ensure_accounts(store, "onprem")
    lib = store.get_node(doclib_id)
    assert lib is not None
    specs = _folder(store, ids, lib, "Specs")
    drafts = _folder(store, ids, specs, "Drafts")
    notes = _folder(store, ids, lib, "Meeting Notes")
    images = _folder(store, ids, lib, "Images")
    _file(store, ids, lib, "README.md", _text(rng, "Engineering", 12), **{"cm:title": "Read me first"})
    _file(
        store,
        ids,
        lib,
        "budget.csv",
        b"item,amount\n" + b"".join(f"line {i},{rng.randint(10, 9999)}\n".encode() for i in range(40)),
    )
    _file(store, ids, lib, "Project Plan.pdf", pdfish(rng, 48_000), **{"cm:author": "Alice Adams"})
    _file(store, ids, lib, "tiny.txt", b"hi\n")
    for i in range(1, 9):
        _file(
            store,
            ids,
            specs,
            f"spec-{i:03d}.md",
            _text(rng, f"Specification {i}", 10 * i),
            **{"cm:description": f"Spec number {i}"},
        )
    _file(
        store,
        ids,
        specs,
        "api.json",
        ('{"version": 1, "endpoints": [' + ",".join(f'"/e/{i}"' for i in range(50)) + "]}\n").encode(),
    )
    _file(store, ids, specs, "requirements.txt", _text(rng, "Requirements", 30))
    _file(store, ids, specs, "Architecture.pdf", pdfish(rng, 1024 * 1024))
    _file(store, ids, drafts, "draft-a.md", _text(rng, "Draft A", 5))
    _file(store, ids, drafts, "draft-b.txt", _text(rng, "Draft B", 3))
    for day in range(1, 11):
        _file(store, ids, notes, f"2026-11-{day:02d} standup.txt", _text(rng, f"Standup {day}", 6 + day))
    _file(store, ids, notes, "attendance.csv", b"name,present\nalice,yes\ncarol,no\n")
    for i, rgb in enumerate(((200, 30, 30), (30, 200, 30), (30, 30, 200), (240, 200, 0))):
        _file(store, ids, images, f"diagram-{i + 1}.png", png(16 * (i + 1), 16 * (i + 1), rgb))
    _file(store, ids, images, "logo.png", png(64, 64, (10, 120, 200)))
    _file(store, ids, images, "photo.bin", rng.randbytes(200_000))


def seed_cloud(store: Store) -> None:
    ids = _Ids("cloud")
    repo.make_tenant(store, "acme.com", enabled=True, level="Enterprise", ids=[ids(), ids(), ids()])
    repo.make_tenant(store, "free.example", enabled=False, level="Free", paid=False, ids=[ids(), ids(), ids()])
    doclib_id = repo.make_site(store, "acme.com", "partners", "Partners", ids=[ids(), ids()], creator="admin@acme.com")
    ensure_accounts(store, "cloud")
    lib = store.get_node(doclib_id)
    assert lib is not None
    _folder(store, ids, lib, "Shared", user="admin@acme.com")


def apply(store: Store, name: str, mode: str) -> None:
    """Seed an empty store; `none` still creates the tenant skeleton and its administrator (`admin` on-prem,
    `admin@acme.com` in the cloud)."""
    if name not in SEEDS:
        raise ValueError(f"unknown seed {name!r}; expected one of {SEEDS}")
    with store.tx():
        if name == "onprem":
            seed_onprem(store)
        elif name == "cloud":
            seed_cloud(store)
        else:
            tenant, admin = ("-default-", "admin") if mode == "onprem" else ("acme.com", "admin@acme.com")
            repo.make_tenant(store, tenant, enabled=True, level="Enterprise")
            store.add_user(admin, "admin", "Administrator", "", "admin@example.com")

"""Deterministic starting content: `onprem` (site engineering), `cloud` (networks acme.com, free.example).

Ids and bytes come from a seeded generator, so two fresh emulators hold identical ids and content, which
lets tests and the demo name nodes in advance.
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
    blob = store.blobs.write_bytes(data)
    return repo.create_node(
        store, user, parent, name, "cm:content", props=props, blob=blob, size=len(data), versioned=True, node_id=ids()
    )


def _folder(store: Store, ids: _Ids, parent: Node, name: str, user: str = "admin") -> Node:
    return repo.create_node(store, user, parent, name, "cm:folder", node_id=ids())


def seed_onprem(store: Store) -> None:
    ids = _Ids("onprem")
    rng = random.Random("emulator-content:onprem")
    repo.make_tenant(store, "-default-", enabled=True, level="Enterprise", ids=[ids(), ids(), ids()])
    store.add_user("admin", "admin", "Administrator", "", "admin@alfresco.com", "-default-")
    store.add_user("alice", "alice", "Alice", "Adams", "alice@example.com", "-default-")
    store.add_user("carol", "carol", "Carol", "Clark", "carol@example.com", "-default-")
    for user in ("admin", "alice", "carol"):
        store.add_member("-default-", user)
    doclib_id = repo.make_site(store, "-default-", "engineering", "Engineering", ids=[ids(), ids()])
    for user, role in (("admin", "SiteManager"), ("alice", "SiteCollaborator"), ("carol", "SiteConsumer")):
        store.set_site_role("-default-", "engineering", user, role)
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
    store.add_user("admin", "admin", "Administrator", "", "admin@acme.com", "acme.com")
    store.add_user("bob@acme.com", "bob", "Bob", "Brown", "bob@acme.com", "acme.com")
    for net, user in (("acme.com", "admin"), ("free.example", "admin"), ("acme.com", "bob@acme.com")):
        store.add_member(net, user)
    doclib_id = repo.make_site(store, "acme.com", "partners", "Partners", ids=[ids(), ids()])
    for user, role in (("admin", "SiteManager"), ("bob@acme.com", "SiteCollaborator")):
        store.set_site_role("acme.com", "partners", user, role)
    lib = store.get_node(doclib_id)
    assert lib is not None
    _folder(store, ids, lib, "Shared")


def apply(store: Store, name: str, mode: str) -> None:
    """Seed an empty store; `none` still creates the tenant skeleton and the admin user."""
    if name not in SEEDS:
        raise ValueError(f"unknown seed {name!r}; expected one of {SEEDS}")
    with store.tx():
        if name == "onprem":
            seed_onprem(store)
        elif name == "cloud":
            seed_cloud(store)
        else:
            tenant = "-default-" if mode == "onprem" else "acme.com"
            repo.make_tenant(store, tenant, enabled=True, level="Enterprise")
            store.add_user("admin", "admin", "Administrator", "", "admin@example.com", tenant)
            store.add_member(tenant, "admin")

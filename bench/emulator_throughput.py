"""Emulator throughput over real loopback HTTP: small uploads/s, listings/s, download MB/s.

Starts `python -m emulator` (in memory, or `--data` in a temp folder with --disk) on a free port in a
subprocess and drives it with one httpx client, optionally with several concurrent workers. Prints a table;
asserts nothing (timing never belongs in tests).

    .venv/bin/python bench/emulator_throughput.py [--uploads 300] [--listings 300] [--mib 64] [--workers 4] [--disk]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from ecsync.processes import SYNC_ACCOUNTS

ROOT = Path(__file__).resolve().parents[1]
SYNC = (SYNC_ACCOUNTS["onprem"].user, SYNC_ACCOUNTS["onprem"].password)
"""The sync's on-prem account (a SiteManager of engineering), as the product calls the server."""
CORE = "/alfresco/api/-default-/public/alfresco/versions/1"
SEARCH = "/alfresco/api/-default-/public/search/versions/1/search"


def start(data: Path | None) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "emulator", "--port", "0", "--seed", "onprem"]
    if data is not None:
        cmd += ["--data", str(data)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("emulator listening on "):
        proc.kill()
        raise SystemExit(f"emulator did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[-1]


async def _spread(n: int, workers: int, job) -> float:  # type: ignore[no-untyped-def]
    queue = list(range(n))
    t0 = time.perf_counter()

    async def worker() -> None:
        while queue:
            await job(queue.pop())

    await asyncio.gather(*(worker() for _ in range(workers)))
    return time.perf_counter() - t0


async def run(args: argparse.Namespace, base: str) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    limits = httpx.Limits(max_connections=args.workers, max_keepalive_connections=args.workers)
    async with httpx.AsyncClient(base_url=base, auth=SYNC, timeout=60, limits=limits) as c:
        lib = (await c.get(f"{CORE}/sites/engineering/containers/documentLibrary")).json()["entry"]["id"]
        folder = (await c.post(f"{CORE}/nodes/{lib}/children", json={"name": "bench", "nodeType": "cm:folder"})).json()["entry"][
            "id"
        ]

        async def up(i: int) -> None:
            r = await c.post(f"{CORE}/nodes/{folder}/children", files={"filedata": (f"f{i:05d}.txt", b"x" * 1024)})
            assert r.status_code == 201, r.text

        secs = await _spread(args.uploads, args.workers, up)
        rows.append(("small uploads (1 KiB, multipart)", f"{args.uploads / secs:,.0f} /s", f"{args.uploads} in {secs:.2f} s"))

        async def ls(i: int) -> None:
            r = await c.get(f"{CORE}/nodes/{folder}/children", params={"skipCount": (i * 100) % args.uploads, "maxItems": 100})
            assert r.status_code == 200

        secs = await _spread(args.listings, args.workers, ls)
        rows.append(("listings (100 children/page)", f"{args.listings / secs:,.0f} /s", f"{args.listings} in {secs:.2f} s"))

        size = args.mib * 1024 * 1024
        chunk = b"\0" * (1024 * 1024)

        async def body():  # type: ignore[no-untyped-def]
            for _ in range(args.mib):
                yield chunk

        big = (await c.post(f"{CORE}/nodes/{folder}/children", json={"name": "big.bin", "nodeType": "cm:content"})).json()[
            "entry"
        ]["id"]
        t0 = time.perf_counter()
        r = await c.put(f"{CORE}/nodes/{big}/content", content=body())
        secs = time.perf_counter() - t0
        assert r.status_code == 200 and r.json()["entry"]["content"]["sizeInBytes"] == size
        rows.append((f"content upload ({args.mib} MiB PUT)", f"{args.mib / secs:,.1f} MB/s", f"{secs:.2f} s"))

        t0 = time.perf_counter()
        got = 0
        async with c.stream("GET", f"{CORE}/nodes/{big}/content") as resp:
            async for part in resp.aiter_bytes(1 << 20):
                got += len(part)
        secs = time.perf_counter() - t0
        assert got == size
        rows.append((f"content download ({args.mib} MiB)", f"{args.mib / secs:,.1f} MB/s", f"{secs:.2f} s"))
    return rows


async def scale(n: int) -> list[tuple[str, str, str]]:
    """In-process (ASGITransport): a store with `n` extra nodes, then the calls a scan makes."""
    from emulator.app import create_app
    from emulator.store import Node, Store

    store = Store(None)
    app = create_app(store)
    rows: list[tuple[str, str, str]] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x", auth=SYNC) as c:
        lib = (await c.get(f"{CORE}/sites/engineering/containers/documentLibrary")).json()["entry"]["id"]
        t0 = time.perf_counter()
        now = store.clock.now_ms()
        with store.tx():
            per = 100
            for f in range(n // per):
                fid = f"folder-{f:06d}"
                store.insert_node(
                    Node(fid, "-default-", lib, fid, "cm:folder", True, now, "admin", now, "admin", now, site_id="engineering")
                )
                for i in range(per - 1):
                    nid = f"{fid}-{i:03d}"
                    store.insert_node(
                        Node(
                            nid,
                            "-default-",
                            fid,
                            f"doc-{i:03d}.txt",
                            "cm:content",
                            False,
                            now,
                            "admin",
                            now,
                            "admin",
                            now,
                            mime_type="text/plain",
                            size=10,
                            blob="none",
                            site_id="engineering",
                        )
                    )
        rows.append((f"insert {store.count_nodes():,} nodes (direct)", f"{time.perf_counter() - t0:.1f} s", ""))

        async def timed(label: str, reps: int, call) -> None:  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            for i in range(reps):
                r = await call(i)
                assert r.status_code < 300, r.text
            rows.append((label, f"{(time.perf_counter() - t) / reps * 1000:.2f} ms", f"mean of {reps}"))

        await timed("list 100 children of a folder", 50, lambda i: c.get(f"{CORE}/nodes/folder-{i:06d}/children"))
        await timed(
            "list documentLibrary page (1000 folders)",
            20,
            lambda i: c.get(f"{CORE}/nodes/{lib}/children", params={"skipCount": i * 50}),
        )
        await timed("get one node", 200, lambda i: c.get(f"{CORE}/nodes/folder-{i:06d}-001"))
        await timed(
            "create folder (name check)",
            100,
            lambda i: c.post(f"{CORE}/nodes/folder-{i:06d}/children", json={"name": f"new-{i}", "nodeType": "cm:folder"}),
        )
        q = f'ANCESTOR:"workspace://SpacesStore/{lib}" AND cm:modified:[NOW TO MAX]'
        await timed("search: modified since now (index pre-filter)", 10, lambda i: c.post(SEARCH, json={"query": {"query": q}}))
        q2 = 'PARENT:"workspace://SpacesStore/folder-000001"'
        await timed("search: PARENT (parent index)", 3, lambda i: c.post(SEARCH, json={"query": {"query": q2}}))
    store.close()
    return rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--uploads", type=int, default=300)
    p.add_argument("--listings", type=int, default=300)
    p.add_argument("--mib", type=int, default=64)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--disk", action="store_true", help="use a --data folder instead of memory")
    p.add_argument("--scale", type=int, default=0, help="also time scan calls in a store with this many nodes")
    args = p.parse_args()
    if args.scale:
        print(f"emulator at scale, in process, {args.scale:,} extra nodes")
        for name, rate, detail in asyncio.run(scale(args.scale)):
            print(f"{name:<48} {rate:>10}  {detail}")
        print()
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = start(Path(tmp) if args.disk else None)
        try:
            rows = asyncio.run(run(args, base))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    storage = "disk (--data)" if args.disk else "memory"
    print(f"emulator throughput, {storage}, {args.workers} concurrent client(s), loopback HTTP")
    print(f"{'measure':<36} {'rate':>14}  detail")
    for name, rate, detail in rows:
        print(f"{name:<36} {rate:>14}  {detail}")


if __name__ == "__main__":
    main()

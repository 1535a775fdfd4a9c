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

ROOT = Path(__file__).resolve().parents[1]
CORE = "/alfresco/api/-default-/public/alfresco/versions/1"


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
    async with httpx.AsyncClient(base_url=base, auth=("admin", "admin"), timeout=60, limits=limits) as c:
        lib = (await c.get(f"{CORE}/sites/engineering/containers/documentLibrary")).json()["entry"]["id"]
        folder = (await c.post(f"{CORE}/nodes/{lib}/children", json={"name": "bench", "nodeType": "cm:folder"})).json()["entry"]["id"]

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

        big = (await c.post(f"{CORE}/nodes/{folder}/children", json={"name": "big.bin", "nodeType": "cm:content"})).json()["entry"]["id"]
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


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--uploads", type=int, default=300)
    p.add_argument("--listings", type=int, default=300)
    p.add_argument("--mib", type=int, default=64)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--disk", action="store_true", help="use a --data folder instead of memory")
    args = p.parse_args()
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

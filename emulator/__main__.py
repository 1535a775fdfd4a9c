"""`python -m emulator --port 8081 --host 127.0.0.1 --data DIR --seed onprem|cloud|none --mode ...`."""

from __future__ import annotations

import argparse
import asyncio
import socket
from pathlib import Path

import uvicorn

from emulator.app import create_app
from emulator.faults import FaultConfig, FaultRule
from emulator.store import Store


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m emulator", description="Alfresco REST v1 emulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    p.add_argument("--data", type=Path, default=None, help="folder for SQLite + blobs; omitted = in memory")
    p.add_argument("--seed", choices=("onprem", "cloud", "none"), default=None, help="content for an empty store")
    p.add_argument("--mode", choices=("onprem", "cloud"), default=None, help="default: cloud for --seed cloud")
    p.add_argument("--search-lag", type=float, default=0.0, help="seconds before a change is searchable")
    p.add_argument("--fault-rate", type=float, default=0.0, help="share of API requests answered with --fault-status")
    p.add_argument("--fault-status", type=int, default=503)
    p.add_argument("--fault-path", default="^/alfresco/", help="regex of paths that may fail")
    p.add_argument("--retry-after", type=int, default=None)
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--jitter-ms", type=int, default=0)
    p.add_argument("--fault-seed", "--random-seed", dest="fault_seed", type=int, default=0)
    return p.parse_args(argv)


def build_faults(args: argparse.Namespace) -> FaultConfig:
    rules = []
    if args.fault_rate > 0:
        rules.append(
            FaultRule(
                path=args.fault_path,
                kind="status",
                status=args.fault_status,
                rate=args.fault_rate,
                retry_after=args.retry_after,
            )
        )
    return FaultConfig(seed=args.fault_seed, latency_ms=args.latency_ms, jitter_ms=args.jitter_ms, rules=rules)


async def serve(args: argparse.Namespace) -> None:
    seed = args.seed or ("cloud" if args.mode == "cloud" else "onprem")
    mode = args.mode or ("cloud" if seed == "cloud" else "onprem")
    store = Store(args.data)
    app = create_app(store, mode=mode, faults=build_faults(args), seed_name=seed)
    app.state.search_lag_ms = int(args.search_lag * 1000)  # type: ignore[attr-defined]
    # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP,
    # and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", date_header=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started:
        print(f"emulator listening on http://{args.host}:{port}", flush=True)
    try:
        await task
    finally:
        store.close()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()

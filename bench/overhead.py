"""Orchestration overhead: `sync-to-cloud` between two emulators against a baseline without Prefect or a database.

A generated tree (2,000 files in 200 folders, log-normal sizes 1 KiB..4 MiB, seeded; `--scale` shrinks it) is
uploaded once into the on-prem emulator. At each added latency (PUT /_emulator/faults on both emulators) it is
pushed twice into fresh cloud folders: by the product (`sync-to-cloud` flow run on a real Prefect server,
connection blocks, sync-state SQLite) and by `bench.measure.run_baseline`, which makes the same HTTP calls with
the same concurrency using `AlfrescoRepository` directly. Both run in a process of their own (peak RSS is
theirs). The requests each emulator answered are counted per route for both, so "same calls" is checked, not
assumed. Printed, never asserted; targets: product/baseline <= 1.25 at 20 ms, <= 2.0 at 0 ms.

    python -m bench overhead [--scale 1.0] [--latencies 0 20] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bench.common import (
    MIB,
    TreeSpec,
    load_now,
    machine,
    prefect_env,
    prefect_server,
    print_table,
    run_measure,
    scratch,
    write_results,
)


def overhead_spec(scale: float) -> TreeSpec:
    return TreeSpec(files=max(2, round(2000 * scale)), folders=max(1, round(200 * scale)))


async def _prepare(urls: dict[str, str], spec: TreeSpec, latencies: list[int]) -> None:
    from bench.emulators import Rest, upload_tree

    onprem, cloud = Rest(urls["onprem"], "-default-"), Rest(urls["cloud"], "acme.com")
    try:
        library = await onprem.by_path("engineering", "")
        await upload_tree(onprem, library["id"], "overhead-tree", spec)
        shared = await cloud.by_path("partners", "Shared")
        for latency in latencies:
            for who in ("product", "baseline"):
                await cloud.create_folder(shared["id"], f"{who}-{latency}ms")
    finally:
        await onprem.aclose()
        await cloud.aclose()


async def _latency(urls: dict[str, str], latency_ms: int) -> None:
    from bench.emulators import Rest

    for url in urls.values():
        rest = Rest(url, "-default-")
        await rest.set_latency(latency_ms)
        await rest.stats(reset=True)
        await rest.aclose()


async def _requests(urls: dict[str, str]) -> dict[str, int]:
    """Requests answered by both emulators since the last reset, by route (latency reset to 0 first)."""
    from bench.emulators import Rest

    merged: dict[str, int] = {}
    for side, url in urls.items():
        rest = Rest(url, "-default-")
        for route, count in (await rest.stats()).items():
            key = f"{side} {route.replace('/alfresco/api/{tenant}/public/alfresco/versions/1', '')}"
            merged[key] = merged.get(key, 0) + count
        await rest.aclose()
    return merged


async def _verify(cloud_url: str, folder: str, spec: TreeSpec) -> tuple[int, int]:
    """Files and bytes that reached the cloud copy (walked over REST)."""
    from bench.emulators import Rest

    rest = Rest(cloud_url, "acme.com")
    try:
        top = await rest.by_path("partners", f"Shared/{folder}/overhead-tree")
        files = size = 0
        level = [top["id"]]
        while level:
            next_level = []
            for node_id in level:
                for child in await rest.children(node_id):
                    if child["isFolder"]:
                        next_level.append(child["id"])
                    else:
                        files += 1
                        size += child["content"]["sizeInBytes"]
            level = next_level
        return files, size
    finally:
        await rest.aclose()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench overhead", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="share of the 2,000-file tree")
    parser.add_argument("--latencies", type=int, nargs="*", default=[0, 20])
    parser.add_argument("--profile", action="store_true", help="also profile the product runs (pyinstrument)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    from bench.emulators import save_blocks, two_emulators

    spec = overhead_spec(args.scale)
    total = spec.total_bytes()
    info = machine()
    print(f"machine: {info}\ntree: {spec.files} files, {spec.folders} folders, {total / MIB:.1f} MiB", flush=True)
    rows: list[dict[str, Any]] = []
    requests: dict[str, dict[str, dict[str, int]]] = {}
    with scratch("overhead", args.keep) as work, prefect_server(work / "prefect") as api_url:
        env = prefect_env(api_url, f"sqlite:///{work / 'state-blocks.db'}")
        with two_emulators(work / "logs") as children:
            urls = {side: child.url for side, child in children.items()}
            save_blocks(env, urls["onprem"], urls["cloud"])
            asyncio.run(_prepare(urls, spec, args.latencies))
            for latency in args.latencies:
                # A sync-state database per latency: the same on-prem folder may be in one active sync set only.
                env = prefect_env(api_url, f"sqlite:///{work / f'state-{latency}ms.db'}")
                measured: dict[str, dict[str, Any]] = {}
                for who in ("baseline", "product"):
                    folder = f"{who}-{latency}ms"
                    asyncio.run(_latency(urls, latency))
                    common = ["--item", "site:engineering/overhead-tree", "--target", f"Shared/{folder}"]
                    if who == "baseline":
                        result = run_measure(
                            ["baseline", *common, "--onprem-url", urls["onprem"], "--cloud-url", urls["cloud"]], env
                        )
                    else:
                        profile = ["--profile", str(work / f"overhead-{latency}ms.txt")] if args.profile else []
                        result = run_measure(["sync-to-cloud", *common, "--slug", f"overhead-{latency}", *profile], env)
                    requests.setdefault(str(latency), {})[who] = asyncio.run(_requests(urls))
                    files, size = asyncio.run(_verify(urls["cloud"], folder, spec)) if result["state"] == "COMPLETED" else (0, 0)
                    measured[who] = result
                    rows.append(
                        {
                            "latency_ms": latency,
                            "who": "product (sync-to-cloud)" if who == "product" else "baseline (client only)",
                            "seconds": round(result["seconds"], 2),
                            "files_per_s": round(spec.files / result["seconds"], 1),
                            "mb_per_s": round(total / 1e6 / result["seconds"], 2),
                            "rss_peak_mib": round(result["rss_peak_mib"], 0),
                            "requests": sum(requests[str(latency)][who].values()),
                            "copied": f"{files}/{spec.files} files, {(size == total and 'bytes equal') or 'BYTES DIFFER'}",
                            "state": result["state"],
                            "load": load_now(),
                            "profile": result.get("profile"),
                        }
                    )
                print(
                    f"{latency} ms: baseline {measured['baseline']['seconds']:.2f} s, "
                    f"product {measured['product']['seconds']:.2f} s ({measured['product']['state']})",
                    flush=True,
                )
                rows[-1]["ratio"] = round(measured["product"]["seconds"] / measured["baseline"]["seconds"], 2)
                rows[-1]["target"] = "<= 1.25" if latency >= 20 else "<= 2.0"
    columns = [
        ("latency_ms", "added latency ms", ""),
        ("who", "run", ""),
        ("seconds", "wall s", ".2f"),
        ("files_per_s", "files/s", ".1f"),
        ("mb_per_s", "MB/s", ".2f"),
        ("rss_peak_mib", "peak RSS MiB", ".0f"),
        ("requests", "HTTP requests", ""),
        ("ratio", "product/baseline", ".2f"),
        ("target", "target", ""),
        ("copied", "end state", ""),
        ("load", "load (1 min)", ".2f"),
    ]
    table = print_table(
        f"Orchestration overhead: {spec.files} files, {spec.folders} folders, {total / MIB:.0f} MiB", rows, columns
    )
    differences = []
    for latency, by_who in requests.items():
        routes = set(by_who.get("product", {})) | set(by_who.get("baseline", {}))
        for route in sorted(routes):
            p, b = by_who.get("product", {}).get(route, 0), by_who.get("baseline", {}).get(route, 0)
            if p != b:
                differences.append(f"- {latency} ms: {route}: product {p}, baseline {b}")
    print("Requests that differ between product and baseline:\n" + ("\n".join(differences) or "- none"), flush=True)
    for row in rows:
        if row.get("profile"):
            top = ", ".join(f"{p['group']} {p['share']:.0%}" for p in row["profile"][:7])
            print(f"profile {row['latency_ms']} ms: {top}", flush=True)
    write_results(
        "overhead",
        {
            "machine": info,
            "load_at_end": load_now(),
            "rows": rows,
            "requests": requests,
            "differences": differences,
            "table": table,
        },
    )

"""Streaming: the flow process's peak RSS must not grow with file size (1 GiB against 64 MiB: growth <= 50 MB).

One file of each size is uploaded into the on-prem emulator (disk-backed `--data`, so the emulators do not
hold gigabytes in memory), then `sync-to-cloud` of that one file runs in a process of its own against a real
Prefect server; its peak RSS is read from inside that process. The cloud copy's size is checked.

    python -m bench streaming [--sizes-mib 64 1024]
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bench.common import MIB, load_now, machine, prefect_env, prefect_server, print_table, run_measure, scratch, write_results


async def _upload_big(onprem_url: str, cloud_url: str, name: str, size: int) -> None:
    """Create a file of `size` bytes in the on-prem emulator (streamed PUT), and a cloud target folder."""
    from bench.emulators import Rest

    onprem, cloud = Rest(onprem_url, "-default-"), Rest(cloud_url, "acme.com")
    try:
        library = await onprem.by_path("engineering", "")
        folder = await onprem.create_folder(library["id"], name)
        node = (
            await onprem._json("POST", f"/nodes/{folder['id']}/children", json={"name": f"{name}.bin", "nodeType": "cm:content"})
        )["entry"]
        chunk = bytes(range(256)) * (MIB // 256)

        async def body() -> Any:
            left = size
            while left > 0:
                part = chunk[: min(len(chunk), left)]
                left -= len(part)
                yield part

        response = await onprem.client.put(
            f"{onprem.core}/nodes/{node['id']}/content", content=body(), headers={"Content-Type": "application/octet-stream"}
        )
        response.raise_for_status()
        shared = await cloud.by_path("partners", "Shared")
        await cloud.create_folder(shared["id"], name)
    finally:
        await onprem.aclose()
        await cloud.aclose()


async def _copied_size(cloud_url: str, name: str) -> int:
    from bench.emulators import Rest

    cloud = Rest(cloud_url, "acme.com")
    try:
        node = await cloud.by_path("partners", f"Shared/{name}/{name}.bin")
        return int(node["content"]["sizeInBytes"])
    finally:
        await cloud.aclose()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench streaming", description=__doc__)
    parser.add_argument("--sizes-mib", type=int, nargs="*", default=[64, 1024])
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    from bench.emulators import save_blocks, two_emulators

    info = machine()
    print(f"machine: {info}", flush=True)
    rows: list[dict[str, Any]] = []
    with scratch("streaming", args.keep) as work, prefect_server(work / "prefect") as api_url:
        env = prefect_env(api_url, f"sqlite:///{work / 'state.db'}")
        with two_emulators(work / "logs", data=work / "emulator-data") as children:
            urls = {side: child.url for side, child in children.items()}
            save_blocks(env, urls["onprem"], urls["cloud"])
            for mib in args.sizes_mib:
                name = f"big-{mib}"
                asyncio.run(_upload_big(urls["onprem"], urls["cloud"], name, mib * MIB))
                result = run_measure(
                    [
                        "sync-to-cloud",
                        "--item",
                        f"site:engineering/{name}/{name}.bin",
                        "--target",
                        f"Shared/{name}",
                        "--slug",
                        name,
                    ],
                    env,
                )
                copied = asyncio.run(_copied_size(urls["cloud"], name))
                rows.append(
                    {
                        "mib": mib,
                        "seconds": round(result["seconds"], 2),
                        "mb_per_s": round(mib * MIB / 1e6 / result["seconds"], 1),
                        "rss_peak_mib": round(result["rss_peak_mib"], 1),
                        "copied": "size equal" if copied == mib * MIB else f"SIZE {copied}",
                        "state": result["state"],
                        "load": load_now(),
                    }
                )
    smallest = rows[0]["rss_peak_mib"]
    for row in rows:
        growth_mb = (row["rss_peak_mib"] - smallest) * MIB / 1e6
        row["growth_mb"] = round(growth_mb, 1)
        row["target"] = "<= 50 MB" if row is not rows[0] else "baseline"
    columns = [
        ("mib", "file MiB", ""),
        ("seconds", "wall s", ".2f"),
        ("mb_per_s", "MB/s", ".1f"),
        ("rss_peak_mib", "flow process peak RSS MiB", ".1f"),
        ("growth_mb", "RSS growth vs smallest MB", ".1f"),
        ("target", "target", ""),
        ("copied", "cloud copy", ""),
        ("state", "run", ""),
        ("load", "load (1 min)", ".2f"),
    ]
    table = print_table("Streaming: peak RSS of the flow process against file size", rows, columns)
    write_results("streaming", {"machine": info, "load_at_end": load_now(), "rows": rows, "table": table})

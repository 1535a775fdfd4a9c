"""How reconcile cost grows with the tree: no-change and 1%-changed runs at 1k, 10k and 100k files.

Local folders on both sides (`LocalRepository`, opened through `set_repository_opener`), the sync set and its
members in a fresh SQLite database, `flows.engine.run_sync_set` inside a flow run on a real Prefect server.
Trees up to --first-sync-max files get a real first sync; larger ones are copied (`cp -a`) and their member
rows written directly (bench.measure.seed_local_members), which the no-change run then checks (0 actions).
With --emulator-sizes, the same runs through two Alfresco emulators (`sync-to-cloud`, then `reconcile`).

Bytes read are counted in the connector's `download` (local) or as content GETs (emulators): a quiet run
must read none, a 1% run only the changed files. Printed, never asserted.

    python -m bench growth [--sizes 1000 10000 100000] [--emulator-sizes 1000 10000] [--per-folder 25]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.common import (
    KIB,
    TreeSpec,
    apply_changes,
    load_now,
    machine,
    prefect_env,
    prefect_server,
    print_table,
    run_measure,
    scratch,
    trees_equal,
    write_results,
    write_tree,
)


def growth_spec(files: int, per_folder: int) -> TreeSpec:
    """Small files (median 2 KiB, at most 64 KiB): the growth is about members and folders, not bytes."""
    return TreeSpec(files=files, folders=max(1, files // per_folder), median_size=2 * KIB, max_size=64 * KIB, sigma=1.0)


def local_rows(
    size: int, spec: TreeSpec, api_url: str, work: Path, first_sync_max: int, profile_dir: Path
) -> list[dict[str, Any]]:
    a, b = work / f"a{size}", work / f"b{size}"
    write_tree(a / "tree", spec)
    b.mkdir()
    env = prefect_env(api_url, f"sqlite:///{work / f'state-{size}.db'}")
    slug = f"growth-{size}"
    base = ["--a", str(a), "--b", str(b), "--slug", slug]
    rows: list[dict[str, Any]] = []
    members = spec.files + spec.folders + 1
    if size <= first_sync_max:
        run_measure(["local-setup", *base], env)
        first = run_measure(["local-run", *base], env)
        rows.append(_row("local", size, spec, "first sync", first, members))
    else:
        subprocess.run(["cp", "-a", str(a / "tree"), str(b / "tree")], check=True)
        run_measure(["local-seed", *base], env)
    quiet = run_measure(["local-run", *base], env)
    rows.append(_row("local", size, spec, "no change", quiet, members))
    profiled = run_measure(["local-run", *base, "--profile", str(profile_dir / f"growth-local-{size}-nochange.txt")], env)
    rows[-1]["profile"] = profiled["profile"]
    changes = apply_changes(a / "tree", b / "tree", spec, 0.01, renames=False, generation=1)
    changed = run_measure(["local-run", *base, "--profile", str(profile_dir / f"growth-local-{size}-1pct.txt")], env)
    row = _row("local", size, spec, "1% changed", changed, members)
    row["changed_files"] = changes.edited
    row["changed_bytes"] = changes.bytes_written
    equal, detail = trees_equal(a / "tree", b / "tree")
    row["end_state_equal"] = equal
    row["end_state"] = detail
    rows.append(row)
    shutil.rmtree(a, ignore_errors=True)
    shutil.rmtree(b, ignore_errors=True)
    return rows


def _row(where: str, size: int, spec: TreeSpec, run: str, result: dict[str, Any], members: int) -> dict[str, Any]:
    return {
        "where": where,
        "files": size,
        "folders": spec.folders,
        "members": result.get("members", members),
        "run": run,
        "seconds": round(result["seconds"], 2),
        "us_per_member": round(result["seconds"] / members * 1e6, 1),
        "rss_peak_mib": round(result["rss_peak_mib"], 1),
        "actions": result.get("actions_done"),
        "bytes_read": result.get("bytes_read"),
        "files_read": result.get("files_read"),
        "state": result["state"],
        "load": load_now(),
        "profile": result.get("profile"),
    }


async def _emulator_tree(onprem_url: str, name: str, spec: TreeSpec) -> dict[str, str]:
    from bench.emulators import Rest, upload_tree

    rest = Rest(onprem_url, "-default-")
    try:
        library = await rest.by_path("engineering", "")
        return await upload_tree(rest, library["id"], name, spec)
    finally:
        await rest.aclose()


async def _emulator_prepare_target(cloud_url: str, name: str) -> None:
    from bench.emulators import Rest

    rest = Rest(cloud_url, "acme.com")
    try:
        shared = await rest.by_path("partners", "Shared")
        await rest.create_folder(shared["id"], name)
    finally:
        await rest.aclose()


async def _emulator_change(onprem_url: str, cloud_url: str, ids: dict[str, str], name: str, spec: TreeSpec) -> tuple[int, int]:
    """Edit 1% of the files through REST, alternating on-prem and cloud (as two users would)."""
    import random

    from bench.common import content_for
    from bench.emulators import Rest

    onprem, cloud = Rest(onprem_url, "-default-"), Rest(cloud_url, "acme.com")
    try:
        copy = await cloud.by_path("partners", f"Shared/{name}/{name}")
        layout = spec.layout()
        picked = random.Random(f"{spec.seed}:emulator-changes").sample(range(len(layout)), max(1, len(layout) // 100))
        written = 0
        for k, index in enumerate(picked):
            path, size = layout[index]
            data = content_for(path, size + 1 + k % 97, spec.seed, 1)
            if k % 2 == 0:
                await onprem.put_content(ids[path], data)
            else:
                node = await cloud._json("GET", f"/nodes/{copy['id']}", params={"relativePath": path})
                await cloud.put_content(node["entry"]["id"], data)
            written += len(data)
        return len(picked), written
    finally:
        await onprem.aclose()
        await cloud.aclose()


def emulator_rows(size: int, spec: TreeSpec, api_url: str, work: Path, profile_dir: Path) -> list[dict[str, Any]]:
    from bench.emulators import Rest, content_gets, save_blocks, two_emulators

    rows: list[dict[str, Any]] = []
    members = spec.files + spec.folders + 1
    name = f"growth-{size}"
    env = prefect_env(api_url, f"sqlite:///{work / f'state-emu-{size}.db'}")
    with two_emulators(work / f"emu-logs-{size}") as emulators:
        onprem_url, cloud_url = emulators["onprem"].url, emulators["cloud"].url
        save_blocks(env, onprem_url, cloud_url)
        ids = asyncio.run(_emulator_tree(onprem_url, name, spec))
        asyncio.run(_emulator_prepare_target(cloud_url, name))
        item = ["--item", f"site:engineering/{name}", "--target", f"Shared/{name}", "--slug", name]
        first = run_measure(["sync-to-cloud", *item], env)
        rows.append(_row("emulators", size, spec, "first sync", first, members))

        async def reset() -> None:
            for url, tenant in ((onprem_url, "-default-"), (cloud_url, "acme.com")):
                rest = Rest(url, tenant)
                await rest.stats(reset=True)
                await rest.aclose()

        async def gets() -> int:
            total = 0
            for url, tenant in ((onprem_url, "-default-"), (cloud_url, "acme.com")):
                rest = Rest(url, tenant)
                total += content_gets(await rest.stats())
                await rest.aclose()
            return total

        asyncio.run(reset())
        quiet = run_measure(["reconcile", "--slug", name, "--profile", str(profile_dir / f"growth-emu-{size}-nochange.txt")], env)
        row = _row("emulators", size, spec, "no change", quiet, members)
        row["files_read"] = asyncio.run(gets())
        rows.append(row)
        changed_files, changed_bytes = asyncio.run(_emulator_change(onprem_url, cloud_url, ids, name, spec))
        asyncio.run(reset())
        changed = run_measure(["reconcile", "--slug", name, "--profile", str(profile_dir / f"growth-emu-{size}-1pct.txt")], env)
        row = _row("emulators", size, spec, "1% changed", changed, members)
        row["files_read"] = asyncio.run(gets())
        row["changed_files"] = changed_files
        row["changed_bytes"] = changed_bytes
        rows.append(row)
    return rows


COLUMNS = [
    ("where", "repositories", ""),
    ("files", "files", ","),
    ("folders", "folders", ","),
    ("run", "run", ""),
    ("seconds", "seconds", ".2f"),
    ("us_per_member", "µs/member", ",.0f"),
    ("growth", "µs/member vs previous size", ""),
    ("rss_peak_mib", "peak RSS MiB", ".0f"),
    ("actions", "actions", ""),
    ("changed_files", "files changed", ""),
    ("files_read", "files read", ""),
    ("bytes_read", "bytes read", ","),
    ("load", "load (1 min)", ".2f"),
]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench growth", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    parser.add_argument("--emulator-sizes", type=int, nargs="*", default=[1_000, 10_000])
    parser.add_argument("--per-folder", type=int, default=25, help="files per folder")
    parser.add_argument("--first-sync-max", type=int, default=10_000, help="larger trees are seeded, not first-synced")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    info = machine()
    print(f"machine: {info}", flush=True)
    rows: list[dict[str, Any]] = []
    with scratch("growth", args.keep) as work:
        profile_dir = work / "profiles"
        profile_dir.mkdir()
        with prefect_server(work / "prefect") as api_url:
            for size in args.sizes:
                rows += local_rows(size, growth_spec(size, args.per_folder), api_url, work, args.first_sync_max, profile_dir)
                print_table("growth so far", [r for r in rows if r["where"] == "local"], COLUMNS)
            for size in args.emulator_sizes:
                rows += emulator_rows(size, growth_spec(size, args.per_folder), api_url, work, profile_dir)
        for where in ("local", "emulators"):
            for run in ("no change", "1% changed"):
                previous = None
                for row in (r for r in rows if r["where"] == where and r["run"] == run):
                    if previous:
                        row["growth"] = f"{row['us_per_member'] / previous:.2f}x"
                    previous = row["us_per_member"]
        table = print_table("Reconcile cost against tree size", rows, COLUMNS)
        profiles = [r for r in rows if r.get("profile") and r["run"] != "first sync"]
        profile_lines = []
        for row in profiles:
            top = ", ".join(f"{p['group']} {p['share']:.0%}" for p in row["profile"][:6])
            profile_lines.append(f"- {row['where']} {row['files']:,} {row['run']}: {top}")
        print("Where the time goes (pyinstrument, self time by layer):\n" + "\n".join(profile_lines), flush=True)
        write_results(
            "growth", {"machine": info, "load_at_end": load_now(), "rows": rows, "table": table, "profiles": profile_lines}
        )

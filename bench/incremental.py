"""Reconcile in O(changes): requests and wall time of an incremental reconcile against a full scan.

Two disk-backed emulators on loopback, 20 ms added latency on every Alfresco request (`PUT /_emulator/faults`)
while a reconcile is measured, none while the state is built. For each size:

1. **state** (not measured): `sync-to-cloud` of an empty folder makes the sync set and its copy; with both
   emulators stopped, the generated tree is written into both stores through the emulator's own `create_node`,
   stamped two hours back (as a tree synced earlier); the member rows are read from both trees over HTTP
   (`python -m bench _measure emulator-seed`); a full reconcile with no latency must then find nothing to do (no
   write request), which checks the rows and sets where the next search starts.
2. **no change**: an incremental reconcile, then a full scan (`ECSYNC_INCREMENTAL_SCANS=false`), each by this
   code and by the code before (`--before-ref`, extracted with `git archive`), requests counted per side by the
   emulators (`/_emulator/stats`).
3. **1% changed**: before each of the same four runs, 1% of the files (a different 1% each time) get new content
   through REST, alternating sides, as two users would.

Every measured run is profiled (pyinstrument, both codes alike, so the ratios carry the same overhead).

Between runs the sync set settles (a reconcile with no latency, not measured, after the search window has
passed), so each measured run sees only its own changes. The search window is `--search-lag` seconds (the
product's default is 300; a reconcile every 5 minutes then sees each change twice, which a benchmark of single
runs would count against whichever run came next).

    python -m bench incremental [--sizes 10000 100000] [--latency-ms 20] [--share 0.01] [--before-ref fc7b900]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.common import (
    KIB,
    ROOT,
    TreeSpec,
    content_for,
    load_now,
    machine,
    prefect_env,
    prefect_server,
    print_table,
    run_measure,
    scratch,
    write_results,
)
from bench.emulators import content_gets

STAMP_AGE_MS = 2 * 3600 * 1000
"""How long ago the seeded tree was written (older than any search window)."""
TENANTS = {"onprem": "-default-", "cloud": "acme.com"}


def spec_for(files: int, per_folder: int) -> TreeSpec:
    """Small files (median 512 bytes, at most 4 KiB): the reconcile reads no content but the changed files."""
    return TreeSpec(files=files, folders=max(1, files // per_folder), min_size=128, median_size=512, max_size=4 * KIB, sigma=1.0)


# ---------------------------------------------------------------------------------------------- the state


def bulk_tree(data_dir: Path, tenant: str, user: str, site: str, names: list[str], spec: TreeSpec) -> int:
    """Write the generated tree below the folder `names` of `site`'s library, straight into a stopped emulator's
    store, through its own `create_node` (names, permissions, clashes checked as over REST). Every node is
    stamped STAMP_AGE_MS ago; folders keep that stamp (their children were added at the same time)."""
    from emulator import repo
    from emulator.store import Store

    store = Store(data_dir)
    try:
        library = store.get_site(tenant, site)
        assert library is not None, f"no site {site} in {data_dir}"
        node = store.get_node(library["doclib_id"])
        for name in names:
            assert node is not None
            node = store.child_by_name(node.id, name)
        assert node is not None, f"no folder {'/'.join(names)} in {site}"
        stamp = store.clock.now_ms() - STAMP_AGE_MS
        made = {"": node}
        with store.tx():
            for i, folder in enumerate(spec.folder_paths()):
                parent, _, leaf = folder.rpartition("/")
                made[folder] = repo.create_node(store, user, made[parent], leaf, "cm:folder", created_at=stamp + i)
            offset = stamp + len(made)
            for j, (path, size) in enumerate(spec.layout()):
                parent, _, leaf = path.rpartition("/")
                data = content_for(path, size, spec.seed)
                blob = store.blobs.write_bytes(data)
                repo.create_node(store, user, made[parent], leaf, "cm:content", blob=blob, size=len(data), created_at=offset + j)
            folders = [(offset, offset, made[f].id) for f in spec.folder_paths()]
            store.db.executemany("UPDATE nodes SET modified_at=?, changed_at=? WHERE id=?", folders)
        return len(made) - 1 + spec.files
    finally:
        store.close()


class Emulators:
    """The two disk-backed emulators of one size, restartable (new ports: the connection blocks are saved again)."""

    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.work = work
        self.env = env
        self.children: dict[str, Any] = {}

    def start(self) -> None:
        from bench.emulators import save_blocks
        from ecsync.processes import start_emulator

        logs = self.work / "logs"
        logs.mkdir(exist_ok=True)
        for side in ("onprem", "cloud"):
            self.children[side] = start_emulator(side, self.work / side, logs / f"{side}.log")
        save_blocks(self.env, self.url("onprem"), self.url("cloud"))

    def stop(self) -> None:
        for child in self.children.values():
            child.stop()
        self.children = {}

    def url(self, side: str) -> str:
        return str(self.children[side].url)

    def rest(self, side: str) -> Any:
        from bench.emulators import Rest

        return Rest(self.url(side), TENANTS[side])

    async def each(self, what: str, *args: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for side in ("onprem", "cloud"):
            rest = self.rest(side)
            try:
                out[side] = await getattr(rest, what)(*args)
            finally:
                await rest.aclose()
        return out

    def latency(self, ms: int) -> None:
        asyncio.run(self.each("set_latency", ms))

    def reset_stats(self) -> None:
        asyncio.run(self.each("stats", True))

    def stats(self) -> dict[str, dict[str, int]]:
        return asyncio.run(self.each("stats"))


def build_state(size: int, spec: TreeSpec, emulators: Emulators, env: dict[str, str], name: str) -> dict[str, Any]:
    """The paired state of a synced `size`-file tree (see the module docstring); returns how long each step took."""
    from ecsync.processes import SYNC_ACCOUNTS

    timings: dict[str, Any] = {}
    started = time.perf_counter()
    emulators.start()

    async def folders() -> None:
        onprem, cloud = emulators.rest("onprem"), emulators.rest("cloud")
        try:
            library = await onprem.by_path("engineering", "")
            await onprem.create_folder(library["id"], name)
            shared = await cloud.by_path("partners", "Shared")
            await cloud.create_folder(shared["id"], name)
        finally:
            await onprem.aclose()
            await cloud.aclose()

    asyncio.run(folders())
    item = ["--item", f"site:engineering/{name}", "--target", f"Shared/{name}", "--slug", name]
    first = run_measure(["sync-to-cloud", *item], env)
    assert first["state"] == "COMPLETED", first
    emulators.stop()
    nodes = bulk_tree(emulators.work / "onprem", "-default-", SYNC_ACCOUNTS["onprem"].user, "engineering", [name], spec)
    bulk_tree(emulators.work / "cloud", "acme.com", SYNC_ACCOUNTS["cloud"].user, "partners", ["Shared", name, name], spec)
    timings["stores_seconds"] = round(time.perf_counter() - started, 1)
    emulators.start()
    seeded = run_measure(
        ["emulator-seed", "--slug", name, "--onprem-url", emulators.url("onprem"), "--cloud-url", emulators.url("cloud")],
        env,
    )
    timings["members"] = seeded["members"]
    timings["nodes_per_side"] = nodes
    emulators.reset_stats()
    check = run_measure(["reconcile", "--slug", name], {**env, "ECSYNC_INCREMENTAL_SCANS": "false"})
    stats = emulators.stats()
    writes = _writes(stats)
    assert check["state"] == "COMPLETED" and writes == 0, f"the seeded state is not in sync: {check}, {writes} writes: {stats}"
    timings["check_full_scan_seconds"] = round(check["seconds"], 1)
    timings["state_seconds"] = round(time.perf_counter() - started, 1)
    return timings


def _writes(stats: dict[str, dict[str, int]]) -> int:
    """Requests that change a repository (a search, or signing in for a ticket, is a POST that changes nothing)."""
    reads = ("GET", "POST /alfresco/api/{tenant}/public/search/", "POST /alfresco/api/{tenant}/public/authentication/")
    return sum(n for routes in stats.values() for route, n in routes.items() if not route.startswith(reads))


# ---------------------------------------------------------------------------------------------- changes


def picks(spec: TreeSpec, share: float, rounds: int) -> list[list[tuple[str, int]]]:
    """`rounds` disjoint sets of `share` of the files, deterministic for the spec."""
    layout = spec.layout()
    count = max(1, round(len(layout) * share))
    order = random.Random(f"{spec.seed}:incremental").sample(range(len(layout)), min(len(layout), count * rounds))
    return [[layout[i] for i in order[r * count : (r + 1) * count]] for r in range(rounds)]


def change(emulators: Emulators, name: str, files: list[tuple[str, int]], spec: TreeSpec, generation: int) -> int:
    """New content for `files` through REST, alternating on-prem and cloud; returns how many were changed."""

    async def run() -> int:
        onprem, cloud = emulators.rest("onprem"), emulators.rest("cloud")
        try:
            roots = {
                "onprem": await onprem.by_path("engineering", name),
                "cloud": await cloud.by_path("partners", f"Shared/{name}/{name}"),
            }
            semaphore = asyncio.Semaphore(8)

            async def one(k: int, path: str, size: int) -> None:
                side = "onprem" if k % 2 == 0 else "cloud"
                rest = onprem if side == "onprem" else cloud
                async with semaphore:
                    node = await rest._json("GET", f"/nodes/{roots[side]['id']}", params={"relativePath": path})
                    await rest.put_content(node["entry"]["id"], content_for(path, size + 1 + k % 97, spec.seed, generation))

            await asyncio.gather(*(one(k, path, size) for k, (path, size) in enumerate(files)))
            return len(files)
        finally:
            await onprem.aclose()
            await cloud.aclose()

    return asyncio.run(run())


# ---------------------------------------------------------------------------------------------- runs


def before_tree(work: Path, ref: str) -> Path:
    """The product's code at `ref` (`git archive`), to run the same reconcile as it was."""
    target = work / f"before-{ref}"
    target.mkdir()
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def launcher(work: Path) -> Path:
    """A folder holding only this checkout's `bench` (a link): a measuring process started there with the older
    code on PYTHONPATH measures that code with this benchmark's own measuring side (same warm-up, same JSON)."""
    folder = work / "launcher"
    folder.mkdir(exist_ok=True)
    link = folder / "bench"
    if not link.exists():
        link.symlink_to(ROOT / "bench", target_is_directory=True)
    return folder


def measure(
    emulators: Emulators,
    env: dict[str, str],
    name: str,
    *,
    scan: str,
    code: Path | None,
    latency_ms: int,
    profile: Path | None = None,
) -> dict[str, Any]:
    """One reconcile at `latency_ms`, its requests per side counted by the emulators."""
    run_env = {**env, "ECSYNC_INCREMENTAL_SCANS": "true" if scan == "incremental" else "false"}
    args = ["reconcile", "--slug", name, "--warm-up"]
    if code is not None:
        run_env["PYTHONPATH"] = str(code)
    if profile is not None:
        args += ["--profile", str(profile)]
    emulators.latency(latency_ms)
    emulators.reset_stats()
    try:
        result = run_measure(args, run_env, cwd=launcher(code.parent) if code is not None else None)
    finally:
        stats = emulators.stats()
        emulators.latency(0)
    return {
        "seconds": round(result["seconds"], 2),
        "requests_onprem": sum(stats["onprem"].values()),
        "requests_cloud": sum(stats["cloud"].values()),
        "routes": stats,
        "writes": _writes(stats),
        "content_gets": sum(content_gets(routes) for routes in stats.values()),
        "state": result["state"],
        "message": result.get("message"),
        "code_path": result.get("code"),
        "rss_peak_mib": round(result["rss_peak_mib"], 1),
        "profile": result.get("profile"),
        "load": load_now(),
    }


def settle(emulators: Emulators, env: dict[str, str], name: str, lag: float) -> None:
    """Past the search window, a reconcile (no latency, not measured) that takes in the previous run's writes."""
    time.sleep(lag + 1)
    done = run_measure(["reconcile", "--slug", name], env)
    assert done["state"] == "COMPLETED", done
    time.sleep(lag + 1)


def size_rows(
    size: int, args: argparse.Namespace, api_url: str, work: Path, before: Path | None, profile_dir: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    spec = spec_for(size, args.per_folder)
    name = f"incr-{size}"
    here = work / name
    here.mkdir()
    env = {
        **prefect_env(api_url, f"sqlite:///{here / 'state.db'}"),
        "ECSYNC_SEARCH_LAG_SECONDS": str(args.search_lag),
        "ECSYNC_FULL_SCAN_EVERY": "1000",
    }
    emulators = Emulators(here, env)
    rows: list[dict[str, Any]] = []
    with_before = before is not None and (args.before_sizes is None or size in args.before_sizes)
    codes: list[tuple[str, Path | None]] = [("this", None)] + ([("before", before)] if with_before else [])
    runs = [(scan, label, code) for scan in ("incremental", "full") for label, code in codes]
    changed_full = args.changed_full_sizes is None or size in args.changed_full_sizes
    changed_runs = [run for run in runs if run[0] == "incremental" or changed_full]
    try:
        state = build_state(size, spec, emulators, env, name)
        print(f"{size:,} files: state built {state}", flush=True)
        settle(emulators, env, name, args.search_lag)
        for scan, label, code in runs:
            profile = profile_dir / f"{name}-nochange-{scan}-{label}.txt"
            row = measure(emulators, env, name, scan=scan, code=code, latency_ms=args.latency_ms, profile=profile)
            rows.append({"files": size, "members": state["members"], "run": "no change", "scan": scan, "code": label, **row})
            print(_line(rows[-1]), flush=True)
            settle(emulators, env, name, args.search_lag)
        for (scan, label, code), files in zip(changed_runs, picks(spec, args.share, len(changed_runs)), strict=True):
            changed = change(emulators, name, files, spec, generation=len(rows) + 1)
            profile = profile_dir / f"{name}-1pct-{scan}-{label}.txt"
            row = measure(emulators, env, name, scan=scan, code=code, latency_ms=args.latency_ms, profile=profile)
            head = {"files": size, "members": state["members"], "run": "1% changed", "scan": scan, "code": label}
            rows.append({**head, "changed": changed, **row})
            print(_line(rows[-1]), flush=True)
            settle(emulators, env, name, args.search_lag)
    finally:
        emulators.stop()
    return rows, state


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['files']:,} {row['run']} {row['scan']} ({row['code']}): {row['seconds']} s, "
        f"{row['requests_onprem']} + {row['requests_cloud']} requests, {row['writes']} writes, {row['state']}"
    )


def ratios(rows: list[dict[str, Any]]) -> None:
    """Incremental against the full scan of the same code; this code against the code before, same scan."""
    for row in rows:
        same = [r for r in rows if r["files"] == row["files"] and r["run"] == row["run"]]
        full = next((r for r in same if r["scan"] == "full" and r["code"] == row["code"]), None)
        if row["scan"] == "incremental" and full:
            row["vs_full_seconds"] = f"{row['seconds'] / full['seconds']:.3f}x"
            mine, theirs = row["requests_onprem"] + row["requests_cloud"], full["requests_onprem"] + full["requests_cloud"]
            row["vs_full_requests"] = f"{mine / max(1, theirs):.3f}x"
        before = next((r for r in same if r["scan"] == row["scan"] and r["code"] == "before"), None)
        if row["code"] == "this" and before:
            row["vs_before_seconds"] = f"{row['seconds'] / before['seconds']:.2f}x"
        if row.get("changed"):
            per_side = max(row["requests_onprem"], row["requests_cloud"])
            row["per_changed"] = round(per_side / row["changed"], 2)


COLUMNS = [
    ("files", "files", ","),
    ("members", "members", ","),
    ("run", "run", ""),
    ("scan", "scan", ""),
    ("code", "code", ""),
    ("seconds", "seconds", ".2f"),
    ("requests_onprem", "requests on-prem", ","),
    ("requests_cloud", "requests cloud", ","),
    ("changed", "files changed", ""),
    ("per_changed", "requests per changed file (busier side)", ""),
    ("writes", "writes", ","),
    ("content_gets", "content GETs", ","),
    ("vs_full_seconds", "time vs full scan", ""),
    ("vs_full_requests", "requests vs full scan", ""),
    ("vs_before_seconds", "time vs before", ""),
    ("rss_peak_mib", "peak RSS MiB", ".0f"),
    ("load", "load (1 min)", ".2f"),
]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench incremental", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--per-folder", type=int, default=25, help="files per folder")
    parser.add_argument("--latency-ms", type=int, default=20, help="added to every Alfresco request of a measured run")
    parser.add_argument("--share", type=float, default=0.01, help="share of the files changed before a 1%% run")
    parser.add_argument("--search-lag", type=float, default=2.0, help="ECSYNC_SEARCH_LAG_SECONDS of every run")
    parser.add_argument("--before-ref", default="fc7b900", help="the code to compare with ('' to skip)")
    parser.add_argument("--before-sizes", type=int, nargs="*", help="sizes at which the older code runs too (default: all)")
    parser.add_argument(
        "--changed-full-sizes", type=int, nargs="*", help="sizes whose 1%% change is also reconciled by full scans (default: all)"
    )
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    info = machine()
    print(f"machine: {info}", flush=True)
    rows: list[dict[str, Any]] = []
    states: dict[int, Any] = {}
    with scratch("incremental", args.keep) as work:
        profile_dir = work / "profiles"
        profile_dir.mkdir()
        before = before_tree(work, args.before_ref) if args.before_ref else None
        with prefect_server(work / "prefect") as api_url:
            for size in args.sizes:
                size_rows_, states[size] = size_rows(size, args, api_url, work, before, profile_dir)
                rows += size_rows_
                ratios(rows)
                print_table("so far", rows, COLUMNS)
        ratios(rows)
        table = print_table(
            f"Incremental reconcile against full scan, {args.latency_ms} ms added latency per request", rows, COLUMNS
        )
        profile_lines = []
        for row in rows:
            if row.get("profile"):
                top = ", ".join(f"{p['group']} {p['share']:.0%}" for p in row["profile"][:6])
                profile_lines.append(f"- {row['files']:,} {row['run']} {row['scan']} ({row['code']}): {top}")
        print("Where the time goes (pyinstrument, self time by layer):\n" + "\n".join(profile_lines), flush=True)
        if args.keep:
            print(f"profiles in {profile_dir}", flush=True)
        write_results(
            "incremental",
            {
                "machine": info,
                "load_at_end": load_now(),
                "args": vars(args),
                "states": states,
                "rows": rows,
                "table": table,
                "profiles": profile_lines,
            },
        )

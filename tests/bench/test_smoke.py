"""Each benchmark entry point runs at a tiny size and writes its JSON; nothing here looks at a time.

They start real Prefect servers and emulators (as the benchmarks do), so they take tens of seconds each;
the point is that `python -m bench <name>` keeps working as the code under it changes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-results")


def run_bench(results: Path, *args: str, timeout: float = 600) -> dict:
    name = args[0]
    target = results / f"{name}.json"
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "ECSYNC_DATABASE_URL")}
    env["ECSYNC_BENCH_RESULTS"] = str(results)
    done = subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert target.exists(), done.stdout[-3000:]
    return json.loads(target.read_text())


def test_help_lists_every_benchmark() -> None:
    done = subprocess.run([sys.executable, "-m", "bench"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in ("overhead", "growth", "incremental", "peers", "streaming", "plot", "sweep"):
        assert name in done.stdout


def test_overhead_tiny(results_dir: Path) -> None:
    result = run_bench(results_dir, "overhead", "--scale", "0.01", "--latencies", "0")
    whos = {row["who"].split()[0] for row in result["rows"]}
    assert whos == {"baseline", "product"}
    assert all(row["state"] == "COMPLETED" and "bytes equal" in row["copied"] for row in result["rows"])


def test_growth_tiny(results_dir: Path) -> None:
    result = run_bench(
        results_dir, "growth", "--sizes", "60", "--emulator-sizes", "30", "--per-folder", "10", "--first-sync-max", "30"
    )
    rows = result["rows"]
    quiet = [r for r in rows if r["run"] == "no change" and r["where"] == "local"]
    assert quiet and quiet[0]["actions"] == 0 and quiet[0]["bytes_read"] == 0
    changed = [r for r in rows if r["run"] == "1% changed" and r["where"] == "local"]
    assert changed[0]["end_state_equal"]
    assert any(r["where"] == "emulators" for r in rows)


def test_incremental_tiny(results_dir: Path) -> None:
    result = run_bench(results_dir, "incremental", "--sizes", "40", "--per-folder", "10", "--search-lag", "0.5")
    rows = result["rows"]
    runs, scans, codes = ("no change", "1% changed"), ("incremental", "full"), ("this", "before")
    assert {(r["run"], r["scan"], r["code"]) for r in rows} == {(a, b, c) for a in runs for b in scans for c in codes}
    assert all(r["state"] == "COMPLETED" for r in rows), [r["message"] for r in rows]
    quiet = [r for r in rows if r["run"] == "no change"]
    assert all(r["writes"] == 0 and r["content_gets"] == 0 for r in quiet)
    changed = [r for r in rows if r["run"] == "1% changed"]
    assert all(r["changed"] == 1 and r["content_gets"] == 1 for r in changed)

    def requests(scan: str) -> int:
        row = next(r for r in quiet if r["scan"] == scan and r["code"] == "this")
        return int(row["requests_onprem"] + row["requests_cloud"])

    assert requests("incremental") < requests("full")


@pytest.mark.skipif(shutil.which("unison") is None, reason="Debian's unison is not installed (see bench/README.md)")
def test_peers_tiny(results_dir: Path) -> None:
    result = run_bench(results_dir, "peers", "--sizes", "40", "--per-folder", "10")
    assert {row["equal"] for row in result["rows"]} == {"yes"}


def test_streaming_tiny(results_dir: Path) -> None:
    result = run_bench(results_dir, "streaming", "--sizes-mib", "1", "2")
    assert [row["copied"] for row in result["rows"]] == ["size equal", "size equal"]


def test_plot_from_results(tmp_path: Path, results_dir: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "plot.png"
    env = {**os.environ, "ECSYNC_BENCH_RESULTS": str(results_dir)}
    subprocess.run([sys.executable, "-m", "bench", "plot", "--out", str(out)], cwd=ROOT, check=True, capture_output=True, env=env)
    assert out.stat().st_size > 0

"""bench/reconcile.png: reconcile time against tree size, this product beside rclone bisync and Unison.

Reads bench/results/growth*.json (this product, local folders: no change and 1% changed at every size) and
bench/results/peers*.json (all three tools at the sizes the peers benchmark ran); a point measured twice is
drawn from the newer file. matplotlib is a
benchmark-only dependency (the `bench` extra); with no results yet it draws an empty frame and says so.

    python -m bench plot [--out bench/reconcile.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench.common import RESULTS


def _load(pattern: str) -> list[dict[str, Any]]:
    """Rows of every results file matching `pattern`; where two files have the same point, the newer wins."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for path in sorted(RESULTS.glob(f"{pattern}.json"), key=lambda p: p.stat().st_mtime):
        for row in json.loads(path.read_text())["rows"]:
            key = (row.get("where"), row.get("tool"), row.get("files"), row.get("run"), row.get("step"))
            rows[key] = row
    return list(rows.values())


def series() -> dict[str, list[tuple[int, float]]]:
    """Label -> [(files, seconds)], sorted by size."""
    lines: dict[str, list[tuple[int, float]]] = {}
    for row in _load("growth*"):
        if row["where"] == "local" and row["run"] in ("no change", "1% changed"):
            lines.setdefault(f"ecsync {row['run']}", []).append((row["files"], row["seconds"]))
    for row in _load("peers*"):
        if row["step"] in ("no change", "1% changed"):
            tool = row["tool"].split(" (")[0]
            if tool.startswith("ecsync"):
                continue  # the product's line comes from growth, which covers every size
            lines.setdefault(f"{tool} {row['step']}", []).append((row["files"], row["seconds"]))
    return {label: sorted(points) for label, points in lines.items()}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench plot", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "reconcile.png")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    lines = series()
    for label, points in lines.items():
        xs, ys = zip(*points, strict=True)
        style = "-o" if label.startswith("ecsync") else "--s"
        axes.plot(xs, ys, style, label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("files in the synced tree")
    axes.set_ylabel("reconcile wall time (s)")
    axes.set_title("Reconcile time against tree size (local folders, 2 cores)")
    axes.grid(True, which="both", alpha=0.3)
    if lines:
        axes.legend(fontsize=8)
    else:
        axes.text(0.5, 0.5, "no results yet: run growth and peers", ha="center", transform=axes.transAxes)
    figure.tight_layout()
    figure.savefig(args.out, dpi=110)
    print(f"plot written to {args.out}")

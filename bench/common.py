"""What every benchmark shares: seeded trees, the machine's description, tables, JSON results, child processes.

Each measurement that reports a peak RSS runs in a process of its own (`python -m bench _measure ...`), so the
figure is that run's own and not the high-water mark of everything measured before it in the same process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("ECSYNC_BENCH_RESULTS") or Path(__file__).resolve().parent / "results")
"""Where JSON results go; the smoke tests point it at a temporary folder so they never replace real figures."""
KIB = 1024
MIB = 1024 * 1024


# ---------------------------------------------------------------------------------------------- trees


@dataclass(frozen=True)
class TreeSpec:
    """A generated tree: `files` files spread evenly over `folders` folders, sizes log-normal and clipped.

    Folders form two levels (about sqrt(folders) top-level folders, the rest below them) so a breadth-first
    scan has more than one level to walk, as a real document library does.
    """

    files: int
    folders: int
    min_size: int = KIB
    max_size: int = 4 * MIB
    median_size: int = 16 * KIB
    sigma: float = 1.6
    seed: int = 20261127

    def folder_paths(self) -> list[str]:
        top = max(1, min(self.folders, round(math.sqrt(self.folders))))
        paths = [f"d{i:03d}" for i in range(top)]
        for j in range(self.folders - top):
            paths.append(f"d{j % top:03d}/s{j // top:03d}")
        return paths

    def layout(self) -> list[tuple[str, int]]:
        """(relative path, size) of every file, deterministic for the seed."""
        rng = random.Random(self.seed)
        folders = self.folder_paths()
        mu = math.log(self.median_size)
        out: list[tuple[str, int]] = []
        for i in range(self.files):
            size = int(min(self.max_size, max(self.min_size, rng.lognormvariate(mu, self.sigma))))
            out.append((f"{folders[i % len(folders)]}/f{i:06d}.bin", size))
        return out

    def total_bytes(self) -> int:
        return sum(size for _path, size in self.layout())


def content_for(path: str, size: int, seed: int, generation: int = 0) -> bytes:
    """Bytes of one file: seeded by its path so every copy of the tree (product, rclone, Unison) is equal."""
    rng = random.Random(f"{seed}:{generation}:{path}")
    return rng.randbytes(size)


def write_tree(root: Path, spec: TreeSpec) -> int:
    """Write the tree under `root` (created); returns the bytes written."""
    root.mkdir(parents=True, exist_ok=True)
    for folder in spec.folder_paths():
        (root / folder).mkdir(parents=True, exist_ok=True)
    total = 0
    for path, size in spec.layout():
        (root / path).write_bytes(content_for(path, size, spec.seed))
        total += size
    return total


def tree_digest(root: Path, ignore_prefixes: Sequence[str] = (".ecsync-", ".unison", ".rclone")) -> dict[str, str]:
    """Relative path -> sha256 of content ("dir" for a folder), tools' own files left out; for end-state checks."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(tuple(ignore_prefixes)))
        rel_dir = os.path.relpath(dirpath, root)
        for d in dirnames:
            found[os.path.normpath(os.path.join(rel_dir, d))] = "dir"
        for name in filenames:
            if name.startswith(tuple(ignore_prefixes)):
                continue
            with open(os.path.join(dirpath, name), "rb") as fh:
                found[os.path.normpath(os.path.join(rel_dir, name))] = hashlib.file_digest(fh, "sha256").hexdigest()
    return found


def trees_equal(a: Path, b: Path) -> tuple[bool, str]:
    """Whether two folders hold the same paths and bytes; the first few differences when not."""
    left, right = tree_digest(a), tree_digest(b)
    if left == right:
        return True, f"{len(left)} entries equal"
    only_left = sorted(set(left) - set(right))[:3]
    only_right = sorted(set(right) - set(left))[:3]
    differ = sorted(k for k in set(left) & set(right) if left[k] != right[k])[:3]
    return False, f"only left {only_left}, only right {only_right}, differ {differ}"


# ---------------------------------------------------------------------------------------------- changes


@dataclass
class ChangeSet:
    """What `apply_changes` did, so a benchmark can say how much a tool had to find."""

    edited: int = 0
    renamed: int = 0
    bytes_written: int = 0


def apply_changes(a: Path, b: Path, spec: TreeSpec, share: float, *, renames: bool, generation: int) -> ChangeSet:
    """Change `share` of the files, alternating sides (a, b): edits (new size, new bytes) and, with `renames`,
    renames within the same folder for half of them. Deterministic for (spec, share, generation).

    Both sides must hold the same synced tree before; the same call on two pairs changes them the same way.
    """
    layout = spec.layout()
    count = max(1, round(len(layout) * share))
    rng = random.Random(f"{spec.seed}:changes:{generation}")
    picked = rng.sample(range(len(layout)), count)
    done = ChangeSet()
    for k, index in enumerate(picked):
        path, size = layout[index]
        side = a if k % 2 == 0 else b
        target = _current_path(side, path)
        if target is None:
            continue
        if renames and k % 4 >= 2:
            target.rename(target.with_name(f"r{generation}-{target.name}"))
            done.renamed += 1
        else:
            data = content_for(path, size + 1 + k % 97, spec.seed, generation)
            target.write_bytes(data)
            done.edited += 1
            done.bytes_written += len(data)
    return done


def _current_path(root: Path, path: str) -> Path | None:
    """The file at `path`, or its renamed form from an earlier generation."""
    candidate = root / path
    if candidate.exists():
        return candidate
    folder = candidate.parent
    matches = sorted(folder.glob(f"r*-{candidate.name}")) if folder.is_dir() else []
    return matches[-1] if matches else None


# ---------------------------------------------------------------------------------------------- machine and load


def machine() -> dict[str, Any]:
    """nproc, memory and load: a figure means little without the machine and what else ran on it."""
    mem_total = 0
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) * KIB
    load1, load5, load15 = os.getloadavg()
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_total / 2**30, 1),
        "load_at_start": [round(load1, 2), round(load5, 2), round(load15, 2)],
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def load_now() -> float:
    return round(os.getloadavg()[0], 2)


def peak_rss_mib() -> float:
    """This process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------------- output


def print_table(title: str, rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """Print (and return) a markdown table; columns are (key, header, format spec)."""
    lines = [f"### {title}", "", "| " + " | ".join(h for _k, h, _f in columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        cells = []
        for key, _header, fmt in columns:
            value = row.get(key)
            cells.append("-" if value is None else format(value, fmt) if fmt else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(text, flush=True)
    print(flush=True)
    return text


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """bench/results/<name>.json (gitignored; RESULTS.md carries the committed tables)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    print(f"results written to {path}", flush=True)
    return path


# ---------------------------------------------------------------------------------------------- processes


def run_measure(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 1800, cwd: Path | None = None
) -> dict[str, Any]:
    """Run `python -m bench _measure ARGS` in its own process; its last stdout line is a JSON object.

    `cwd`: where the process starts (its `bench` package is the one that runs).
    """
    full_env = {**os.environ, **(env or {})}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench", "_measure", *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"measure {args} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1])
    result.setdefault("process_seconds", time.perf_counter() - started)
    return result


@contextlib.contextmanager
def scratch(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A temporary folder for trees, databases and logs (kept with --keep, for a look afterwards)."""
    path = Path(tempfile.mkdtemp(prefix=f"ecsync-bench-{prefix}-"))
    try:
        yield path
    finally:
        if keep:
            print(f"kept {path}", flush=True)
        else:
            subprocess.run(["rm", "-rf", str(path)], check=False)


@contextlib.contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """A real Prefect server on loopback (ARCHITECTURE.md: never the ephemeral one); yields its API URL."""
    from ecsync.processes import start_prefect_server

    server = start_prefect_server(home)
    try:
        yield server.extra["api_url"]
    finally:
        server.stop()


def prefect_env(api_url: str, database_url: str) -> dict[str, str]:
    """Environment of a measuring process: our server, our sync-state database, quick retries."""
    return {
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
        "ECSYNC_DATABASE_URL": database_url,
        "ECSYNC_RETRY_BACKOFF_SECONDS": "0.2",
    }

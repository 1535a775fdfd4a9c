"""Planner cost at 1k, 10k and 100k members with 1% changed: time, tracemalloc peak, peak RSS.

Run `python -m bench.planner`. Each size runs in its own process so the peak RSS is that size's own.
The time/N column shows that cost grows no faster than the number of members. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from connectors.base import Metadata, Node
from sync import BaseRecord, Observation, Options, SideBase, metadata_digest, plan
from vocabulary import MemberKind

FILES_PER_FOLDER = 100
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
META = Metadata()
META_DIGEST = metadata_digest(META)


def build(n: int) -> tuple[list[BaseRecord], Observation, Observation]:
    """A synced folder of `n` members (folders of 100 files), then 1% changed in five ways."""
    records: list[BaseRecord] = []
    on_nodes: dict[str, Node] = {}
    cl_nodes: dict[str, Node] = {}

    def add(member_id: int, name: str, op_parent: str, cl_parent: str, folder: bool, direct: bool = False) -> None:
        op_id, cl_id = f"o{member_id}", f"c{member_id}"
        kind = MemberKind.FOLDER if folder else MemberKind.FILE
        size = 0 if folder else 1000 + member_id % 7
        version = None if folder else "1.0"
        on_nodes[op_id] = Node(op_id, name, op_parent, folder, size, T0, version, metadata=META)
        cl_nodes[cl_id] = Node(cl_id, name, cl_parent, folder, size, T0, version, metadata=META, is_versionable=True)
        records.append(
            BaseRecord(
                member_id,
                kind,
                direct=direct,
                onprem=SideBase(op_id, name, op_parent, size, T0, version, None, META_DIGEST),
                cloud=SideBase(cl_id, name, cl_parent, size, T0, version, None, META_DIGEST),
            )
        )

    add(1, "Root", "library", "target", True, direct=True)
    member_id, folder_id = 1, 1
    while member_id < n:
        member_id += 1
        if (member_id - 2) % (FILES_PER_FOLDER + 1) == 0:
            folder_id = member_id
            add(member_id, f"dir{member_id}", "o1", "c1", True)
        else:
            add(member_id, f"file{member_id}.bin", f"o{folder_id}", f"c{folder_id}", False)
    files = [r for r in records if r.kind == MemberKind.FILE]
    changed = files[:: max(len(files) // max(n // 100, 1), 1)][: max(n // 100, 1)]
    for i, rec in enumerate(changed):
        op, cl = f"o{rec.member_id}", f"c{rec.member_id}"
        way = i % 5
        if way == 0:  # edited on-prem
            node = on_nodes[op]
            on_nodes[op] = Node(node.id, node.name, node.parent_id, False, node.size + 1, T0 + timedelta(1), "1.1")
        elif way == 1:  # edited in the cloud
            node = cl_nodes[cl]
            cl_nodes[cl] = Node(node.id, node.name, node.parent_id, False, node.size + 1, T0 + timedelta(1), "1.1")
        elif way == 2:  # renamed in the cloud
            node = cl_nodes[cl]
            cl_nodes[cl] = Node(node.id, "renamed-" + node.name, node.parent_id, False, node.size, T0, "1.0")
        elif way == 3:  # deleted on-prem
            del on_nodes[op]
        else:  # a new file beside it on-prem
            node = on_nodes[op]
            new = f"onew{rec.member_id}"
            on_nodes[new] = Node(new, "new-" + node.name, node.parent_id, False, 10, T0, "1.0")
    on_listed = frozenset({"library"} | {k for k, v in on_nodes.items() if v.is_folder})
    cl_listed = frozenset({"target"} | {k for k, v in cl_nodes.items() if v.is_folder})
    return records, Observation(on_nodes, on_listed), Observation(cl_nodes, cl_listed)


def measure(n: int) -> dict[str, float]:
    records, onprem, cloud = build(n)
    options = Options()
    started = time.perf_counter()
    result = plan(records, onprem, cloud, target_folder_id="target", options=options, now=T0)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    plan(records, onprem, cloud, target_folder_id="target", options=options, now=T0)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "members": n,
        "actions": len(result.actions),
        "seconds": seconds,
        "tracemalloc_peak_mib": peak / 2**20,
        "rss_peak_mib": rss_kib / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--one", type=int, help="measure one size in this process (used internally)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    print(f"{'members':>8} {'actions':>8} {'plan s':>8} {'us/member':>10} {'ratio':>6} {'tracemalloc MiB':>16} {'RSS MiB':>8}")
    previous: float | None = None
    for n in args.sizes:
        out = subprocess.run([sys.executable, "-m", "bench.planner", "--one", str(n)], check=True, capture_output=True, text=True)
        row = json.loads(out.stdout)
        per = row["seconds"] / n * 1e6
        ratio = f"{per / previous:.2f}" if previous else "-"
        previous = per
        print(
            f"{n:>8} {row['actions']:>8} {row['seconds']:>8.3f} {per:>10.2f} {ratio:>6} "
            f"{row['tracemalloc_peak_mib']:>16.1f} {row['rss_peak_mib']:>8.1f}"
        )
    print("ratio: time per member compared with the previous size (about 1 or less: linear or better)")


if __name__ == "__main__":
    main()

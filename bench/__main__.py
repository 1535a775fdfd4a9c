"""`python -m bench <name> [options]`: one entry point for every benchmark (see bench/README.md).

overhead   sync-to-cloud between two emulators against a no-Prefect baseline making the same HTTP calls
growth     no-change and 1%-changed reconcile at 1k/10k/100k files (local folders; 1k/10k via emulators)
peers      this product against rclone bisync and Unison on the same local trees
incremental  requests and time of incremental reconciles against full scans (emulators, 20 ms latency)
streaming  peak RSS of a 1 GiB transfer against a 64 MiB one
sweep      a sweep of many sync sets through a work pool: fanned out with 1 and 2 workers, and in one run
plot       bench/reconcile.png from the latest growth and peers results
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return
    name, rest = argv[0], argv[1:]
    if name == "_measure":
        from bench import measure

        measure.main(rest)
        return
    import importlib

    modules = {
        "overhead": "bench.overhead",
        "growth": "bench.growth",
        "peers": "bench.peers",
        "streaming": "bench.streaming",
        "incremental": "bench.incremental",
        "plot": "bench.plot",
        "sweep": "bench.sweep",
    }
    if name not in modules:
        raise SystemExit(f"unknown benchmark {name!r}; one of {', '.join(modules)}")
    importlib.import_module(modules[name]).main(rest)


if __name__ == "__main__":
    main(sys.argv[1:])

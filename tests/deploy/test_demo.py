"""`make demo`'s own entry point, run non-interactively twice on one data folder.

The first start sets everything up and syncs the sample folder and one change each way; the second start
reuses the data folder and finds the sync set instead of creating it again. After each, every port the demo
used is closed: Ctrl-C (here: the end of `--once`) stops every child process.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from ecsync.processes import free_port, port_is_open
from tests.deploy.support import PROJECT_ROOT, clean_env


def _run_demo(data_dir: Path, ports: list[int]) -> str:
    argv = [sys.executable, "-m", "ecsync", "demo", "--once", "--interval", "5", "--data-dir", str(data_dir)]
    argv += ["--prefect-port", str(ports[0]), "--onprem-port", str(ports[1]), "--cloud-port", str(ports[2])]
    process = subprocess.Popen(
        argv,
        cwd=PROJECT_ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        stdin=subprocess.DEVNULL,
    )
    try:
        output, _ = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)  # Ctrl-C, so the demo stops its children (a SIGKILL would orphan them)
        output, _ = process.communicate(timeout=60)
        raise AssertionError(f"demo did not finish within 300 s:\n{output}") from None
    logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted((data_dir / "logs").glob("*.log")))
    assert process.returncode == 0, f"demo exited {process.returncode}:\n{output}\n{logs}"
    for port in ports:
        assert not port_is_open(port), f"port {port} still open after the demo stopped:\n{output}"
    return output


def test_demo_twice_on_one_data_folder(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ports = [free_port() for _ in range(3)]

    first = _run_demo(data_dir, ports)
    assert "✓ Sample folder synced: 15 of 15 items of engineering-specs are synced" in first, first
    # The bar counts items done of items planned (the run's progress artifact), not task runs.
    assert "15/15 items" in first, first
    assert "✓ On-prem change synced: the cloud copy of spec-001.md has the edit" in first, first
    assert "✓ Cloud change synced: Partner feedback" in first, first
    assert "Sync Info: spec-001.md" in first and "Status: Synced" in first, first
    assert "Demo complete." in first, first
    assert (data_dir / "prefect" / "prefect.db").is_file()
    assert (data_dir / "sync-state.db").is_file()
    assert not (data_dir / "prefect" / "api-url").exists()
    # The server asked for a password generated into the data folder, readable by its owner only (issue 17 item 8).
    for secret in ("prefect-api-auth", "prefect-encryption-key"):
        assert (data_dir / "secrets" / secret).stat().st_mode & 0o077 == 0
    assert (data_dir / "secrets").stat().st_mode & 0o077 == 0
    assert "source .venv/bin/activate && source" in first and "ecsync.env" in first, first
    assert not (data_dir / "ecsync.env").exists(), "the shell file names a server that is gone"

    second = _run_demo(data_dir, ports)
    assert "exists from an earlier start: reconciling it, not creating it again" in second, second
    # The earlier start's pulled file is now a member too: 15 items plus one per start.
    assert "✓ Sample folder synced: 16 of 16 items" in second, second
    assert "✓ On-prem change synced" in second and "✓ Cloud change synced" in second, second
    assert "Demo complete." in second, second

"""Child processes the product runs on one machine: a Prefect server and Alfresco emulators.

The demo and the tests start them the same way. Each child gets its own process group so a stop reaches
everything it spawned (uvicorn workers included) and nothing is left listening.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ecsync.server_secrets import ServerSecrets

PREFECT_SERVER_ENV = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "100",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
    "PREFECT_UI_ENABLED": "true",
}
"""ARCHITECTURE.md's server settings: batch the task-run recorder so run history keeps up."""


@dataclass(frozen=True)
class Account:
    """A user of a seeded emulator (see emulator/seed.py) and its password."""

    user: str
    password: str


SYNC_ACCOUNTS = {"onprem": Account("sync", "sync"), "cloud": Account("sync@acme.com", "sync")}
"""What the sync acts as against the seeded emulators: ordinary members, not administrators. On-prem `sync` is a
SiteManager of engineering (the sync deletes and moves content other people made, which takes a Coordinator);
in the cloud `sync@acme.com` is a member of network acme.com and a SiteCollaborator of partners, like the person
whose cloud account Hybrid Sync uses."""
PEOPLE = {"onprem": Account("alice", "alice"), "cloud": Account("bob@acme.com", "bob")}
"""Other people of each side (SiteCollaborators), who edit through Alfresco's API in the demo."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@dataclass
class Child:
    """A started child process and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the whole process group, then SIGKILL what did not go."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def die_with_parent() -> None:
    """In the child, before exec: SIGTERM it if its parent dies without cleaning up (SIGKILL, a crash).

    A child in its own process group gets no Ctrl-C from the terminal, so this is its only link to the parent:
    without it a killed test run or demo leaves servers listening.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _spawn(name: str, argv: list[str], log_path: Path, env: Mapping[str, str], url: str) -> Child:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    process = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=dict(env),
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    log.close()
    return Child(name=name, process=process, url=url, log_path=log_path)


def wait_healthy(child: Child, path: str, timeout: float) -> None:
    """Poll `url + path` until it answers 200; fail with the child's log if it dies or never answers."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}")
        try:
            response = httpx.get(child.url + path, timeout=2)
            if response.status_code == 200:
                return
            last_error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last_error = str(exc)
        time.sleep(0.25)
    child.stop()
    raise RuntimeError(f"{child.name} not healthy after {timeout:.0f}s ({last_error}):\n{child.log_tail()}")


def start_prefect_server(
    home: Path, port: int | None = None, *, timeout: float = 90, secrets: ServerSecrets | None = None
) -> Child:
    """A real Prefect server (SQLite under `home`), bound to 127.0.0.1, with run history kept.

    With `secrets`, every API call but the health check needs the auth string, and the blocks' encryption key
    comes from the environment instead of being stored in Prefect's own database (see ecsync/server_secrets.py).
    """
    port = port or free_port()
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **PREFECT_SERVER_ENV, "PREFECT_HOME": str(home.resolve())}
    for name in ("PREFECT_SERVER_API_AUTH_STRING", "PREFECT_SERVER_ENCRYPTION_KEY", "PREFECT_API_AUTH_STRING"):
        env.pop(name, None)
    if secrets is not None:
        env.update(secrets.server_env())
    env.pop("PREFECT_API_URL", None)
    env.setdefault("PREFECT_UI_API_URL", f"http://127.0.0.1:{port}/api")  # else the UI looks for the API on 4200
    env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = env.get(
        "ECSYNC_PREFECT_DATABASE_URL", f"sqlite+aiosqlite:///{(home / 'prefect.db').resolve()}"
    )
    argv = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    child = _spawn("prefect-server", argv, home / "server.log", env, f"http://127.0.0.1:{port}")
    child.extra["api_url"] = f"{child.url}/api"
    if secrets is not None:
        child.extra["auth_string"] = secrets.auth_string
    wait_healthy(child, "/api/health", timeout)
    return child


def start_emulator(
    seed: str, data_dir: Path | None, log_path: Path, port: int | None = None, *, extra_args: list[str] | None = None
) -> Child:
    """An Alfresco emulator (`python -m emulator`) on loopback, seeded `onprem`, `cloud` or `none`."""
    port = port or free_port()
    argv = [sys.executable, "-m", "emulator", "--host", "127.0.0.1", "--port", str(port), "--seed", seed]
    if data_dir is not None:
        argv += ["--data", str(data_dir)]
    argv += extra_args or []
    child = _spawn(f"emulator-{seed}", argv, log_path, os.environ, f"http://127.0.0.1:{port}")
    _wait_port(child, port, 60)
    return child


def _wait_port(child: Child, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}")
        if port_is_open(port):
            return
        time.sleep(0.1)
    child.stop()
    raise RuntimeError(f"{child.name} did not listen on {port} within {timeout:.0f}s:\n{child.log_tail()}")

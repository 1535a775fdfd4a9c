"""The Prefect server's two secrets: the API's password and the key that encrypts the connection blocks.

Without an auth string anyone who reaches the API reads both connection passwords in clear
(`POST /api/block_documents/filter` with `include_secrets`) and can start an unsync with `remove_from_cloud`.
Without `PREFECT_SERVER_ENCRYPTION_KEY` Prefect generates the key on first use and stores it in its own
database, beside the block documents it encrypts, so a copy of `prefect.db` is a copy of the passwords.

Both are generated once, with the operating system's randomness, into a folder of their own (mode 0700,
files 0600) under the data folder, away from Prefect's home, and handed to the server and its clients as
environment variables (`PREFECT_SERVER_API_AUTH_STRING`, `PREFECT_SERVER_ENCRYPTION_KEY`,
`PREFECT_API_AUTH_STRING`).
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SECRETS_FOLDER = "secrets"
"""Under the data folder; never inside Prefect's home (`data/prefect`), where its database lives."""

AUTH_FILE = "prefect-api-auth"
KEY_FILE = "prefect-encryption-key"
API_USER = "ecsync"
"""The user part of the basic-auth string: Prefect compares the whole `user:password` string."""


@dataclass(frozen=True)
class ServerSecrets:
    """What the server needs (both) and what every client needs (the auth string)."""

    auth_string: str
    encryption_key: str

    def server_env(self) -> dict[str, str]:
        return {"PREFECT_SERVER_API_AUTH_STRING": self.auth_string, "PREFECT_SERVER_ENCRYPTION_KEY": self.encryption_key}

    def client_env(self) -> dict[str, str]:
        return {"PREFECT_API_AUTH_STRING": self.auth_string}


def secrets_folder(data_dir: Path) -> Path:
    return data_dir / SECRETS_FOLDER


def load_or_create(data_dir: Path) -> ServerSecrets:
    """The data folder's secrets, generated on first use and kept for every later start."""
    folder = secrets_folder(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    auth = _read_or_write(folder / AUTH_FILE, lambda: f"{API_USER}:{secrets.token_urlsafe(32)}")
    key = _read_or_write(folder / KEY_FILE, lambda: base64.urlsafe_b64encode(os.urandom(32)).decode())
    return ServerSecrets(auth_string=auth, encryption_key=key)


def read_auth_string(data_dir: Path) -> str | None:
    """The data folder's auth string if one was made (for `ecsync info` beside a running demo)."""
    try:
        return (secrets_folder(data_dir) / AUTH_FILE).read_text().strip() or None
    except OSError:
        return None


def _read_or_write(path: Path, make: Callable[[], str]) -> str:
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        value = ""
    if value:
        return value
    value = make()
    # Created with mode 0600: the secret is never readable by others, not even for a moment.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value + "\n")
    path.chmod(0o600)
    return value

"""Fixtures for the connector tests: a fresh local repository per test, and a folder beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.local import LocalRepository


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "share"
    folder.mkdir()
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the root that no operation may touch."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_bytes(b"secret")
    return folder


@pytest.fixture
def repo(root: Path) -> LocalRepository:
    return LocalRepository(root, label="local")

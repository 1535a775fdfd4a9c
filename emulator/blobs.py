"""Content bytes on disk, one immutable file per written version.

Immutability lets versions and copies share a blob without reference juggling, and lets a download keep
streaming a file while a concurrent upload writes the node's next version to a new blob.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from pathlib import Path
from typing import BinaryIO


class Blobs:
    def __init__(self, root: Path | None) -> None:
        # No root means "in memory": a temp dir that lives as long as this object.
        self._tmp = tempfile.TemporaryDirectory(prefix="emulator-blobs-") if root is None else None
        self.root = Path(self._tmp.name) if self._tmp else root
        assert self.root is not None
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, blob_id: str) -> Path:
        return self.root / blob_id[:2] / blob_id

    def open_new(self) -> tuple[str, BinaryIO]:
        blob_id = uuid.uuid4().hex
        p = self.path(blob_id)
        p.parent.mkdir(exist_ok=True)
        return blob_id, open(p, "wb")

    def write_bytes(self, data: bytes) -> str:
        blob_id, f = self.open_new()
        with f:
            f.write(data)
        return blob_id

    def discard(self, blob_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(blob_id))

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()

"""Bytes from one repository to the other, hashed on the way, never held whole in memory."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator


class HashingStream:
    """Wraps a chunk stream and computes its SHA-256 and size as the consumer reads it.

    The hash is what we record as the base of both sides: Alfresco offers no content hash, so the bytes we
    move are the only place to take one.
    """

    def __init__(self, source: AsyncIterable[bytes]) -> None:
        self._source = source
        self._hash = hashlib.sha256()
        self.size = 0
        self.finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._source:
            self._hash.update(chunk)
            self.size += len(chunk)
            yield chunk
        self.finished = True

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


async def hash_stream(source: AsyncIterable[bytes]) -> tuple[str, int]:
    """SHA-256 and size of a stream, reading it to the end."""
    digest = hashlib.sha256()
    size = 0
    async for chunk in source:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size

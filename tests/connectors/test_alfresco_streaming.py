"""20 MiB goes up and comes down without the client ever holding the whole body in memory.

The upload goes to a transport that drains the request stream chunk by chunk (respx and httpx's
MockTransport read the whole body first, which would hide the very thing measured here); the download
comes from a respx route whose body is generated chunk by chunk. tracemalloc's peak must stay far below
the file size.
"""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from collections.abc import AsyncIterator

import httpx
import respx

from connectors.alfresco import AlfrescoRepository
from tests.connectors.alfresco_fixtures import BASE, CORE, PASSWORD, USERNAME, api, node_entry

__all__ = ["api"]  # fixture, imported for pytest

SIZE = 20 * 1024 * 1024
CHUNK = 64 * 1024
PEAK_LIMIT = 4 * 1024 * 1024


async def generated(size: int = SIZE, chunk: int = CHUNK) -> AsyncIterator[bytes]:
    """Deterministic bytes, made one chunk at a time."""
    for index in range(size // chunk):
        yield index.to_bytes(4, "big") * (chunk // 4)


async def expected_digest() -> str:
    digest = hashlib.sha256()
    async for piece in generated():
        digest.update(piece)
    return digest.hexdigest()


class DrainingTransport(httpx.AsyncBaseTransport):
    """Answers the ticket call, and drains an upload's body chunk by chunk, hashing it."""

    def __init__(self) -> None:
        self.received = 0
        self.largest_chunk = 0
        self.digest = hashlib.sha256()
        self.content_type = ""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tickets"):
            return httpx.Response(201, json={"entry": {"id": "TICKET_x", "userId": USERNAME}})
        self.content_type = request.headers.get("content-type", "")
        assert isinstance(request.stream, httpx.AsyncByteStream)
        async for piece in request.stream:
            self.received += len(piece)
            self.largest_chunk = max(self.largest_chunk, len(piece))
            self.digest.update(piece)
        entry = node_entry("n1", "big.bin", content={"mimeType": "application/octet-stream", "sizeInBytes": SIZE})
        return httpx.Response(201, content=json.dumps({"entry": entry}).encode())


async def test_a_20_mib_upload_streams_without_buffering() -> None:
    sink = DrainingTransport()
    repository = AlfrescoRepository(base_url=BASE, username=USERNAME, password=PASSWORD, transport=sink)
    tracemalloc.start()
    try:
        node = await repository.upload("p1", "big.bin", generated())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await repository.aclose()

    assert node.size == SIZE
    assert sink.content_type.startswith("multipart/form-data; boundary=")
    assert SIZE < sink.received < SIZE + 4096  # the file plus a few hundred bytes of form framing
    assert sink.largest_chunk <= CHUNK
    assert peak < PEAK_LIMIT, f"peak {peak} bytes while uploading {SIZE}"


async def test_a_20_mib_content_update_streams_without_buffering() -> None:
    sink = DrainingTransport()
    repository = AlfrescoRepository(base_url=BASE, username=USERNAME, password=PASSWORD, transport=sink)
    tracemalloc.start()
    try:
        await repository.update_content("n1", generated())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await repository.aclose()

    assert sink.received == SIZE
    assert sink.digest.hexdigest() == await expected_digest()
    assert peak < PEAK_LIMIT, f"peak {peak} bytes while uploading {SIZE}"


class GeneratedBody(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for piece in generated():
            yield piece


async def test_a_20_mib_download_streams_without_buffering(api: respx.MockRouter) -> None:
    api.get(f"{CORE}/nodes/n1/content").mock(side_effect=lambda request: httpx.Response(200, stream=GeneratedBody()))
    repository = AlfrescoRepository(base_url=BASE, username=USERNAME, password=PASSWORD)
    digest = hashlib.sha256()
    received = 0
    tracemalloc.start()
    try:
        async for piece in repository.download("n1"):
            received += len(piece)
            digest.update(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await repository.aclose()

    assert received == SIZE
    assert digest.hexdigest() == await expected_digest()
    assert peak < PEAK_LIMIT, f"peak {peak} bytes while downloading {SIZE}"

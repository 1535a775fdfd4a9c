"""A multipart/form-data body streamed from an async iterable.

httpx builds multipart bodies only from bytes or synchronous files, which would hold a whole upload in
memory (or force a temporary file). This generator writes the form fields, then passes the file's chunks
straight through, so memory stays at one chunk whatever the file size.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterable, AsyncIterator, Mapping


def new_boundary() -> str:
    return f"ecsync-{secrets.token_hex(16)}"


def content_type(boundary: str) -> str:
    return f"multipart/form-data; boundary={boundary}"


def _quote(value: str) -> str:
    """Header-safe quoting for a Content-Disposition parameter (what browsers do for form fields)."""
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _field(boundary: str, name: str, value: str) -> bytes:
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'
    return head.encode("utf-8") + value.encode("utf-8") + b"\r\n"


async def multipart_body(
    boundary: str,
    fields: Mapping[str, str],
    file_field: str,
    file_name: str,
    file_type: str,
    content: AsyncIterable[bytes],
) -> AsyncIterator[bytes]:
    """Yield the form fields, then the file part chunk by chunk, then the closing boundary."""
    for name, value in fields.items():
        yield _field(boundary, name, value)
    yield (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{_quote(file_field)}"; filename="{_quote(file_name)}"\r\n'
        f"Content-Type: {file_type}\r\n\r\n"
    ).encode()
    async for chunk in content:
        if chunk:
            yield bytes(chunk)
    yield f"\r\n--{boundary}--\r\n".encode()

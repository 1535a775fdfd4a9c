"""Streaming request bodies to blobs: raw bodies (PUT content) and multipart uploads.

Bytes go straight from the socket to a blob file in chunks, never whole into memory, and the per-network
size limit is enforced while streaming so that an oversized upload fails fast with 413.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from emulator.blobs import Blobs
from emulator.errors import ApiError

MAX_FIELD_BYTES = 64 * 1024


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    blob: str | None = None
    size: int = 0
    filename: str | None = None
    content_type: str | None = None


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"Content size exceeds the limit of {limit} bytes", "framework.exception.ContentLimitViolation")


async def stream_body(request: Request, blobs: Blobs, size_limit: int) -> tuple[str, int]:
    """PUT content: the raw body into a new blob; returns (blob id, size)."""
    declared = request.headers.get("content-length")
    if size_limit >= 0 and declared and declared.isdigit() and int(declared) > size_limit:
        raise _too_large(size_limit)
    blob, f = blobs.open_new()
    size = 0
    try:
        with f:
            async for chunk in request.stream():
                size += len(chunk)
                if size_limit >= 0 and size > size_limit:
                    raise _too_large(size_limit)
                f.write(chunk)
    except BaseException:
        blobs.discard(blob)
        raise
    return blob, size


async def parse_multipart(request: Request, blobs: Blobs, size_limit: int) -> Upload:
    """Parse `multipart/form-data`; the `filedata` part is written to a blob as it arrives."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise ApiError(415, "Expected multipart/form-data with a boundary", "framework.exception.UnsupportedMediaType")
    up = Upload()
    cur: dict[str, object] = {}
    header_field = bytearray()
    header_value = bytearray()
    headers: dict[str, bytes] = {}
    buf = bytearray()
    file_handle = None

    def on_part_begin() -> None:
        headers.clear()
        buf.clear()
        cur.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(header_field).lower().decode("latin-1")] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        nonlocal file_handle
        _, disp = parse_options_header(headers.get("content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        cur["name"] = name
        if name == "filedata":
            if up.blob is not None:
                raise ApiError(400, "Only one filedata part is allowed")
            up.filename = disp.get(b"filename", b"").decode("utf-8", "replace") or None
            up.content_type = headers.get("content-type", b"").decode("latin-1") or None
            up.blob, file_handle = blobs.open_new()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if cur.get("name") == "filedata" and file_handle is not None:
            up.size += end - start
            if size_limit >= 0 and up.size > size_limit:
                raise _too_large(size_limit)
            file_handle.write(data[start:end])
        else:
            buf.extend(data[start:end])
            if len(buf) > MAX_FIELD_BYTES:
                raise ApiError(400, f"Form field {cur.get('name')} is too large")

    def on_part_end() -> None:
        nonlocal file_handle
        if cur.get("name") == "filedata" and file_handle is not None:
            file_handle.close()
            file_handle = None
        elif cur.get("name"):
            up.fields[str(cur["name"])] = buf.decode("utf-8", "replace")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except BaseException as e:
        if file_handle is not None:
            file_handle.close()
        if up.blob:
            blobs.discard(up.blob)
        if isinstance(e, ApiError):
            raise
        if isinstance(e, Exception):
            raise ApiError(400, f"Malformed multipart body: {e}") from e
        raise
    return up

"""Opening the two repositories of a sync set from their connection blocks.

A run opens each repository once (one connection pool per repository per run) and closes it at the end;
tasks receive the open repository, never credentials.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from connectors.base import Repository


class ConnectionMissing(LookupError):
    """No connection block of that name: nothing was opened, nothing changed."""


RepositoryOpener = Callable[[str, str, str | None], Any]
"""(connection name, label, tenant override) -> Repository (or an awaitable of one)."""

_override: RepositoryOpener | None = None


def set_repository_opener(opener: RepositoryOpener | None) -> None:
    """Let an embedding program (a benchmark, the local-folder mode) open repositories without blocks."""
    global _override
    _override = opener


async def _load_block(name: str) -> Any:
    from connectors.blocks import AlfrescoConnection, LocalFolderConnection

    if "/" in name:
        from prefect.blocks.core import Block

        return await Block.aload(name)
    errors: list[str] = []
    for block_type in (AlfrescoConnection, LocalFolderConnection):
        try:
            return await block_type.aload(name)
        except ValueError as exc:  # not a block of this type
            errors.append(str(exc))
    raise ConnectionMissing(
        f"No connection block named {name!r}: save one with `python -m ecsync register-blocks` (see the README), "
        "or in the Prefect UI under Blocks (Alfresco Connection), then run again"
    )


async def open_repository(connection: str, label: str, tenant: str | None = None) -> Repository:
    """The repository behind a connection block; `tenant` selects a cloud network."""
    if _override is not None:
        opened = _override(connection, label, tenant)
        if hasattr(opened, "__await__"):
            opened = await opened
        return opened
    block = await _load_block(connection)
    if tenant is not None and hasattr(block, "tenant"):
        block = block.model_copy(update={"tenant": tenant})
    return block.repository(label)


@asynccontextmanager
async def opened_repositories(
    onprem_connection: str, cloud_connection: str, network: str | None
) -> AsyncIterator[tuple[Repository, Repository]]:
    onprem = await open_repository(onprem_connection, "onprem")
    try:
        cloud = await open_repository(cloud_connection, "cloud", network)
        try:
            yield onprem, cloud
        finally:
            await cloud.aclose()
    finally:
        await onprem.aclose()

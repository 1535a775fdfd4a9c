"""Walks Alfresco's skipCount/maxItems collections, one page at a time, with guards.

A truncated listing would look to the planner like deleted nodes, so a server that misbehaves (never says
"no more items", ignores skipCount, repeats a page) fails the listing loudly instead of being cut short.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from connectors.errors import RepositoryError, TechnicalReport

FetchPage = Callable[[int, int], Awaitable[dict[str, Any]]]
"""(skipCount, maxItems) -> the response's `list` object."""


class PagingError(RepositoryError):
    """The server's paging does not terminate or does not advance; the listing cannot be trusted."""


async def pages(operation: str, fetch: FetchPage, *, page_size: int, max_pages: int) -> AsyncIterator[list[dict[str, Any]]]:
    """Yield each non-empty page's `entry` objects until hasMoreItems is false or a page is empty."""
    skip = 0
    previous_ids: list[Any] | None = None
    for _ in range(max_pages):
        listing = await fetch(skip, page_size)
        pagination = listing.get("pagination") or {}
        entries = [item.get("entry", {}) for item in listing.get("entries") or []]
        echoed = pagination.get("skipCount")
        if echoed is not None and int(echoed) != skip:
            raise PagingError(
                f"{operation}: asked for skipCount {skip}, the server answered skipCount {echoed}",
                TechnicalReport(operation=operation),
            )
        if not entries:
            return
        ids = [entry.get("id") for entry in entries]
        if ids == previous_ids:
            raise PagingError(
                f"{operation}: the server returned the same page again at skipCount {skip}",
                TechnicalReport(operation=operation),
            )
        previous_ids = ids
        yield entries
        if not pagination.get("hasMoreItems", False):
            return
        skip += len(entries)
    raise PagingError(
        f"{operation}: more than {max_pages} pages; stopping rather than trusting a listing that never ends",
        TechnicalReport(operation=operation),
    )

"""`POST .../search/versions/1/search`: AFTS subset, with an optional index lag like Solr's."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator import rules
from emulator.afts import compile_query
from emulator.context import api, caller, json_body, ok, state
from emulator.errors import ApiError
from emulator.serialize import node_entry, paged

SEARCH = "/alfresco/api/{tenant}/public/search/versions/1/search"
SORT_FIELDS = {"cm:modified": "modified_at", "cm:created": "created_at", "cm:name": "name"}


def _int(value: Any, name: str, default: int, minimum: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ApiError(400, f"Invalid {name}: {value}")
    return value


@api
async def search(request: Request) -> Response:
    c = caller(request)
    st = state(request)
    store = st.store
    body = await json_body(request)
    query = body.get("query")
    if not isinstance(query, dict) or not isinstance(query.get("query"), str):
        raise ApiError(400, "query.query is mandatory")
    if query.get("language", "afts") not in ("afts", "lucene"):
        raise ApiError(400, f"Unsupported query language: {query.get('language')}")
    page = body.get("paging") or {}
    max_items = _int(page.get("maxItems"), "maxItems", 100, 1)
    skip = _int(page.get("skipCount"), "skipCount", 0, 0)
    include = {i for i in (body.get("include") or []) if isinstance(i, str)}
    now = store.clock.wall_ms()
    pred, bounds = compile_query(store, query["query"], now)
    visible_before = now - st.search_lag_ms
    hits = [
        n
        for n in store.nodes_modified_since(c.tenant, bounds.since, bounds.until, bounds.parent)
        if (not st.search_lag_ms or n.changed_at <= visible_before)
        and n.parent_id is not None
        and pred(n)
        and rules.can_read(store, c.user, n)
    ]
    sort = body.get("sort") or [{"field": "cm:modified", "ascending": True}]
    for spec in reversed(sort):
        col = SORT_FIELDS.get(spec.get("field", ""), "modified_at") if isinstance(spec, dict) else "modified_at"
        hits.sort(
            key=lambda n, col=col: getattr(n, col),
            reverse=not (isinstance(spec, dict) and spec.get("ascending", False)),
        )
    window = hits[skip : skip + max_items]
    entries = [{**node_entry(store, n, c.user, include), "search": {"score": 1.0}} for n in window]
    result = paged(entries, skip, max_items, len(hits))
    result["list"]["context"] = {"consistency": {"lastTxId": store.clock.wall_ms()}}
    return ok(result)


def routes() -> list[Route]:
    return [Route(SEARCH, search, methods=["POST"])]

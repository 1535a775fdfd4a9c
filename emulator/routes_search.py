"""`POST .../search/versions/1/search`: AFTS subset, with an optional index lag like Solr's."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from emulator import rules
from emulator.afts import compile_query
from emulator.context import Payload, Reply, api, caller, json_body, state
from emulator.errors import ApiError
from emulator.serialize import node_entry, paged
from emulator.store import Node

SEARCH = "/alfresco/api/{tenant}/public/search/versions/1/search"
SORT_FIELDS = {"cm:modified": "modified_at", "cm:created": "created_at", "cm:name": "name", "cm:content.size": "size"}


def _int(value: Any, name: str, default: int, minimum: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ApiError(400, f"Invalid {name}: {value}")
    return value


def _strings(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"{name} must be a list of strings")
    return value


def _sort(hits: list[tuple[Node, float]], spec: Any) -> list[tuple[Node, float]]:
    """`sort`: FIELD (cm:modified, cm:created, cm:name, cm:content.size), SCORE or DOCUMENT (index order), each
    descending unless `ascending`. Without `sort`, relevance: by score, best first, ties in index order
    (SearchMapper: the default sort is the score)."""
    if spec is None:
        return sorted(hits, key=lambda h: -h[1])
    if not isinstance(spec, list) or not all(isinstance(s, dict) for s in spec):
        raise ApiError(400, "sort must be a list of sort definitions")
    ordered = list(hits)
    for item in reversed(spec):
        kind = str(item.get("type", "FIELD")).upper()
        ascending = bool(item.get("ascending", False))
        if kind == "SCORE":
            ordered.sort(key=lambda h: h[1], reverse=not ascending)
        elif kind == "DOCUMENT":
            if not ascending:
                ordered.reverse()
        elif kind == "FIELD":
            column = SORT_FIELDS.get(str(item.get("field", "")))
            if column is None:
                raise ApiError(400, f"Unsupported sort field: {item.get('field')}")
            ordered.sort(key=lambda h, col=column: getattr(h[0], col), reverse=not ascending)
        else:
            raise ApiError(400, f"Unsupported sort type: {kind}")
    return ordered


@api
async def search(request: Request) -> Reply:
    """The query and every `filterQueries` entry must match (filters do not change the score); `include` and
    `fields` of the body shape each entry as the same parameters of the core API do."""
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
    include = set(_strings(body, "include"))
    fields = _strings(body, "fields")
    filters = body.get("filterQueries") or []
    if not isinstance(filters, list) or not all(isinstance(f, dict) and isinstance(f.get("query"), str) for f in filters):
        raise ApiError(400, "filterQueries must be a list of {query}")
    now = store.clock.wall_ms()
    main = compile_query(store, query["query"], now)
    narrowing = [compile_query(store, f["query"], now) for f in filters]
    bounds = main.bounds
    for extra in narrowing:
        bounds = bounds.narrow(extra.bounds)
    visible_before = now - st.search_lag_ms
    hits: list[tuple[Node, float]] = []
    for n in store.nodes_modified_since(c.tenant, bounds.since, bounds.until, bounds.parent):
        if (st.search_lag_ms and n.changed_at > visible_before) or n.parent_id is None:
            continue
        score = main.query(n)
        if score is None or any(f.query(n) is None for f in narrowing) or not rules.can_read(store, c.user, n):
            continue
        hits.append((n, score))
    hits = _sort(hits, body.get("sort"))
    window = hits[skip : skip + max_items]
    entries = [{**node_entry(store, n, c.user, include), "search": {"score": score}} for n, score in window]
    result = paged(entries, skip, max_items, len(hits))
    result["list"]["context"] = {"consistency": {"lastTxId": store.clock.wall_ms()}}
    return Payload(result, fields=fields, include=include)


def routes() -> list[Route]:
    return [Route(SEARCH, search, methods=["POST"])]

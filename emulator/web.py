"""Minimal read-only Share-like pages, so that a "View in Cloud" link opens a real page.

No authentication: the emulator is a local stand-in, and these pages only show names and sizes.
"""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from emulator.clock import fmt
from emulator.store import Node, Store


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    head = f"<head><meta charset='utf-8'><title>{escape(title)}</title></head>"
    html = f"<!doctype html><html>{head}<body><h1>{escape(title)}</h1>{body}</body></html>"
    return HTMLResponse(html, status_code=status)


def _site(request: Request) -> tuple[Store, dict | None]:
    store: Store = request.app.state.emulator.store
    network = request.path_params.get("network")
    site_id = request.path_params["site"]
    site = (
        store.get_site(network, site_id)
        if network
        else store.get_site("-default-", site_id) or store.find_site_any_tenant(site_id)
    )
    return store, site


def _link(request: Request, site: dict, node: Node) -> str:
    prefix = f"/{request.path_params['network']}" if "network" in request.path_params else ""
    return f"{prefix}/share/page/site/{escape(site['id'])}/document-details?nodeRef=workspace://SpacesStore/{node.id}"


async def document_details(request: Request) -> Response:
    store, site = _site(request)
    node_id = request.query_params.get("nodeRef", "").rsplit("/", 1)[-1]
    node = store.get_node(node_id)
    if site is None or node is None or node.tenant != site["tenant"]:
        return _page("Not found", "<p>The item cannot be found.</p>", 404)
    rows = [
        ("Name", node.name),
        ("Type", node.node_type),
        ("Modified", fmt(node.modified_at)),
        ("Modifier", node.modified_by),
    ]
    if not node.is_folder:
        rows += [
            ("Size", f"{node.size} bytes"),
            ("Mimetype", node.mime_type or ""),
            ("Version", str(node.props.get("cm:versionLabel", ""))),
        ]
    for key in ("cm:title", "cm:description", "cm:author"):
        if key in node.props:
            rows.append((key, str(node.props[key])))
    table = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return _page(node.name, f"<p>Site: {escape(site['title'])}</p><table>{table}</table>")


async def document_library(request: Request) -> Response:
    store, site = _site(request)
    if site is None:
        return _page("Not found", "<p>The site cannot be found.</p>", 404)
    folder = store.get_node(site["doclib_id"])
    for part in [p for p in request.query_params.get("path", "/").split("/") if p]:
        folder = store.child_by_name(folder.id, part) if folder else None
    if folder is None:
        return _page("Not found", "<p>The folder cannot be found.</p>", 404)
    children, total = store.list_children(folder.id, where_folder=None, order_sql="is_folder DESC, name_lc", skip=0, limit=500)
    items = "".join(
        f"<li><a href='{_link(request, site, c)}'>{escape(c.name)}</a>{'/' if c.is_folder else ''}</li>" for c in children
    )
    return _page(f"{site['title']}: {request.query_params.get('path', '/')}", f"<p>{total} items</p><ul>{items}</ul>")


def routes() -> list[Route]:
    base = "/share/page/site/{site}"
    return [
        Route(f"{base}/document-details", document_details, methods=["GET"]),
        Route(f"{base}/documentlibrary", document_library, methods=["GET"]),
        Route(f"/{{network}}{base}/document-details", document_details, methods=["GET"]),
        Route(f"/{{network}}{base}/documentlibrary", document_library, methods=["GET"]),
    ]

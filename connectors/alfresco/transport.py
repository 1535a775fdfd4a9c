"""HTTP plumbing for one Alfresco tenant: URLs, ticket authentication, and error mapping on every call.

Alfresco tickets expire after a period of inactivity; a long sync run must survive that without the
engine noticing. So every call goes through `send`, which re-authenticates once on a 401 and replays the
request when its body can be sent again. A streamed upload cannot be replayed (its source iterator is
spent): it gets a fresh ticket for the next attempt and fails as `TransientError`, which task retries are
for. The password and the ticket never leave this module except in the Authorization header.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import httpx

from connectors.alfresco.error_mapping import error_for_status, error_for_transport, report_for
from connectors.alfresco.settings import AlfrescoSettings
from connectors.errors import AuthenticationError, TransientError


class Api(StrEnum):
    """The API families, as they appear in the URL after `/public/`."""

    CORE = "alfresco"
    AUTH = "authentication"
    SEARCH = "search"


def build_client(settings: AlfrescoSettings, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    """One connection pool per repository, with explicit time-outs (Prefect cannot interrupt blocking I/O)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.write_timeout,
            pool=settings.pool_timeout,
        ),
        limits=httpx.Limits(max_connections=settings.max_connections, max_keepalive_connections=settings.max_connections),
        verify=settings.verify_tls,
        transport=transport,
        follow_redirects=False,
    )


class AlfrescoTransport:
    """Sends authenticated requests to one tenant and turns failures into `RepositoryError`s."""

    def __init__(
        self,
        settings: AlfrescoSettings,
        *,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._client = client if client is not None else build_client(settings, transport)
        self._owns_client = client is None
        self._ticket: str | None = None
        self._ticket_lock = asyncio.Lock()
        self.server_time: datetime | None = None
        """The server's clock at its latest answer (its `Date` header), for watermarks in the server's time."""

    def url(self, api: Api, path: str) -> str:
        tenant = quote(self._settings.tenant, safe="-")
        return f"{self._settings.base_url}/alfresco/api/{tenant}/public/{api.value}/versions/1/{path}"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # ---- authentication -------------------------------------------------------------------------

    async def _current_ticket(self) -> str:
        async with self._ticket_lock:
            if self._ticket is None:
                self._ticket = await self._login()
            return self._ticket

    async def _renew(self, stale: str) -> None:
        """Drop the stale ticket unless another task already replaced it (one login for many 401s)."""
        async with self._ticket_lock:
            if self._ticket == stale:
                self._ticket = None

    async def _login(self) -> str:
        operation = "authenticate"
        request = self._client.build_request(
            "POST",
            self.url(Api.AUTH, "tickets"),
            json={
                "userId": self._settings.username,
                "password": self._settings.password.get_secret_value(),
            },
        )
        response = await self._send_once(operation, request, stream=False)
        if response.status_code in (401, 403):
            raise AuthenticationError(
                "could not obtain a ticket: the server refused the user name or password",
                report_for(operation, request, response.status_code, response.content),
            )
        if response.status_code != 201:
            raise error_for_status(operation, request, response.status_code, response.content)
        try:
            ticket = response.json()["entry"]["id"]
        except (ValueError, KeyError, TypeError):
            raise AuthenticationError(
                "could not obtain a ticket: the server's answer had no ticket",
                report_for(operation, request, response.status_code),
            ) from None
        return str(ticket)

    @staticmethod
    def _authorization(ticket: str) -> str:
        return "Basic " + base64.b64encode(ticket.encode("utf-8")).decode("ascii")

    # ---- sending --------------------------------------------------------------------------------

    async def _send_once(self, operation: str, request: httpx.Request, *, stream: bool) -> httpx.Response:
        try:
            response = await self._client.send(request, stream=stream)
        except httpx.HTTPError as exc:
            raise error_for_transport(operation, request, exc) from None
        self.server_time = _date_header(response) or self.server_time
        return response

    async def _send(
        self,
        operation: str,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None,
        json: Any,
        content: Any,
        headers: dict[str, str] | None,
        replayable: bool,
        stream: bool,
    ) -> httpx.Response:
        for attempt in (1, 2):
            ticket = await self._current_ticket()
            request = self._client.build_request(
                method,
                url,
                params=params,
                json=json,
                content=content,
                headers={**(headers or {}), "Authorization": self._authorization(ticket)},
            )
            response = await self._send_once(operation, request, stream=stream)
            if response.status_code != 401:
                return response
            body = await self._read_body(operation, request, response)
            if attempt == 2:
                raise AuthenticationError(
                    f"{operation}: authentication failed again after a new ticket",
                    report_for(operation, request, 401, body),
                )
            await self._renew(ticket)
            if not replayable:
                raise TransientError(
                    f"{operation}: the ticket expired during a streamed upload, whose body cannot be "
                    "sent again; a new ticket is ready for the retry",
                    report_for(operation, request, 401, body),
                )
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    async def _read_body(operation: str, request: httpx.Request, response: httpx.Response) -> bytes:
        try:
            return await response.aread()
        except httpx.HTTPError as exc:
            raise error_for_transport(operation, request, exc) from None
        finally:
            await response.aclose()

    async def call(
        self,
        operation: str,
        method: str,
        api: Api,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: Any = None,
        headers: dict[str, str] | None = None,
        replayable: bool = True,
    ) -> Any:
        """Send one request and return its decoded JSON (None for an empty answer such as 204)."""
        response = await self._send(
            operation,
            method,
            self.url(api, path),
            params=params,
            json=json,
            content=content,
            headers=headers,
            replayable=replayable,
            stream=False,
        )
        if not response.is_success:
            raise error_for_status(operation, response.request, response.status_code, response.content)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TransientError(
                f"{operation}: the server's answer was not JSON",
                report_for(operation, response.request, response.status_code),
            ) from None

    @asynccontextmanager
    async def stream(
        self, operation: str, method: str, api: Api, path: str, *, params: dict[str, Any] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """An open, successful streamed response; errors (also mid-body) surface as RepositoryError."""
        response = await self._send(
            operation,
            method,
            self.url(api, path),
            params=params,
            json=None,
            content=None,
            headers=None,
            replayable=True,
            stream=True,
        )
        try:
            if not response.is_success:
                body = await self._read_body(operation, response.request, response)
                raise error_for_status(operation, response.request, response.status_code, body)
            try:
                yield response
            except httpx.HTTPError as exc:
                raise error_for_transport(operation, response.request, exc) from None
        finally:
            await response.aclose()


__all__ = ["AlfrescoTransport", "Api", "build_client"]


def _date_header(response: httpx.Response) -> datetime | None:
    value = response.headers.get("date")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None

"""Every failure Alfresco (or the network) can produce becomes the right typed error, with a technical
report that names the call and never the password or the ticket."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from connectors.alfresco import AlfrescoRepository
from connectors.alfresco.error_mapping import redact_url
from connectors.errors import (
    AccessDeniedError,
    AuthenticationError,
    ContentLimitError,
    InvalidRequestError,
    NameClashError,
    NodeLockedError,
    NodeNotFoundError,
    QuotaExceededError,
    RepositoryError,
    TransientError,
)
from tests.connectors.alfresco_fixtures import (
    AUTH,
    CORE,
    NEW_TICKET,
    PASSWORD,
    TICKET,
    alfresco,
    api,
    basic,
    chunks,
    error,
    node_entry,
    one,
    ticket_response,
)
from vocabulary import ErrorCode

__all__ = ["alfresco", "api"]  # fixtures, imported for pytest

STATUS_TABLE = [
    (400, "framework.exception.InvalidArgument", "05270001 Invalid argument", InvalidRequestError, ErrorCode.UNKNOWN),
    (
        403,
        "framework.exception.PermissionDenied",
        "05270002 Permission was denied",
        AccessDeniedError,
        ErrorCode.TARGET_NODE_ACCESS_DENIED,
    ),
    (
        404,
        "framework.exception.EntityNotFound",
        "05270003 The entity was not found",
        NodeNotFoundError,
        ErrorCode.TARGET_NODE_NO_LONGER_EXISTS,
    ),
    (
        405,
        "framework.exception.UnsupportedResourceOperation",
        "05270004 Not supported",
        InvalidRequestError,
        ErrorCode.UNKNOWN,
    ),
    (
        409,
        "framework.exception.ConstraintViolated",
        "05270005 Duplicate child name not allowed: a.txt",
        NameClashError,
        ErrorCode.TARGET_FOLDER_NAME_CLASH,
    ),
    (
        409,
        "org.alfresco.service.cmr.lock.NodeLockedException",
        "05270006 Cannot perform operation",
        NodeLockedError,
        ErrorCode.NODE_LOCKED,
    ),
    (
        409,
        "framework.exception.ConstraintViolated",
        "05270007 The node is locked by jane",
        NodeLockedError,
        ErrorCode.NODE_LOCKED,
    ),
    (
        413,
        "framework.exception.ContentLimitViolation",
        "05270008 Content size limit",
        ContentLimitError,
        ErrorCode.CONTENT_LIMIT_VIOLATION,
    ),
    (
        415,
        "framework.exception.UnsupportedMediaType",
        "05270009 Unsupported media type",
        InvalidRequestError,
        ErrorCode.UNKNOWN,
    ),
    (422, "framework.exception.UnprocessableEntity", "05270010 Unable to lock", InvalidRequestError, ErrorCode.UNKNOWN),
    (429, "framework.exception.TooManyRequests", "05270011 Slow down", TransientError, ErrorCode.TRANSIENT),
    (500, "framework.exception.General", "05270012 Internal error", TransientError, ErrorCode.TRANSIENT),
    (501, "framework.exception.DisabledService", "05270013 Disabled", TransientError, ErrorCode.TRANSIENT),
    (503, "framework.exception.ServiceUnavailable", "05270014 Unavailable", TransientError, ErrorCode.TRANSIENT),
    (
        507,
        "framework.exception.InsufficientStorage",
        "05270015 Quota exceeded",
        QuotaExceededError,
        ErrorCode.QUOTA_LIMIT_VIOLATION,
    ),
]


def assert_no_secrets(exc: RepositoryError) -> None:
    shown = f"{exc} {exc!r} {exc.report} {exc.report.to_dict()} {exc.args}"
    for secret in (PASSWORD, TICKET, NEW_TICKET, basic(TICKET), basic(NEW_TICKET)):
        assert secret not in shown


@pytest.mark.parametrize(("status", "key", "brief", "error_class", "code"), STATUS_TABLE)
async def test_each_status_maps_to_its_error_with_a_report(
    api: respx.MockRouter,
    alfresco: AlfrescoRepository,
    status: int,
    key: str,
    brief: str,
    error_class: type[RepositoryError],
    code: ErrorCode,
) -> None:
    api.put(f"{CORE}/nodes/n1").mock(return_value=error(status, key, brief))

    with pytest.raises(RepositoryError) as caught:
        await alfresco.rename("n1", "b.txt")

    exc = caught.value
    assert type(exc) is error_class
    assert exc.code == code
    assert exc.retryable is (code == ErrorCode.TRANSIENT)
    report = exc.report
    assert report.operation == "rename"
    assert report.method == "PUT"
    assert report.url == f"{CORE}/nodes/n1?include=isLocked,path"
    assert report.status == status
    assert report.error_key == key
    assert report.brief_summary == brief
    assert report.log_id == "a1b2c3d4"
    assert_no_secrets(exc)


async def test_log_id_is_read_from_the_brief_summary_when_absent(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    api.get(f"{CORE}/nodes/n1").mock(
        return_value=httpx.Response(404, json={"error": {"errorKey": "x", "briefSummary": "07120042 Not found"}})
    )
    with pytest.raises(NodeNotFoundError) as caught:
        await alfresco.get("n1")
    assert caught.value.report.log_id == "07120042"


async def test_a_non_json_error_body_still_maps_by_status(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    api.get(f"{CORE}/nodes/n1").mock(return_value=httpx.Response(502, text="<html>Bad gateway</html>"))
    with pytest.raises(TransientError) as caught:
        await alfresco.get("n1")
    assert caught.value.report.status == 502 and caught.value.report.error_key is None


async def test_access_denied_is_named_by_side(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    api.get(f"{CORE}/nodes/n1").mock(return_value=error(403))
    with pytest.raises(AccessDeniedError) as caught:
        await alfresco.get("n1")
    assert caught.value.code_for("onprem") == ErrorCode.SOURCE_NODE_ACCESS_DENIED
    assert caught.value.code_for("cloud") == ErrorCode.TARGET_NODE_ACCESS_DENIED


async def test_an_expired_ticket_is_renewed_once_and_the_request_replayed(
    api: respx.MockRouter, alfresco: AlfrescoRepository
) -> None:
    api.routes["tickets"].mock(side_effect=[ticket_response(TICKET), ticket_response(NEW_TICKET)])
    route = api.put(f"{CORE}/nodes/n1").mock(side_effect=[one(node_entry("n1", "a")), error(401), one(node_entry("n1", "b"))])

    await alfresco.rename("n1", "a")
    renamed = await alfresco.rename("n1", "b")

    assert renamed.name == "b"
    assert api.routes["tickets"].call_count == 2
    headers = [call.request.headers["Authorization"] for call in route.calls]
    assert headers == [basic(TICKET), basic(TICKET), basic(NEW_TICKET)]
    assert route.calls[2].request.content == route.calls[1].request.content


async def test_a_second_401_is_an_authentication_error(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    api.routes["tickets"].mock(side_effect=[ticket_response(TICKET), ticket_response(NEW_TICKET)])
    route = api.get(f"{CORE}/nodes/n1").mock(return_value=error(401, "framework.exception.Unauthorized"))

    with pytest.raises(AuthenticationError) as caught:
        await alfresco.get("n1")

    assert route.call_count == 2 and api.routes["tickets"].call_count == 2
    assert caught.value.code == ErrorCode.AUTHENTICATION_ERROR
    assert caught.value.report.status == 401
    assert_no_secrets(caught.value)


async def test_a_refused_login_is_an_authentication_error(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    api.routes["tickets"].mock(return_value=error(403, "framework.exception.PermissionDenied", "Login failed"))
    route = api.get(f"{CORE}/nodes/n1")
    with pytest.raises(AuthenticationError) as caught:
        await alfresco.get("n1")
    assert route.call_count == 0
    assert caught.value.report.url == f"{AUTH}/tickets"
    assert_no_secrets(caught.value)


async def test_an_expired_ticket_during_a_streamed_upload_is_transient(
    api: respx.MockRouter, alfresco: AlfrescoRepository
) -> None:
    api.routes["tickets"].mock(side_effect=[ticket_response(TICKET), ticket_response(NEW_TICKET)])
    upload = api.post(f"{CORE}/nodes/p1/children").mock(side_effect=[error(401), one(node_entry("n1", "a.txt"), 201)])

    with pytest.raises(TransientError, match="cannot be sent again") as caught:
        await alfresco.upload("p1", "a.txt", chunks(b"abc"))
    assert upload.call_count == 1  # the spent stream was not replayed
    assert_no_secrets(caught.value)

    await alfresco.upload("p1", "a.txt", chunks(b"abc"))  # the task retry: a fresh stream, a fresh ticket
    assert upload.calls.last.request.headers["Authorization"] == basic(NEW_TICKET)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectTimeout("timed out"),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("peer closed connection"),
        httpx.ReadError("connection reset"),
    ],
    ids=lambda exc: type(exc).__name__,
)
async def test_timeouts_and_dropped_connections_are_transient(
    api: respx.MockRouter, alfresco: AlfrescoRepository, failure: httpx.HTTPError
) -> None:
    api.get(f"{CORE}/nodes/n1").mock(side_effect=failure)
    with pytest.raises(TransientError) as caught:
        await alfresco.get("n1")
    assert caught.value.retryable
    assert caught.value.report.url == f"{CORE}/nodes/n1?include=isLocked,path"
    assert caught.value.report.status is None


async def test_a_download_cut_mid_stream_is_transient(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    class CutStream(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[override]
            yield b"first part"
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    api.get(f"{CORE}/nodes/n1/content").mock(return_value=httpx.Response(200, stream=CutStream()))
    received: list[bytes] = []
    with pytest.raises(TransientError, match="dropped") as caught:
        async for chunk in alfresco.download("n1"):
            received.append(chunk)
    assert received == [b"first part"]
    assert caught.value.report.operation == "download content"


async def test_a_download_error_status_maps_before_any_bytes(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    api.get(f"{CORE}/nodes/n1/content").mock(return_value=error(404))
    with pytest.raises(NodeNotFoundError):
        _ = [chunk async for chunk in alfresco.download("n1")]


async def test_a_download_renews_an_expired_ticket(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    api.routes["tickets"].mock(side_effect=[ticket_response(TICKET), ticket_response(NEW_TICKET)])
    api.get(f"{CORE}/nodes/n1/content").mock(side_effect=[error(401), httpx.Response(200, content=b"ok")])
    assert b"".join([chunk async for chunk in alfresco.download("n1")]) == b"ok"


def test_redact_url_hides_user_info_and_secret_parameters() -> None:
    url = f"https://admin:{PASSWORD}@host/alfresco/api/-default-/x?alf_ticket={TICKET}&include=path"
    redacted = redact_url(url)
    assert PASSWORD not in redacted and TICKET not in redacted and "admin" not in redacted
    assert redacted == "https://host/alfresco/api/-default-/x?alf_ticket=REDACTED&include=path"


async def test_concurrent_401s_renew_the_ticket_only_once(api: respx.MockRouter, alfresco: AlfrescoRepository) -> None:
    api.routes["tickets"].mock(side_effect=[ticket_response(TICKET), ticket_response(NEW_TICKET)])

    def expired_old_ticket(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == basic(TICKET):
            return error(401)
        return one(node_entry(request.url.path.rsplit("/", 1)[-1], "x"))

    for node_id in ("n1", "n2", "n3"):
        api.get(f"{CORE}/nodes/{node_id}").mock(side_effect=expired_old_ticket)

    nodes = await asyncio.gather(*(alfresco.get(node_id) for node_id in ("n1", "n2", "n3")))

    assert [n.id for n in nodes] == ["n1", "n2", "n3"]
    assert api.routes["tickets"].call_count == 2  # the first login and one renewal

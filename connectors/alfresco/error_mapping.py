"""Maps Alfresco's HTTP answers and httpx failures onto our typed errors.

The class decides what the engine does next (retry, fail the member, try next run), so the mapping is kept
in one table that tests walk status by status. Every error carries a `TechnicalReport` whose URL has been
scrubbed of anything secret.
"""

from __future__ import annotations

import json
import re
import ssl
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from connectors.errors import (
    AccessDeniedError,
    AuthenticationError,
    ContentLimitError,
    InvalidRequestError,
    NameClashError,
    NameNotAllowedError,
    NodeLockedError,
    NodeNotFoundError,
    QuotaExceededError,
    RepositoryError,
    TechnicalReport,
    TransientError,
)

_SECRET_QUERY_NAMES = frozenset({"alf_ticket", "ticket", "password", "pwd", "token", "access_token"})
_LOG_ID = re.compile(r"^\s*(\d{5,})\b")

_BY_STATUS: dict[int, tuple[type[RepositoryError], str]] = {
    400: (InvalidRequestError, "the server refused the request as invalid"),
    401: (AuthenticationError, "authentication failed"),
    403: (AccessDeniedError, "permission denied"),
    404: (NodeNotFoundError, "the node does not exist"),
    405: (InvalidRequestError, "the server does not support this operation"),
    409: (NameClashError, "a node with this name already exists"),
    413: (ContentLimitError, "the content is larger than the server accepts"),
    415: (InvalidRequestError, "the server does not accept this media type"),
    422: (InvalidRequestError, "the server could not process the request (integrity, lock or unlock)"),
    429: (TransientError, "the server asked us to slow down"),
    507: (QuotaExceededError, "the storage quota is exceeded"),
}


def redact_url(url: str | httpx.URL) -> str:
    """The URL as safe to show: no user-info, and the value of any secret-looking query parameter hidden."""
    parts = urlsplit(str(url))
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "REDACTED" if k.lower() in _SECRET_QUERY_NAMES else v) for k, v in pairs], safe=",()'=:")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def parse_error_body(body: bytes) -> dict[str, Any]:
    """The `error` object of Alfresco's error body, or {} when the body is not one."""
    try:
        document = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        return {}
    error = document.get("error") if isinstance(document, dict) else None
    return error if isinstance(error, dict) else {}


def report_for(operation: str, request: httpx.Request, status: int | None, body: bytes = b"") -> TechnicalReport:
    error = parse_error_body(body)
    brief = error.get("briefSummary")
    log_id = error.get("logId")
    if not log_id and isinstance(brief, str):
        match = _LOG_ID.match(brief)
        log_id = match.group(1) if match else None
    return TechnicalReport(
        operation=operation,
        method=request.method,
        url=redact_url(request.url),
        status=status,
        error_key=None if error.get("errorKey") is None else str(error["errorKey"]),
        brief_summary=None if brief is None else str(brief),
        log_id=None if log_id is None else str(log_id),
    )


def _mentions_lock(report: TechnicalReport) -> bool:
    text = f"{report.error_key or ''} {report.brief_summary or ''}".lower()
    return "lock" in text


def _mentions_name(report: TechnicalReport) -> bool:
    """A 422 for the `cm:filename` constraint (Alfresco's IntegrityException names the property or the name)."""
    text = (report.brief_summary or "").lower()
    return "name" in text and ("invalid" in text or "not allowed" in text or "constraint" in text)


def error_for_status(operation: str, request: httpx.Request, status: int, body: bytes) -> RepositoryError:
    """The typed error for a non-success answer."""
    report = report_for(operation, request, status, body)
    if status == 409 and _mentions_lock(report):
        return NodeLockedError(f"{operation}: the node is locked by someone else", report)
    if status == 422 and _mentions_name(report):
        return NameNotAllowedError(f"{operation}: the server refuses the name: {report.brief_summary}", report)
    if status in _BY_STATUS:
        error_class, text = _BY_STATUS[status]
    elif status >= 500:
        error_class, text = TransientError, "the server failed or is unavailable"
    else:
        error_class, text = InvalidRequestError, f"unexpected HTTP status {status}"
    return error_class(f"{operation}: {text}", report)


def _tls_verification_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate-verification error behind an httpx failure, if that is what it was."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def error_for_transport(operation: str, request: httpx.Request, exc: httpx.HTTPError) -> RepositoryError:
    """Time-outs, refused or dropped connections and bodies cut mid-stream: all worth a retry.

    Except a certificate that does not verify: retrying cannot change the server's certificate, and calling
    it "could not be reached" sends an administrator looking at the network instead of at the trust store.
    It is an AUTHENTICATION_ERROR (the server could not prove who it is), never retried.
    """
    report = report_for(operation, request, None)
    tls = _tls_verification_failure(exc)
    if tls is not None:
        reason = getattr(tls, "verify_message", None) or "the certificate is not trusted"
        return AuthenticationError(
            f"{operation}: TLS certificate verification failed ({reason}); trust the server's certificate "
            "authority or fix its certificate",
            report,
        )
    if isinstance(exc, httpx.TimeoutException):
        text = "the server did not answer in time"
    elif isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        text = "the connection dropped mid-transfer"
    else:
        text = "the server could not be reached"
    # The exception's own text is left out on purpose: it may quote the URL as the caller built it.
    return TransientError(f"{operation}: {text} ({type(exc).__name__})", report)

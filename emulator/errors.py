"""Alfresco-shaped errors: one exception type that every route raises, one body builder.

Clients (our connector included) read `errorKey`, `statusCode` and `briefSummary`, and the SPEC's
technical report shows `logId`, so every error must carry all of them exactly as Alfresco does.
"""

from __future__ import annotations

import itertools
from typing import Any

from starlette.responses import JSONResponse

STACK_TRACE = "For security reasons the stack trace is no longer displayed, but the property is kept for previous versions"
DESCRIPTION_URL = "https://api-explorer.alfresco.com"

# Alfresco's log ids are 8 digits whose first digits encode the day; a counter keeps them unique and
# deterministic, which makes test failures reproducible.
_log_ids = itertools.count(1)

DEFAULT_KEYS: dict[int, str] = {
    400: "framework.exception.InvalidArgument",
    401: "framework.exception.ApiDefault",
    403: "framework.exception.PermissionDenied",
    404: "framework.exception.EntityNotFound",
    405: "framework.exception.UnsupportedResourceOperation",
    409: "framework.exception.ConstraintViolated",
    413: "framework.exception.ContentLimitViolation",
    415: "framework.exception.UnsupportedMediaType",
    416: "framework.exception.RangeNotSatisfiable",
    422: "framework.exception.IntegrityException",
    429: "framework.exception.TooManyRequests",
    500: "framework.exception.ApiDefault",
    503: "framework.exception.ServiceUnavailable",
    507: "framework.exception.InsufficientStorage",
}


class ApiError(Exception):
    """Raised anywhere in a request; the app turns it into Alfresco's error body and status."""

    def __init__(self, status: int, message: str, error_key: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_key = error_key or DEFAULT_KEYS.get(status, "framework.exception.ApiDefault")


def next_log_id() -> str:
    return f"{5270000 + next(_log_ids):08d}"


def error_body(status: int, message: str, error_key: str | None = None) -> dict[str, Any]:
    log_id = next_log_id()
    return {
        "error": {
            "errorKey": error_key or DEFAULT_KEYS.get(status, "framework.exception.ApiDefault"),
            "statusCode": status,
            "briefSummary": f"{log_id} {message}",
            "stackTrace": STACK_TRACE,
            "descriptionURL": DESCRIPTION_URL,
            "logId": log_id,
        }
    }


def error_response(
    status: int, message: str, error_key: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(status, message, error_key), status_code=status, headers=headers)


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, f"The entity with id: {ident} was not found", "framework.exception.EntityNotFound")

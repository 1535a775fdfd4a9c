"""The typed errors every repository raises, one class per SPEC.md error code.

Callers decide what to do from the class alone (retry, fail the member, abort the run); the technical
report travels with the error so that Sync Info and the run's ERROR log can show exactly what the server
said, without credentials.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from vocabulary import ONPREM, ErrorCode, Side


@dataclass(frozen=True, slots=True)
class TechnicalReport:
    """What a support engineer needs to find the failure in the server's own logs."""

    operation: str
    method: str | None = None
    url: str | None = None
    status: int | None = None
    error_key: str | None = None
    brief_summary: str | None = None
    log_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        parts = [self.operation]
        if self.method or self.url:
            parts.append(f"{self.method or ''} {self.url or ''}".strip())
        if self.status is not None:
            parts.append(f"status {self.status}")
        if self.error_key:
            parts.append(f"errorKey {self.error_key}")
        if self.brief_summary:
            parts.append(f"briefSummary {self.brief_summary!r}")
        if self.log_id:
            parts.append(f"logId {self.log_id}")
        return "; ".join(parts)


class RepositoryError(Exception):
    """Base of every error a repository raises. `retryable` says whether a task retry may help."""

    code: ErrorCode = ErrorCode.UNKNOWN
    retryable: bool = False

    def __init__(self, message: str, report: TechnicalReport | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.report = report or TechnicalReport(operation="unknown")

    def code_for(self, side: Side) -> ErrorCode:
        """The SPEC code for this error when it happened on `side` (on-prem is the source, cloud the target)."""
        return self.code

    def __str__(self) -> str:
        return f"{self.code}: {self.message} [{self.report}]"


class NameClashError(RepositoryError):
    code = ErrorCode.TARGET_FOLDER_NAME_CLASH


class NodeNotFoundError(RepositoryError):
    code = ErrorCode.TARGET_NODE_NO_LONGER_EXISTS


class AccessDeniedError(RepositoryError):
    code = ErrorCode.TARGET_NODE_ACCESS_DENIED

    def code_for(self, side: Side) -> ErrorCode:
        if side == ONPREM:
            return ErrorCode.SOURCE_NODE_ACCESS_DENIED
        return ErrorCode.TARGET_NODE_ACCESS_DENIED

    def __str__(self) -> str:
        return f"ACCESS_DENIED: {self.message} [{self.report}]"


class NodeLockedError(RepositoryError):
    """Someone else holds a lock (Alfresco answers 409, not 423). Worth trying again on the next run."""

    code = ErrorCode.NODE_LOCKED


class ContentLimitError(RepositoryError):
    code = ErrorCode.CONTENT_LIMIT_VIOLATION


class QuotaExceededError(RepositoryError):
    code = ErrorCode.QUOTA_LIMIT_VIOLATION


class AuthenticationError(RepositoryError):
    code = ErrorCode.AUTHENTICATION_ERROR


class TransientError(RepositoryError):
    """5xx, 429, time-outs and dropped connections: the only errors a task retry is for."""

    code = ErrorCode.TRANSIENT
    retryable = True


class InvalidRequestError(RepositoryError):
    """400/405/415/422 and anything else the server refused for a reason we do not map more precisely."""

    code = ErrorCode.UNKNOWN


class NameNotAllowedError(InvalidRequestError):
    """The target refuses the name (a character of `* " < > \\ / ? : |`, a trailing dot or space, too long):
    renaming the source is the remedy, so the message says which name and why."""

    code = ErrorCode.NAME_NOT_ALLOWED


class EscapeError(InvalidRequestError):
    """A name or path that would leave a local repository's root."""

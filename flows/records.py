"""Turning what a run saw and did into member rows: the base of each side, failures, new pairs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.base import Node
from connectors.errors import RepositoryError, TechnicalReport
from models.tables import utcnow
from sync.digest import metadata_digest
from vocabulary import ErrorCode, MemberKind, MemberStatus, Side

PREFIX = {"onprem": "op", "cloud": "cl"}


def base_fields(side: Side, node: Node, sha256: str | None) -> dict[str, Any]:
    """The base columns of one side from a node as the repository last reported it."""
    prefix = PREFIX[side]
    return {
        f"{side}_id": node.id,
        f"{prefix}_name": node.name,
        f"{prefix}_parent_id": node.parent_id,
        f"{prefix}_size": node.size,
        f"{prefix}_modified_at": node.modified_at,
        f"{prefix}_version": node.version_label,
        f"{prefix}_sha256": sha256,
        f"{prefix}_meta": metadata_digest(node.metadata),
    }


def synced_fields(run_id: str | None, now: datetime | None = None) -> dict[str, Any]:
    moment = now or utcnow()
    return {
        "status": MemberStatus.SYNCED.value,
        "error_code": None,
        "error_report": None,
        "error_at": None,
        "failed_fingerprint": None,
        "requested": False,
        "intent": None,
        "intent_at": None,
        "last_synced_at": moment,
        "last_attempt_at": moment,
        "last_run_id": run_id,
    }


def is_temporary(code: ErrorCode) -> bool:
    """Failures the next scheduled run should try again (SPEC: NODE_LOCKED and TRANSIENT)."""
    return code in (ErrorCode.TRANSIENT, ErrorCode.NODE_LOCKED)


def failure_fields(
    code: ErrorCode,
    report: TechnicalReport | dict[str, Any],
    run_id: str | None,
    fingerprint: str | None,
    *,
    action: str | None = None,
    side: Side | None = None,
) -> dict[str, Any]:
    details = report.to_dict() if isinstance(report, TechnicalReport) else dict(report)
    if action:
        details["action"] = action
    if side:
        details["side"] = side
    details["run"] = run_id
    now = utcnow()
    return {
        "status": (MemberStatus.TEMPORARY_ERROR if is_temporary(code) else MemberStatus.FAILED).value,
        "error_code": code.value,
        "error_report": details,
        "error_at": now,
        "last_attempt_at": now,
        "last_run_id": run_id,
        "failed_fingerprint": fingerprint,
        "requested": False,
        "intent": None,
        "intent_at": None,
    }


def error_side(exc: RepositoryError, default: Side) -> Side:
    """Which repository raised: content copies tag errors of the source stream with its side."""
    return getattr(exc, "side", None) or default


def member_kind(is_folder: bool | None) -> str:
    return (MemberKind.FOLDER if is_folder else MemberKind.FILE).value


def relative_path(node: Node, root_path: str | None) -> str:
    """Path of a node below the sync set's root folder (its name alone when that cannot be told)."""
    if node.path is None or root_path is None:
        return node.name
    full = f"{node.path.rstrip('/')}/{node.name}"
    prefix = root_path.rstrip("/") + "/"
    return full[len(prefix) :] if full.startswith(prefix) else node.name

"""The typed parameters of the flows.

Prefect builds each deployment's JSON schema from these, so the API refuses a malformed request (wrong
type, unknown conflict policy, a slug with capitals) with HTTP 409 before any run exists. The rules that
need a repository to check (an item outside a document library, a network not enabled for sync) are
checked by `flows.validation` at the start of the run, before anything changes.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

ConflictPolicyName = Literal["cloud-wins", "onprem-wins", "newer-wins", "keep-both"]

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,47}$")]
"""A sync set's short name: lower-case letters, digits and dashes (it becomes a Prefect tag and artifact key)."""

ITEM_CONSTRAINTS = StringConstraints(min_length=1, max_length=2048, pattern=r"^[^\x00-\x1f]+$", strip_whitespace=True)
"""Every item a flow takes: printable, at most 2048 characters, surrounding spaces dropped."""

ItemRef = Annotated[str, ITEM_CONSTRAINTS]
"""An on-prem node id, or a site path such as `site:engineering/Specs`."""

MemberRef = Annotated[str, ITEM_CONSTRAINTS]
"""A member: its on-prem or cloud node id, or `<slug>:<path in the sync set>`."""

ConnectionName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
"""The name of a connection block (Prefect block names are lower-case with dashes)."""


class Destination(BaseModel):
    """Where in the cloud the content goes: network, site, and a folder path in the site's library."""

    model_config = ConfigDict(extra="forbid")

    network: str = Field(min_length=1, max_length=255, description="Cloud network (tenant) id, e.g. acme.com")
    site: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_-]+$", description="Cloud site id")
    folder: str = Field(
        default="",
        max_length=2048,
        description="Folder path inside the site's document library; empty for the library itself.",
    )


class SyncOptions(BaseModel):
    """The options of the "Sync to Cloud" dialog, with SPEC.md's defaults."""

    model_config = ConfigDict(extra="forbid")

    include_subfolders: bool = Field(default=True, description="Folders only: also sync subfolders.")
    lock_on_premise: bool = Field(default=False, description="Lock on-prem files until unsync.")
    allow_cloud_delete: bool = Field(default=True, description="Off: a cloud delete is undone.")
    delete_on_premise: bool = Field(
        default=False,
        description="With allow_cloud_delete: a cloud delete also deletes on-prem (to trashcan).",
    )
    conflict_policy: ConflictPolicyName = Field(default="cloud-wins", description="Who wins a conflict.")
    create_target_folder: bool = Field(default=False, description="Create the destination folder path.")
    max_delete_percent: int = Field(
        default=50, ge=0, le=100, description="Refuse a run deleting more than this share of members (>= 10)."
    )
    adopt_existing: bool = Field(
        default=False,
        description=(
            "Recovery after losing the sync database: re-pair cloud copies already at the destination with their "
            "on-prem originals (same path, same bytes) and adopt the sync account's on-prem locks; reports what "
            "it could not pair."
        ),
    )

    @model_validator(mode="after")
    def _delete_on_premise_needs_cloud_delete(self) -> SyncOptions:
        if self.delete_on_premise and not self.allow_cloud_delete:
            raise ValueError("delete_on_premise needs allow_cloud_delete: with cloud deletes undone, nothing is deleted on-prem")
        return self


def default_slug(items: list[str], destination: Destination) -> str:
    """A readable, stable slug: the last part of the first item plus a short digest of the whole request."""
    first = items[0].rstrip("/").split("/")[-1].split(":")[-1] if items else "sync"
    readable = re.sub(r"[^a-z0-9]+", "-", first.lower()).strip("-")[:32] or "sync"
    digest = hashlib.sha256("\n".join([*items, destination.network, destination.site, destination.folder]).encode()).hexdigest()[
        :6
    ]
    return f"{readable}-{digest}"

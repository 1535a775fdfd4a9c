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

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,47}$"), Field(examples=["specs-1a2b3c"])]
"""A sync set's short name: lower-case letters, digits and dashes (it becomes a Prefect tag and artifact key)."""

ITEM_CONSTRAINTS = StringConstraints(min_length=1, max_length=2048, pattern=r"^[^\x00-\x1f]+$", strip_whitespace=True)
"""Every item a flow takes: printable, at most 2048 characters, surrounding spaces dropped."""

ItemRef = Annotated[str, ITEM_CONSTRAINTS, Field(examples=["site:engineering/Specs"])]
"""An on-prem node id, or a site path such as `site:engineering/Specs`."""

MemberRef = Annotated[str, ITEM_CONSTRAINTS, Field(examples=["specs-1a2b3c:Drafts/plan.docx"])]
"""A member: its on-prem or cloud node id, or `<slug>:<path in the sync set>`."""

ConnectionName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$"), Field(examples=["onprem"])]
"""The name of a connection block (Prefect block names are lower-case with dashes)."""


class Destination(BaseModel):
    """Where in the cloud the copies go: a network, a site, and a folder path in that site's document library."""

    model_config = ConfigDict(extra="forbid")

    network: str = Field(min_length=1, max_length=255, description="The cloud network (tenant) id, e.g. acme.com.")
    site: str = Field(
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The cloud site's id (not its title), e.g. partners.",
    )
    folder: str = Field(
        default="",
        max_length=2048,
        description="A folder path inside the site's document library, e.g. Shared/Specs; empty for the library itself.",
    )


class SyncOptions(BaseModel):
    """How to sync: the options of Alfresco's "Sync to Cloud" dialog, with its defaults."""

    model_config = ConfigDict(extra="forbid")

    include_subfolders: bool = Field(
        default=True,
        description="A synced folder's subfolders are synced too (off: only its files; cloud-made subfolders are left alone).",
    )
    lock_on_premise: bool = Field(
        default=False, description="Lock the on-prem files until unsync: people read them on-prem and edit them in the cloud."
    )
    allow_cloud_delete: bool = Field(
        default=True, description="Off: a file or folder deleted in the cloud is put back there from on-prem."
    )
    delete_on_premise: bool = Field(
        default=False,
        description="With allow_cloud_delete on: a delete in the cloud also deletes the on-prem original (to its trashcan).",
    )
    conflict_policy: ConflictPolicyName = Field(
        default="cloud-wins",
        description="Which side wins when both changed the same file: cloud-wins (Alfresco's rule), onprem-wins, "
        "newer-wins, or keep-both (the other version is kept beside it as 'name (conflict from ...)'). "
        "The overwritten bytes always stay in the version history.",
    )
    create_target_folder: bool = Field(
        default=False, description="Make the destination folder path in the cloud site if it does not exist."
    )
    max_delete_percent: int = Field(
        default=50,
        ge=0,
        le=100,
        description="A run that would delete more than this percentage of the sync set's items (and at least 10 of them) "
        "deletes nothing and fails, until a reconcile is run with force=true.",
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

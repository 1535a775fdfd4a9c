"""Every setting of the product in one place: environment variables prefixed `ECSYNC_`, with defaults.

Connection secrets are not settings: they live in Prefect Blocks (see `connectors/blocks.py`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime settings; `ECSYNC_<NAME>` overrides each one (e.g. `ECSYNC_DATABASE_URL`)."""

    model_config = SettingsConfigDict(env_prefix="ECSYNC_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Where the embedded databases and logs live.")
    database_url: str | None = Field(
        default=None,
        description="Sync-state database. Default: a SQLite file in data_dir. PostgreSQL: postgresql://...",
    )
    scan_concurrency: int = Field(default=4, ge=1, le=64, description="Folders listed at once per run.")
    transfer_concurrency: int = Field(default=4, ge=1, le=64, description="Actions carried out at once per run.")
    task_retries: int = Field(default=3, ge=0, le=10, description="Retries of a transient failure per task.")
    retry_backoff_seconds: float = Field(default=1.0, ge=0, description="First retry delay; doubles each time.")
    lease_seconds: int = Field(
        default=120,
        ge=10,
        description="Lease expiry: a live run renews it every third of this; a killed run's lease lapses after it.",
    )
    lease_wait_seconds: float = Field(
        default=0, ge=0, description="How long a run waits for another run of the same sync set to finish."
    )
    incremental_scans: bool = Field(
        default=True,
        description="Between full scans, find what changed through the repositories' search and their folders' "
        "modification times instead of listing both trees (Alfresco's search; a local folder's walk of change times).",
    )
    full_scan_every: int = Field(
        default=12, ge=1, description="Every Nth reconcile of a sync set scans both trees in full (1: always)."
    )
    full_scan_hours: float = Field(default=24, gt=0, description="A full scan at least this often, in hours.")
    search_lag_seconds: float = Field(
        default=300,
        ge=0,
        description="How far before the previous scan each incremental search reaches back: search lags the "
        "repository (Solr indexes a change seconds to minutes after it is made).",
    )
    api_wait_seconds: float = Field(
        default=900,
        ge=0,
        description="How long a run that finished its work while the Prefect API was away waits for it to come back "
        "before writing its final artifacts and state (artifacts, progress and tags never stop a run).",
    )
    onprem_connection: str = Field(default="onprem", description="Default on-prem connection block name.")
    cloud_connection: str = Field(default="cloud", description="Default cloud connection block name.")
    reconcile_interval_seconds: float = Field(
        default=300, ge=1, description="Seconds between scheduled reconciles of every sync set (served deployments)."
    )

    sweep_batch_size: int = Field(
        default=25,
        ge=0,
        le=1000,
        description="At most this many sync sets per flow run when a sweep started by a work-pool worker fans out "
        "over the pool (fewer when that leaves some of sweep_concurrency idle; 0: the sweep reconciles every set "
        "itself, one after another, as a served sweep does).",
    )
    sweep_concurrency: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Flow runs of one fanned-out sweep at once (the pool's workers share them; each worker's --limit "
        "bounds its machine).",
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / 'sync-state.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

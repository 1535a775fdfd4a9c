"""Connection settings of one Alfresco repository, as plain validated fields.

Kept separate from the client so that a Prefect Block (owned elsewhere) or a test can build them from
plain values; the password is a `SecretStr` so it never shows up in a repr, a log line or a traceback.
"""

from __future__ import annotations

from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

DEFAULT_WEB_URL_TEMPLATE = "{base_url}/share/page/site/{site}/document-details?nodeRef=workspace://SpacesStore/{id}"


def web_address(template: str, *, base_url: str, network: str, site: str, node_id: str, name: str) -> str:
    """A node's address in the web UI ("View in Cloud"): the one place the template is filled in, for the run's
    links and for Sync Info alike. `{name}` is URL-quoted; the others are ids."""
    values = {"base_url": base_url.rstrip("/"), "network": network, "site": site, "id": node_id, "name": quote(name)}
    return template.format_map(values)


class AlfrescoSettings(BaseModel):
    """Everything needed to reach one tenant of one Alfresco server."""

    model_config = ConfigDict(frozen=True)

    base_url: str
    """Scheme and host (and port), e.g. "https://host" or "http://127.0.0.1:8081"; no path."""
    username: str
    password: SecretStr
    tenant: str = "-default-"
    """"-default-" on-premise; the network id in the cloud."""
    label: str = "onprem"
    verify_tls: bool = True
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=60.0, gt=0)
    write_timeout: float = Field(default=60.0, gt=0)
    pool_timeout: float = Field(default=30.0, gt=0)
    max_connections: int = Field(default=10, ge=1)
    page_size: int = Field(default=100, ge=1, le=1000)
    max_pages: int = Field(default=10_000, ge=1)
    """Hard cap on pages of one listing: a server that never says "no more items" must not loop forever."""
    web_url_template: str = DEFAULT_WEB_URL_TEMPLATE
    """Placeholders: {base_url}, {site}, {id}, {name}, {network} (the tenant)."""

    @field_validator("base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

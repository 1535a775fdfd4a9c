"""Prefect Blocks for connection settings, so administrators edit them in the Prefect UI.

Secrets live here as `SecretStr` (shown as `********` by the API and UI), never in flow parameters, logs or
artifacts: a sync set names its connections by block name and the flows load them. Each block builds its
connector with `repository(label)`; the Alfresco connector is imported lazily so that loading a block (or
registering the block types) does not pull in httpx machinery it does not need.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

if TYPE_CHECKING:
    import httpx

    from connectors.alfresco import AlfrescoRepository
    from connectors.local import LocalRepository

SHARE_DOCUMENT_URL = "{base_url}/share/page/site/{site}/document-details?nodeRef=workspace://SpacesStore/{id}"
"""Share's document-details page; the cloud may need its own address here ("View in Cloud")."""


class AlfrescoConnection(Block):
    """How to reach one Alfresco repository (the on-premise server, or one cloud network)."""

    _block_type_name: ClassVar[str] = "Alfresco Connection"
    _block_type_slug: ClassVar[str] = "alfresco-connection"
    _description: ClassVar[str] = (
        "Address and credentials of one Alfresco repository (on-premise or a cloud network) for Enterprise to Cloud Sync."
    )

    base_url: str = Field(description='Scheme, host and port, without a path, e.g. "https://alfresco.example.com".')
    username: str = Field(description="The account the sync acts as on this repository.")
    password: SecretStr = Field(description="Its password.")
    tenant: str = Field(default="-default-", description='"-default-" on-premise; the network id in the cloud.')
    verify_tls: bool = Field(default=True, description="Check the server's TLS certificate.")
    ca_bundle: str | None = Field(
        default=None, description="PEM file of the certificate authorities to trust instead of the system's."
    )
    web_url_template: str = Field(
        default=SHARE_DOCUMENT_URL,
        description="Address of a node in the web UI; placeholders {base_url}, {site}, {id}, {name}, {network}.",
    )
    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to open a connection.")
    read_timeout: float = Field(default=60.0, gt=0, description="Seconds to wait for data.")
    max_connections: int = Field(default=10, ge=1, description="Size of the connection pool.")
    page_size: int = Field(default=100, ge=1, le=1000, description="Items per listing page.")

    def repository(self, label: str) -> AlfrescoRepository:
        """A connector with its own connection pool; the caller closes it with `aclose()`."""
        from connectors.alfresco import AlfrescoRepository

        return AlfrescoRepository(
            base_url=self.base_url,
            username=self.username,
            password=self.password,
            tenant=self.tenant,
            label=label,
            verify_tls=self.verify_tls,
            web_url_template=self.web_url_template,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_connections=self.max_connections,
            page_size=self.page_size,
            transport=self._tls_transport(),
        )

    def web_url(self, node_id: str, name: str, *, site: str, network: str | None = None) -> str:
        """A node's page in the web UI from this connection's `web_url_template` (Sync Info's "View in Cloud")."""
        from connectors.alfresco.settings import web_address

        return web_address(
            self.web_url_template,
            base_url=self.base_url,
            network=network or self.tenant,
            site=site,
            node_id=node_id,
            name=name,
        )

    def _tls_transport(self) -> httpx.AsyncBaseTransport | None:
        """With a CA bundle, a transport that trusts it (the settings model only knows verify on/off)."""
        if not self.ca_bundle or not self.verify_tls:
            return None
        import httpx

        path = Path(self.ca_bundle).expanduser()
        if not path.is_file():
            raise ValueError(f"ca_bundle {self.ca_bundle!r} is not a readable file")
        context = ssl.create_default_context(cafile=str(path))
        limits = httpx.Limits(max_connections=self.max_connections, max_keepalive_connections=self.max_connections)
        return httpx.AsyncHTTPTransport(verify=context, limits=limits)


class LocalFolderConnection(Block):
    """A folder on disk synchronised like a repository (a file share, or a benchmark's side)."""

    _block_type_name: ClassVar[str] = "Local Folder Connection"
    _block_type_slug: ClassVar[str] = "local-folder-connection"
    _description: ClassVar[str] = "A folder on this machine, synchronised by Enterprise to Cloud Sync."

    root: str = Field(description="The folder to synchronise; it must exist.")

    def repository(self, label: str) -> LocalRepository:
        from connectors.local import LocalRepository

        return LocalRepository(Path(self.root).expanduser(), label=label)

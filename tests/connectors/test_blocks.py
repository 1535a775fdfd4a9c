"""Connection blocks: secrets stay masked, and each block builds the connector its settings describe."""

from __future__ import annotations

from pathlib import Path

import certifi
import httpx
import pytest
from pydantic import SecretStr, ValidationError

from connectors.base import Repository
from connectors.blocks import SHARE_DOCUMENT_URL, AlfrescoConnection, LocalFolderConnection
from connectors.local import LocalRepository


def connection(**overrides: object) -> AlfrescoConnection:
    values: dict[str, object] = {
        "base_url": "http://127.0.0.1:8081/",
        "username": "sync",
        "password": "s3cret-pw",
    }
    values.update(overrides)
    return AlfrescoConnection(**values)


def test_password_is_a_secret_field_and_masked() -> None:
    block = connection()
    assert AlfrescoConnection.model_json_schema()["secret_fields"] == ["password"]
    assert LocalFolderConnection.model_json_schema()["secret_fields"] == []
    assert isinstance(block.password, SecretStr)
    assert block.model_dump(mode="json")["password"] == "**********"
    assert "s3cret-pw" not in repr(block) and "s3cret-pw" not in str(block)
    assert block.password.get_secret_value() == "s3cret-pw"


def test_defaults_and_block_type() -> None:
    block = connection()
    assert block.tenant == "-default-" and block.verify_tls is True and block.ca_bundle is None
    assert block.web_url_template == SHARE_DOCUMENT_URL
    assert block.get_block_type_slug() == "alfresco-connection"
    assert LocalFolderConnection.get_block_type_slug() == "local-folder-connection"
    schema = AlfrescoConnection.model_json_schema()
    assert {"base_url", "username", "password", "tenant", "connect_timeout", "read_timeout"} <= set(schema["properties"])


@pytest.mark.parametrize("bad", [{"page_size": 0}, {"page_size": 5000}, {"max_connections": 0}, {"read_timeout": 0}])
def test_limits_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        connection(**bad)


def test_share_template_matches_the_connector_default() -> None:
    from connectors.alfresco import DEFAULT_WEB_URL_TEMPLATE

    assert SHARE_DOCUMENT_URL == DEFAULT_WEB_URL_TEMPLATE


async def test_alfresco_block_builds_the_connector_without_calling_the_server() -> None:
    block = connection(tenant="acme.com", read_timeout=5, connect_timeout=2, max_connections=3, page_size=50)
    repo = block.repository("cloud")
    try:
        assert isinstance(repo, Repository) and repo.label == "cloud"
        settings = repo.settings
        assert settings.base_url == "http://127.0.0.1:8081" and settings.tenant == "acme.com"
        assert settings.password.get_secret_value() == "s3cret-pw"
        assert (settings.read_timeout, settings.connect_timeout) == (5, 2)
        assert (settings.max_connections, settings.page_size) == (3, 50)
    finally:
        await repo.aclose()


async def test_ca_bundle_is_used_and_a_missing_one_refused(tmp_path: Path) -> None:
    assert connection()._tls_transport() is None
    assert connection(ca_bundle=certifi.where(), verify_tls=False)._tls_transport() is None
    block = connection(ca_bundle=certifi.where())
    assert isinstance(block._tls_transport(), httpx.AsyncHTTPTransport)
    repo = block.repository("onprem")
    await repo.aclose()
    with pytest.raises(ValueError, match="ca_bundle"):
        connection(ca_bundle=str(tmp_path / "missing.pem")).repository("onprem")


async def test_local_block_builds_a_local_repository(tmp_path: Path) -> None:
    block = LocalFolderConnection(root=str(tmp_path))
    repo = block.repository("share")
    assert isinstance(repo, LocalRepository) and repo.label == "share"
    assert (await repo.get_by_path("")).id == repo.root_id
    await repo.aclose()

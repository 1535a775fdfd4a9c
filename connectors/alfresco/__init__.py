"""Alfresco REST API v1 connector: `AlfrescoRepository` and its `AlfrescoSettings`."""

from connectors.alfresco.client import AlfrescoRepository
from connectors.alfresco.paging import PagingError
from connectors.alfresco.settings import DEFAULT_WEB_URL_TEMPLATE, AlfrescoSettings

__all__ = ["DEFAULT_WEB_URL_TEMPLATE", "AlfrescoRepository", "AlfrescoSettings", "PagingError"]

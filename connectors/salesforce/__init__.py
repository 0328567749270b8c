"""Salesforce: the connector (simple-salesforce over OAuth client credentials) and, in sandbox/, a wire-compatible org.

Register with `REGISTRY["salesforce"] = create_connector`; settings are SalesforceConfig's fields.
"""

from __future__ import annotations

from connectors.salesforce.config import SalesforceConfig
from connectors.salesforce.connector import SalesforceConnector, create_connector
from connectors.salesforce.mapping import default_mappings

__all__ = ["SalesforceConfig", "SalesforceConnector", "create_connector", "default_mappings"]

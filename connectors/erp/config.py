"""Connection settings for one Odoo database, from REVLINE_ERP_* variables and the connection's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.erp.client import OdooClient
from connectors.erp.connector import OdooConnector

# Names a connection's settings may use for the settings below.
_ALIASES = {"base_url": "url", "db": "database", "key": "api_key", "user": "login"}


class ErpSettings(BaseSettings):
    """What the Odoo connector needs; a connection's settings override the environment."""

    model_config = SettingsConfigDict(env_prefix="REVLINE_ERP_", extra="ignore")

    url: str | None = Field(default=None, description="Odoo's base URL, e.g. https://mycompany.odoo.com.")
    database: str | None = Field(
        default=None, description="The database; JSON-RPC (17, 18) always needs it, JSON-2 when a server hosts several."
    )
    login: str | None = Field(default=None, description="The API key's user login (JSON-RPC logs in with it).")
    api_key: SecretStr | None = Field(default=None, description="An API key of that user (Preferences > Security).")
    version: int | None = Field(
        default=None, ge=8, description="The server's major version; unset, it is read from /web/version. "
        "19 and later speak JSON-2, earlier ones JSON-RPC.",
    )
    timeout_seconds: float = Field(default=30.0, gt=0, description="Per-request timeout.")
    overlap_seconds: float = Field(
        default=600.0, ge=0, description="How far behind the newest write_date read changes are read again "
        "(write_date is a transaction's start; slower transactions commit behind it).",
    )
    product_cache_seconds: float = Field(default=300.0, ge=0, description="How long a product lookup is reused.")
    pricelist_id: int | None = Field(default=None, description="Pricelist for prices (unset: Odoo's first).")


def settings_from(values: Mapping[str, Any]) -> ErpSettings:
    """Settings from a connection's values (url/db/key/user accepted as aliases)."""
    renamed = {_ALIASES.get(key, key): value for key, value in values.items()}
    known = {key: value for key, value in renamed.items() if key in ErpSettings.model_fields}
    return ErpSettings(**known)


def from_settings(name: str, settings: Mapping[str, Any]) -> OdooConnector:
    """The registry factory: `REGISTRY["erp"] = from_settings`."""
    config = settings_from(settings)
    if not config.url:
        raise ValueError(f"connection {name!r}: Odoo needs a URL (REVLINE_ERP_URL or url)")
    if config.api_key is None or not config.api_key.get_secret_value():
        raise ValueError(f"connection {name!r}: Odoo needs an API key (REVLINE_ERP_API_KEY or api_key)")
    client = OdooClient(
        config.url, config.database, config.login, config.api_key.get_secret_value(), version=config.version,
        timeout_seconds=config.timeout_seconds,
    )
    return OdooConnector(
        client, name=name, overlap_seconds=config.overlap_seconds, product_cache_seconds=config.product_cache_seconds,
        pricelist_id=config.pricelist_id,
    )

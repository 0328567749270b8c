"""Connection settings for one HubSpot account, from REVLINE_HUBSPOT_* variables and the connection's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.connector import HubSpotConnector

# Names a connection's settings may use for the two that matter most.
_ALIASES = {"url": "base_url", "token": "access_token"}


class HubSpotSettings(BaseSettings):
    """What the HubSpot connector needs; a connection's settings override the environment."""

    model_config = SettingsConfigDict(env_prefix="REVLINE_HUBSPOT_", extra="ignore")

    base_url: str = Field(default="https://api.hubapi.com", description="API root; the sandbox's URL in the demo.")
    access_token: SecretStr | None = Field(default=None, description="The private app's access token.")
    tier: Literal["starter", "professional", "enterprise"] | None = Field(
        default=None, description="The account's API tier, until rate-limit headers tell the real limits."
    )
    timeout_seconds: float = Field(default=30.0, gt=0, description="Per-request timeout.")
    search_per_second: float = Field(
        default=4.0, ge=0, description="Pace of search calls (HubSpot allows about 5/s per account; 0: unpaced)."
    )
    index_lag_seconds: float = Field(
        default=5.0, ge=0, description="How far behind now changes are read: HubSpot's search index trails writes."
    )
    app_secret: SecretStr | None = Field(
        default=None, description="The app's client secret, which signs webhooks (X-HubSpot-Signature-v3)."
    )


def settings_from(values: Mapping[str, Any]) -> HubSpotSettings:
    """Settings from a connection's values (`url`/`token` accepted for base_url/access_token)."""
    renamed = {_ALIASES.get(key, key): value for key, value in values.items()}
    known = {key: value for key, value in renamed.items() if key in HubSpotSettings.model_fields}
    return HubSpotSettings(**known)


def from_settings(name: str, settings: Mapping[str, Any]) -> HubSpotConnector:
    """The registry factory: `REGISTRY["hubspot"] = from_settings`."""
    config = settings_from(settings)
    if config.access_token is None or not config.access_token.get_secret_value():
        raise ValueError(f"connection {name!r}: HubSpot needs an access token (REVLINE_HUBSPOT_ACCESS_TOKEN or token)")
    client = HubSpotClient(
        config.base_url,
        config.access_token.get_secret_value(),
        timeout_seconds=config.timeout_seconds,
        search_per_second=config.search_per_second,
    )
    return HubSpotConnector(client, name=name, index_lag_seconds=config.index_lag_seconds)

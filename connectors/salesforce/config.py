"""Connection settings of one Salesforce org: where to log in, the connected app's credentials, trust and tuning."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

# Settings keys that describe the connection itself rather than this connector's configuration.
_CONNECTION_KEYS = frozenset({"kind", "name", "system"})


class SalesforceConfig(BaseModel):
    """What a Salesforce connection needs; secrets stay SecretStr so they never land in logs or reprs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    login_url: str = "https://login.salesforce.com"
    # Overrides the instance_url the token endpoint answers (a proxy in front of the org, say).
    instance_url: str | None = None
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    # A PEM bundle to trust instead of the system store: the sandbox's CA, or a corporate proxy's.
    ca_bundle: str | None = None
    api_version: str = "59.0"
    # Above this many records in one write_batch call, Bulk API 2.0 is cheaper in API calls than
    # sObject Collections (200 per call); Salesforce suggests bulk from about 2,000 records.
    bulk_threshold: int = Field(2000, ge=1)
    timeout_seconds: float = Field(30.0, gt=0)
    # Reading changes re-reads this far behind the newest SystemModstamp already delivered (0: the
    # boundary second only), for transactions that commit after later ones.
    overlap_seconds: float = Field(0.0, ge=0)
    # The change cursor stays this far behind now: SystemModstamp has whole seconds, and a second still
    # running may gain records after we read it. Records stamped since are handed over provisionally
    # and read again until their second settles (connector._read_feed).
    settle_seconds: float = Field(2.0, ge=0)
    # simple-salesforce's first wait and base poll interval for Bulk API 2.0 jobs.
    bulk_poll_seconds: int = Field(1, ge=0)
    # Salesforce never says when a spent 24-hour allocation frees up again; wait at least this long.
    limit_retry_seconds: float = Field(600.0, gt=0)
    # People as sales works them: new ones without an account are created as Leads (with one, as
    # Contacts under it), Leads are read with Contacts, and a converted Lead hands its link to the
    # Contact it became. Off: people are Contacts only.
    leads: bool = False

    @field_validator("login_url", "instance_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https://")
        return value.rstrip("/")

    @classmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any]) -> SalesforceConfig:
        """The config of connection `name` from its settings (login_url, client_id, client_secret, ca_bundle, ...)."""
        values = {k: v for k, v in settings.items() if k not in _CONNECTION_KEYS}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise ValueError(f"connection {name!r} (salesforce): {problems}") from None

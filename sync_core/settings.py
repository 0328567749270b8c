"""Configuration from REVLINE_* environment variables."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything Revline reads from its environment; see the README for each variable."""

    model_config = SettingsConfigDict(env_prefix="REVLINE_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///revline.db",
        description="SQLAlchemy URL of the ledger; a postgresql:// URL switches on scaled mode.",
    )
    secret_key: str | None = Field(
        default=None,
        description="Fernet key for stored credentials; the demo generates one into .revline-secret.",
    )
    worker_threads: int = Field(default=2, description="Lane-running threads per worker process.")
    lease_seconds: float = Field(default=30.0, description="How long a lane lease lasts without a heartbeat.")
    poll_seconds: float = Field(default=5.0, description="How often each inbound lane is polled.")
    page_size: int = Field(
        default=2000,
        description="Records read per page from a source system (2,000: one SOQL page, ten HubSpot search pages).",
    )
    console_port: int = Field(default=3000, description="Port of the web console.")
    connections: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Connections as JSON: {"name": {"kind": "memory", "address": "127.0.0.1:8109"}}.',
    )
    demo_systems_address: str = Field(
        default="127.0.0.1:8109", description="Where `revline demo` serves its in-memory systems."
    )
    secret_file: str = Field(default=".revline-secret", description="Where the demo keeps a generated key.")

"""A wire-compatible HubSpot CRM (v3 objects, v4 associations, properties, webhooks) served by Starlette.

`create_app()` seeds a fresh in-memory account; `serve()` runs it with uvicorn (`revline sandbox hubspot`).
The real `hubspot-api-client` works against it: `hubspot.Client.create(access_token="sandbox-token", host=URL)`.
"""

from __future__ import annotations

from starlette.applications import Starlette

from connectors.hubspot.sandbox.app import build_app
from connectors.hubspot.sandbox.state import ACCESS_TOKEN, Sandbox
from connectors.hubspot.sandbox.webhooks import APP_SECRET

__all__ = ["ACCESS_TOKEN", "APP_SECRET", "Sandbox", "build_app", "create_app", "serve"]


def create_app(seed: int = 7, records: int = 50, tier: str = "professional") -> Starlette:
    """A sandbox app seeded with `records` companies (and their contacts, deals, products) from `seed`."""
    sandbox = Sandbox(tier=tier)
    sandbox.seed(seed, records)
    return build_app(sandbox)


def serve(port: int = 8101, seed: int = 7, records: int = 50, host: str = "127.0.0.1") -> None:
    """Serve the sandbox over HTTP until interrupted."""
    import uvicorn

    uvicorn.run(create_app(seed, records), host=host, port=port, log_level="warning")

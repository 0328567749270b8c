"""Extra HTTP routes on the console's backend: status JSON, Prometheus metrics and the HubSpot webhook receiver."""

from __future__ import annotations

import asyncio
import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync_core.services import inbox, ledger_engine, overview


async def status(_request: Request) -> JSONResponse:
    """Lanes, op counts by status, dead letters by category and the last run of each lane."""
    current = await asyncio.to_thread(overview.status, ledger_engine())
    return JSONResponse(current.to_json(), headers={"Cache-Control": "no-store"})


async def metrics(_request: Request) -> Response:
    """The ledger's gauges for Prometheus to scrape."""
    text = await asyncio.to_thread(overview.metrics_text, ledger_engine())
    return Response(text, media_type=overview.METRICS_CONTENT_TYPE, headers={"Cache-Control": "no-store"})


def _public_uri(request: Request) -> str:
    """The URL as HubSpot called it (and signed it), also behind a proxy that forwards the original."""
    proto = request.headers.get("x-forwarded-proto", request.url.scheme)
    host = request.headers.get("x-forwarded-host", request.headers.get("host", request.url.netloc))
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{proto}://{host}{request.url.path}{query}"


async def hubspot_webhook(request: Request) -> JSONResponse:
    """HubSpot's v3-signed event batches: verified, stored once each in the inbox, answered at once."""
    from connectors.hubspot.client import signature_is_valid
    from connectors.hubspot.config import HubSpotSettings
    from connectors.hubspot.mapping import notices_from_events

    secret = HubSpotSettings().app_secret
    if secret is None:
        return JSONResponse({"message": "no HubSpot app secret is configured"}, status_code=503)
    body = (await request.body()).decode()
    signed = signature_is_valid(
        secret.get_secret_value(),
        request.headers.get("x-hubspot-signature-v3", ""),
        request.method,
        _public_uri(request),
        body,
        request.headers.get("x-hubspot-request-timestamp", ""),
    )
    if not signed:  # bad signature, or older than five minutes: nothing is stored
        return JSONResponse({"message": "invalid or expired signature"}, status_code=401)
    try:
        events = json.loads(body)
    except ValueError:
        return JSONResponse({"message": "the body is not JSON"}, status_code=400)
    if not isinstance(events, list):
        return JSONResponse({"message": "expected a JSON array of events"}, status_code=400)
    notices = notices_from_events("hubspot", [e for e in events if isinstance(e, dict)])
    stored = await asyncio.to_thread(inbox.store, ledger_engine(), notices)
    return JSONResponse({"received": len(events), "stored": stored})


def routes() -> Starlette:
    """A Starlette app holding the extra routes; Reflex mounts its own app beneath it (`api_transformer`)."""
    return Starlette(
        routes=[
            Route("/api/status", status, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/webhooks/hubspot", hubspot_webhook, methods=["POST"]),
        ]
    )

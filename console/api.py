"""Extra HTTP routes on the console's backend: `GET /api/status` (JSON) and `GET /metrics` (Prometheus)."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync_core.services import ledger_engine, overview


async def status(_request: Request) -> JSONResponse:
    """Lanes, op counts by status, dead letters by category and the last run of each lane."""
    current = await asyncio.to_thread(overview.status, ledger_engine())
    return JSONResponse(current.to_json(), headers={"Cache-Control": "no-store"})


async def metrics(_request: Request) -> Response:
    """The ledger's gauges for Prometheus to scrape."""
    text = await asyncio.to_thread(overview.metrics_text, ledger_engine())
    return Response(text, media_type=overview.METRICS_CONTENT_TYPE, headers={"Cache-Control": "no-store"})


def routes() -> Starlette:
    """A Starlette app holding the extra routes; Reflex mounts its own app beneath it (`api_transformer`)."""
    return Starlette(
        routes=[Route("/api/status", status, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])]
    )

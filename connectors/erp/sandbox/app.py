"""The Starlette app: /web/version, JSON-RPC, JSON-2 (19), the control API, and the business clock's ticker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.erp.sandbox import control
from connectors.erp.sandbox.json2 import json2
from connectors.erp.sandbox.jsonrpc import jsonrpc, webclient_version_info
from connectors.erp.sandbox.state import OdooSandbox
from connectors.erp.sandbox.wire import json_response, log, stamp, web_version

TICK_SECONDS = 0.25  # how often a served sandbox lets the business clock catch up when nobody calls


async def version(request: Request) -> Response:
    sandbox: OdooSandbox = request.app.state.sandbox
    log(sandbox, request, "GET /web/version", 200, None, sandbox.clock.now())
    return stamp(sandbox, json_response(web_version(sandbox.version)))


async def _tick(sandbox: OdooSandbox) -> None:
    while True:
        await asyncio.sleep(TICK_SECONDS)
        if sandbox.clock.pace > 0:
            sandbox.catch_up()


def build_app(sandbox: OdooSandbox) -> Starlette:
    """The app over an existing sandbox (create_app in __init__ makes both)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ticker = asyncio.create_task(_tick(sandbox))
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    app = Starlette(
        routes=[
            *control.ROUTES,
            Route("/web/version", version, methods=["GET"]),
            Route("/web/webclient/version_info", webclient_version_info, methods=["POST"]),
            Route("/jsonrpc", jsonrpc, methods=["POST"]),
            Route("/json/2/{model}/{method}", json2, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ],
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    return app

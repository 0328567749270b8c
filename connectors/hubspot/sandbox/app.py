"""The Starlette app: the API routes behind auth, limits and faults, plus the control API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.hubspot.sandbox.api import ENDPOINTS, Call, Endpoint
from connectors.hubspot.sandbox.control import ROUTES as CONTROL_ROUTES
from connectors.hubspot.sandbox.errors import (
    ApiError,
    correlation_id,
    missing_scopes,
    rate_limit_body,
    server_error,
    unauthorized,
    validation,
)
from connectors.hubspot.sandbox.requestlog import LoggedRequest
from connectors.hubspot.sandbox.schema import resolve_object_type
from connectors.hubspot.sandbox.state import Sandbox
from connectors.hubspot.sandbox.store import INTEGRATION
from connectors.hubspot.sandbox.times import now_ms

Answer = tuple[int, Any, dict[str, str]]


def _scope(endpoint: Endpoint, object_type: str) -> str:
    if endpoint.access == "owners":
        return "crm.objects.owners.read"
    if endpoint.access == "schema":
        return f"crm.schemas.{object_type}.read"
    return f"crm.objects.{object_type}.{endpoint.access}"


async def _serve(sandbox: Sandbox, endpoint: Endpoint, request: Request, correlation: str) -> Answer:
    if request.headers.get("authorization", "") != f"Bearer {sandbox.access_token}":
        return 401, unauthorized("authorization" in request.headers).body(correlation), {}
    params = request.path_params
    # Owners are the account's, not an object type's.
    object_type = resolve_object_type(params["objectType"]) if "objectType" in params else ""
    to_type = resolve_object_type(params["toObjectType"]) if "toObjectType" in params else None
    if object_type is None or ("toObjectType" in params and to_type is None):
        bad = params.get("objectType") if object_type is None else params.get("toObjectType")
        return 400, validation(f"Unable to infer object type from: {bad}").body(correlation), {}
    if sandbox.faults.missing(_scope(endpoint, object_type)):
        return 403, missing_scopes([_scope(endpoint, object_type)]).body(correlation), {}
    profile = sandbox.faults.profile
    if profile.latency_ms:
        await asyncio.sleep(profile.latency_ms / 1000)
    headers: dict[str, str] = {}
    if endpoint.search:
        if not sandbox.search_limiter.admit():
            return 429, rate_limit_body("SECONDLY", correlation), {}
    else:
        verdict = sandbox.limiter.admit()
        headers = verdict.headers
        if not verdict.allowed:
            return 429, rate_limit_body(verdict.policy or "TEN_SECONDLY_ROLLING", correlation), headers
    injected = sandbox.faults.error_for_next_request()
    if injected is not None:
        return injected, server_error(injected).body(correlation), headers
    body: Any = None
    raw = await request.body()
    if raw:
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as error:
            return 400, validation(f"Invalid input JSON on line {error.lineno}, column {error.colno}: "
                                   f"{error.msg}").body(correlation), headers
    call = Call(sandbox, object_type, to_type, params, request.query_params, body, INTEGRATION)
    try:
        status, reply = endpoint.handler(call)
    except ApiError as error:
        return error.status, error.body(correlation), headers
    if endpoint.access == "write" and status < 300:
        hang = sandbox.faults.hang_after_write()
        if hang:
            # Applied, but answered too late: the caller times out not knowing the write happened.
            await asyncio.sleep(hang)
    return status, reply, headers


def _route(endpoint: Endpoint) -> Route:
    async def run(request: Request) -> Response:
        sandbox: Sandbox = request.app.state.sandbox
        started = time.perf_counter()
        arrived = time.monotonic()
        correlation = correlation_id()
        status, body, headers = await _serve(sandbox, endpoint, request, correlation)
        label = endpoint.template
        for name in ("objectType", "toObjectType"):
            if name in request.path_params:
                resolved = resolve_object_type(request.path_params[name]) or request.path_params[name]
                label = label.replace("{" + name + "}", resolved)
        sandbox.log.record(LoggedRequest(now_ms(), request.method, request.url.path, f"{request.method} {label}",
                                         status, (time.perf_counter() - started) * 1000), arrived)
        if body is None:
            return Response(status_code=status, headers=headers)
        return JSONResponse(body, status, headers)

    return Route(endpoint.template, run, methods=[endpoint.method])


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    category = "OBJECT_NOT_FOUND" if status == 404 else "VALIDATION_ERROR"
    return JSONResponse({"status": "error", "message": f"{request.method} {request.url.path}: {exc}",
                         "correlationId": correlation_id(), "category": category}, status)


def build_app(sandbox: Sandbox) -> Starlette:
    """The app over an existing Sandbox (tests seed its store directly)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        sandbox.webhooks.stop()

    app = Starlette(
        routes=[*CONTROL_ROUTES, *(_route(e) for e in ENDPOINTS)],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    return app

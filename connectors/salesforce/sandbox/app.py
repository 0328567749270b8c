"""The Starlette app: each API call authenticated, counted, faulted, answered, given Sforce-Limit-Info, logged."""

from __future__ import annotations

import asyncio
from datetime import datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute

from connectors.salesforce.sandbox import bulk_api, control, oauth, rest
from connectors.salesforce.sandbox.api_errors import ApiError, RecordRejectedError, bad_json, refuse
from connectors.salesforce.sandbox.requestlog import Entry
from connectors.salesforce.sandbox.routing import Call, Route, error_response, json_response, match
from connectors.salesforce.sandbox.state import SandboxState
from connectors.salesforce.sandbox.values import CoercionError
from connectors.salesforce.sandbox.writes import MultipleMatchesError

ROUTES: list[Route] = [*oauth.ROUTES, *rest.ROUTES, *bulk_api.ROUTES]

_SERVER_ERRORS = {
    500: (
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if you contact support: 1906112870-4242 (-118528)",
    ),
    502: ("BAD_GATEWAY", "Bad Gateway"),
    503: ("SERVER_UNAVAILABLE", "Server temporarily unavailable, please try again later"),
    504: ("GATEWAY_TIMEOUT", "Gateway Timeout"),
}


def _bearer(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() in ("bearer", "oauth") else ""


def _server_error(status: int) -> ApiError:
    code, message = _SERVER_ERRORS.get(status, ("UNKNOWN_EXCEPTION", "An unexpected error occurred."))
    return refuse(status, code, message)


async def _answer(route: Route, call: Call) -> Response:
    try:
        return await route.handler(call)
    except ApiError as error:
        return error_response(error)
    except RecordRejectedError as errors:
        return json_response([e.rest() for e in errors.errors], errors.status)
    except CoercionError as error:
        return error_response(bad_json(f"Cannot deserialize instance of {error.field.type} from value {error.raw!r}"))
    except MultipleMatchesError as several:
        return json_response([f"{call.base}/sobjects/{i}" for i in several.ids], 300)


async def api(request: Request) -> Response:
    """Every /services/... request: the pipeline Salesforce puts a call through, in order."""
    state: SandboxState = request.app.state.sandbox
    generation = state.log.generation  # a slow request answered after a clear belongs to before it
    raw_path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1").split("?", 1)[0]
    found, params, allowed = match(ROUTES, request.method, raw_path)
    user: str | None = None
    counted = False
    if found is None:
        response = (
            json_response(
                [
                    {
                        "errorCode": "METHOD_NOT_ALLOWED",
                        "message": f"HTTP Method '{request.method}' not allowed. Allowed are {','.join(allowed)}",
                    }
                ],
                405,
            )
            if allowed
            else error_response(refuse(404, "NOT_FOUND", "The requested resource does not exist"))
        )
        endpoint = "unknown"
    else:
        endpoint = found.endpoint
        response = await _run(found, request, state, params)
        user = request.scope.get("sandbox.user")
        counted = bool(request.scope.get("sandbox.counted"))
    if raw_path.startswith("/services/data"):
        response.headers["Sforce-Limit-Info"] = state.allocation.header()
    state.log.add(
        Entry(_now_text(state.clock.now()), request.method, raw_path, endpoint, response.status_code, counted, user),
        generation,
    )
    return response


async def _run(route: Route, request: Request, state: SandboxState, params: dict[str, str]) -> Response:
    user = ""
    lock_rows = False
    if route.authenticated:
        found = state.sessions.user_of(_bearer(request), state.clock.now())
        if found is None:
            return error_response(refuse(401, "INVALID_SESSION_ID", "Session expired or invalid"))
        user = found
        request.scope["sandbox.user"] = user
        latency = state.faults.latency()
        if latency:
            await asyncio.sleep(latency)
        if route.counted:
            if not state.allocation.consume():
                return error_response(refuse(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."))
            request.scope["sandbox.counted"] = True
        status = state.faults.server_error()
        if status is not None:
            return error_response(_server_error(status))
        if route.write and state.faults.lock_row():
            if not route.collection:
                return error_response(
                    refuse(400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records")
                )
            lock_rows = True
    response = await _answer(route, Call(request, state, user, params, lock_rows))
    if route.write and response.status_code < 300:
        hold = state.faults.timeout_after_write()
        if hold:
            await asyncio.sleep(hold)  # applied, but the client gives up before it hears so
    return response


def _now_text(now: datetime) -> str:
    return now.isoformat()


def build_app(state: SandboxState) -> Starlette:
    """The sandbox app over an existing state (create_app in __init__ makes both)."""
    app = Starlette(
        routes=[
            *control.ROUTES,
            StarletteRoute("/services/{rest:path}", api, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
        ]
    )
    app.state.sandbox = state
    return app

"""POST /json/2/{model}/{method} (Odoo 19): bearer API key, named arguments, the bare result or an error object.

Errors answer `{name, message, arguments, context, debug}` with 401 (bad key), 403 (access error),
404 (unknown model or method), 405 (not POST), 422 (UserError, ValidationError, bad arguments) and
500 otherwise. Each call is its own transaction.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from connectors.erp.sandbox.exceptions import NotFoundError, OdooError, ServerError, UnauthorizedError
from connectors.erp.sandbox.state import OdooSandbox
from connectors.erp.sandbox.wire import WRITES, json_body, json_response, log, proxy_error, stamp


class _MethodNotAllowedError(OdooError):
    name = "werkzeug.exceptions.MethodNotAllowed"
    status = 405


class _BadRequestError(OdooError):
    name = "werkzeug.exceptions.BadRequest"
    status = 400


def _authenticate(sandbox: OdooSandbox, request: Request) -> None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or key.strip() != sandbox.api_key:
        raise UnauthorizedError()
    database = request.headers.get("x-odoo-database")
    if database is not None and database != sandbox.database:
        raise NotFoundError(f"database {database!r} not found")


async def json2(request: Request) -> Response:
    sandbox: OdooSandbox = request.app.state.sandbox
    started = sandbox.clock.now()  # the transaction's start: its write_date, however long it then takes
    model, method = request.path_params["model"], request.path_params["method"]
    endpoint = f"{request.method} /json/2/{model}/{method}"
    if sandbox.version < 19:
        log(sandbox, request, endpoint, 404, None, started)  # no such route before Odoo 19
        return stamp(sandbox, Response("<h1>Not Found</h1>", 404, media_type="text/html"))
    context: dict[str, object] = {}
    try:
        if request.method != "POST":
            raise _MethodNotAllowedError(f"{request.method} is not allowed; use POST", 405)
        _authenticate(sandbox, request)
        try:
            body = await json_body(request)
        except ValueError:
            raise _BadRequestError("Invalid JSON data") from None
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise _BadRequestError("the body must be a JSON object of named arguments")
        if isinstance(body.get("context"), dict):
            context = body["context"]
        latency = sandbox.faults.latency()
        if latency:
            await asyncio.sleep(latency)
        failed = sandbox.faults.server_error()
        if failed == 500:
            raise ServerError("server closed the connection unexpectedly")
        if failed is not None:
            log(sandbox, request, endpoint, failed, None, started)
            return stamp(sandbox, proxy_error(failed))
        result = sandbox.execute_named(model, method, body, started)
    except OdooError as error:
        log(sandbox, request, endpoint, error.status, error.name, started)
        return stamp(sandbox, json_response(error.data(context), error.status))
    log(sandbox, request, endpoint, 200, None, started)
    if method in WRITES:
        hold = sandbox.faults.timeout_after_write()
        if hold:
            await asyncio.sleep(hold)  # applied, but the client gives up before it hears so
    return stamp(sandbox, json_response(result))

"""POST /jsonrpc (the common and object services) and /web/webclient/version_info, as Odoo 17 to 19 answer them.

Always HTTP 200 (unless the proxy in front fails): `{"jsonrpc": "2.0", "id", "result"}` or
`{"jsonrpc": "2.0", "id", "error": {"code": 200, "message": "Odoo Server Error", "data": {name, message,
arguments, context, debug}}}`. login and authenticate answer `false` for a wrong key.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from connectors.erp.sandbox.exceptions import AccessDeniedError, BadArgumentsError, OdooError, ServerError
from connectors.erp.sandbox.orm import ADMIN_UID
from connectors.erp.sandbox.state import OdooSandbox
from connectors.erp.sandbox.wire import WRITES, json_body, json_response, log, proxy_error, stamp, version_info


class _UnknownDatabaseError(ServerError):
    def __init__(self, name: str) -> None:
        super().__init__(f'connection to server failed: FATAL:  database "{name}" does not exist')


def _result(request_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _error(request_id: Any, error: OdooError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id,
            "error": {"code": 200, "message": "Odoo Server Error", "data": error.data(jsonrpc=True)}}


def _credentials(sandbox: OdooSandbox, args: list[Any], size: int) -> None:
    if len(args) < size:
        raise BadArgumentsError(f"expected at least {size} arguments, got {len(args)}")
    if args[0] != sandbox.database:
        raise _UnknownDatabaseError(str(args[0]))


def _login(sandbox: OdooSandbox, args: list[Any]) -> int | bool:
    _credentials(sandbox, args, 3)
    return ADMIN_UID if args[1] == sandbox.login and args[2] == sandbox.api_key else False


def _dispatch(sandbox: OdooSandbox, service: str, method: str, args: list[Any], started: datetime) -> Any:
    if service == "common":
        if method == "version":
            return version_info(sandbox.version)
        if method in ("login", "authenticate"):
            return _login(sandbox, args)
        raise OdooError(f"Method not available {method}")
    if service == "db":
        if method == "list":
            return [sandbox.database]
        if method == "server_version":
            return f"{sandbox.version}.0"
        raise OdooError(f"Method not available {method}")
    if service != "object":
        raise OdooError(f"Unknown service {service!r}")
    _credentials(sandbox, args, 5)
    if args[1] != ADMIN_UID or args[2] != sandbox.api_key:
        raise AccessDeniedError()
    model, name = str(args[3]), str(args[4])
    if method == "execute_kw":
        positional = args[5] if len(args) > 5 else []
        keywords = args[6] if len(args) > 6 else {}
        if not isinstance(positional, list) or not isinstance(keywords, dict):
            raise BadArgumentsError("execute_kw takes a list of arguments and a dict of keyword arguments")
        return sandbox.execute(model, name, positional, keywords, started)
    if method == "execute":
        return sandbox.execute(model, name, list(args[5:]), {}, started)
    raise OdooError(f"Method not available {method}")


async def jsonrpc(request: Request) -> Response:
    sandbox: OdooSandbox = request.app.state.sandbox
    started = sandbox.clock.now()  # the transaction's start: its write_date, however long it then takes
    try:
        body = await json_body(request)
        params = body.get("params") or {}
        service, method = str(params.get("service", "")), str(params.get("method", ""))
        args = list(params.get("args") or [])
    except (ValueError, AttributeError, TypeError):
        log(sandbox, request, "POST /jsonrpc", 400, "werkzeug.exceptions.BadRequest", started)
        return stamp(sandbox, Response("Invalid JSON-RPC request", 400, media_type="text/plain"))
    request_id = body.get("id")
    endpoint = f"POST /jsonrpc {service}.{method}"
    if service == "object" and len(args) > 4:
        endpoint += f" {args[3]}.{args[4]}"
    latency = sandbox.faults.latency()
    if latency:
        await asyncio.sleep(latency)
    failed = sandbox.faults.server_error()
    if failed is not None:
        log(sandbox, request, endpoint, failed, None, started)
        return stamp(sandbox, proxy_error(failed))
    error: OdooError | None = None
    try:
        answer = _result(request_id, _dispatch(sandbox, service, method, args, started))
    except OdooError as raised:
        error = raised
        answer = _error(request_id, raised)
    log(sandbox, request, endpoint, 200, error.rpc_name or error.name if error else None, started)
    if error is None and service == "object" and len(args) > 4 and args[4] in WRITES:
        hold = sandbox.faults.timeout_after_write()
        if hold:
            await asyncio.sleep(hold)  # applied, but the client gives up before it hears so
    return stamp(sandbox, json_response(answer))


async def webclient_version_info(request: Request) -> Response:
    """The JSON route clients such as odoorpc probe for the server version."""
    sandbox: OdooSandbox = request.app.state.sandbox
    try:
        body = await json_body(request)
        request_id = body.get("id") if isinstance(body, dict) else None
    except ValueError:
        request_id = None
    log(sandbox, request, "POST /web/webclient/version_info", 200, None, sandbox.clock.now())
    return stamp(sandbox, json_response(_result(request_id, version_info(sandbox.version))))

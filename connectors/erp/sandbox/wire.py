"""What both transports share: version answers, JSON bodies, the Date header, logging one request."""

from __future__ import annotations

import json
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from connectors.erp.sandbox.requestlog import Entry
from connectors.erp.sandbox.state import OdooSandbox

# The methods that change data: a timeout fault applies them first, then holds the answer back.
WRITES = frozenset({"create", "write", "action_confirm", "action_cancel"})
_PROXY_ERRORS = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}


def version_info(version: int) -> dict[str, Any]:
    """common.version's answer."""
    text = f"{version}.0"
    return {"server_version": text, "server_version_info": [version, 0, 0, "final", 0, ""], "server_serie": text,
            "protocol_version": 1}


def web_version(version: int) -> dict[str, Any]:
    """GET /web/version's answer."""
    return {"version_info": [version, 0, 0, "final", 0, ""], "version": f"{version}.0"}


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, media_type="application/json; charset=utf-8")


def proxy_error(status: int) -> Response:
    """A 5xx as the reverse proxy in front of Odoo answers it: an HTML page, not Odoo's JSON."""
    reason = _PROXY_ERRORS.get(status, "Server Error")
    page = f"<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>"
    return Response(page, status, media_type="text/html")


async def json_body(request: Request) -> Any:
    raw = await request.body()
    return json.loads(raw) if raw else None


def stamp(sandbox: OdooSandbox, response: Response) -> Response:
    """The Date header from the sandbox's clock: business time, which clients may read as the server's today."""
    response.headers["date"] = format_datetime(sandbox.clock.now(), usegmt=True)
    return response


def log(sandbox: OdooSandbox, request: Request, endpoint: str, status: int, error: str | None, at: datetime) -> None:
    sandbox.log.add(Entry(at.isoformat(), request.method, request.url.path, endpoint, status, error))

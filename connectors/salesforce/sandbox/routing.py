"""The wire API's routes: one table of (method, path pattern, endpoint name, handler), matched on raw paths."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from connectors.salesforce.sandbox.api_errors import ApiError, bad_json, not_found
from connectors.salesforce.sandbox.schema import SObjectType, sobject

if TYPE_CHECKING:
    from connectors.salesforce.sandbox.state import SandboxState

JSON = "application/json;charset=UTF-8"


@dataclass(frozen=True)
class Call:
    """One API request after authentication: who makes it and the path's parameters."""

    request: Request
    state: SandboxState
    user: str
    params: dict[str, str]
    lock_rows: bool = False  # the fault profile locks every row this write touches

    @property
    def version(self) -> str:
        return self.params.get("version", self.state.version)

    @property
    def base(self) -> str:
        return f"/services/data/v{self.version}"

    def sobject(self) -> SObjectType:
        found = sobject(self.params["type"])
        if found is None:
            raise not_found()
        return found

    async def json(self) -> Any:
        raw = await self.request.body()
        try:
            return json.loads(raw or b"null")
        except ValueError as error:
            raise bad_json(f"Unexpected character in JSON body: {error}") from None

    async def json_object(self) -> dict[str, Any]:
        body = await self.json()
        if not isinstance(body, dict):
            raise bad_json("Cannot deserialize instance of the request body: expected a JSON object")
        return body


Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    endpoint: str
    handler: Handler
    write: bool = False  # applies record changes: the timeout-after-write fault may hold its answer
    authenticated: bool = True
    counted: bool = True  # counted against DailyApiRequests
    collection: bool = False  # reports a locked row per record instead of failing the call
    options: dict[str, Any] = field(default_factory=dict)


DATA = r"/services/data/v(?P<version>\d+\.\d)"


def route(method: str, path: str, endpoint: str, handler: Handler, **options: Any) -> Route:
    """A route whose `path` is a regex relative to /services/data/vNN.N (or absolute if it starts with /services)."""
    full = path if path.startswith("/services") else DATA + path
    return Route(method, re.compile(f"^{full}/?$"), endpoint, handler, **options)


def match(routes: list[Route], method: str, raw_path: str) -> tuple[Route | None, dict[str, str], list[str]]:
    """The route for a request and its decoded parameters; without a route, the methods the path allows."""
    allowed = []
    for candidate in routes:
        found = candidate.pattern.match(raw_path)
        if found is None:
            continue
        if candidate.method == method:
            return candidate, {k: unquote(v) for k, v in found.groupdict().items() if v is not None}, []
        allowed.append(candidate.method)
    return None, {}, allowed


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status_code=status, media_type=JSON, headers=headers)


def error_response(error: ApiError) -> Response:
    return json_response(error.body(), error.status)

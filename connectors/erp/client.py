"""The only module that talks to Odoo: httpx, one `call(model, method, ...)`, over JSON-2 (19+) or JSON-RPC (17, 18).

The transport is chosen from the server's version (GET /web/version, else JSON-RPC common.version),
unless configured. Every failure leaves this module as a RetryableError or PermanentError
(errors.py decides which). JSON-RPC needs the user id: it logs in once with
common.authenticate and keeps it; JSON-2 needs none (the API key names the user).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from connectors.erp import errors
from sync_core.api_calls import ApiCalls
from sync_core.domain.errors import SyncError

Transport = Literal["json2", "jsonrpc"]
FIRST_JSON2_VERSION = 19  # https://www.odoo.com/documentation/19.0/developer/reference/external_api.html


@dataclass(frozen=True)
class ServerVersion:
    major: int
    text: str


class OdooClient:
    """One Odoo database and API key; thread-safe (httpx.Client is), so workers may share it."""

    def __init__(
        self,
        url: str,
        database: str | None,
        login: str | None,
        api_key: str,
        *,
        version: int | None = None,
        timeout_seconds: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.login = login
        self._key = api_key
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._version = ServerVersion(version, f"{version}.0") if version else None
        self._uid: int | None = None
        self._calls = ApiCalls()
        self._server_time: datetime | None = None
        self._http = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
            headers={"User-Agent": "revline-odoo-connector"},
            event_hooks={"response": [self._observe]},
        )

    @property
    def api_calls(self) -> int:
        """HTTP requests made to Odoo (the version probe and logins included)."""
        return self._calls.total

    @property
    def api_calls_in_thread(self) -> int:
        """Those the calling thread made."""
        return self._calls.in_thread

    @property
    def server_time(self) -> datetime | None:
        """The server's clock as the Date header of its latest answer gave it (None before any answer)."""
        return self._server_time

    def _observe(self, response: httpx.Response) -> None:
        stamped: datetime | None = None
        header = response.headers.get("date")
        if header:
            try:
                stamped = parsedate_to_datetime(header).astimezone(UTC)
            except (TypeError, ValueError):
                stamped = None
        self._calls.add()  # event hooks run in the thread that made the request
        with self._lock:
            if stamped is not None:
                self._server_time = stamped

    def close(self) -> None:
        self._http.close()

    # -- version and identity -----------------------------------------------------------------------------

    def version(self) -> ServerVersion:
        """The server's version: configured, else probed once (GET /web/version, else common.version)."""
        if self._version is None:
            found = self._probe()
            with self._lock:
                self._version = self._version or found
        return self._version

    def server_clock(self) -> datetime | None:
        """The server's clock now: one version probe, read for its Date header (None if it sends none)."""
        self._probe()
        return self._server_time

    @property
    def transport(self) -> Transport:
        return "json2" if self.version().major >= FIRST_JSON2_VERSION else "jsonrpc"

    def _probe(self) -> ServerVersion:
        response = self._send("GET", "/web/version", None, "version probe")
        if response.status_code == 200:
            body = self._json(response, "version probe")
            info = body.get("version_info") if isinstance(body, Mapping) else None
            if isinstance(info, list) and info and isinstance(info[0], int):
                return ServerVersion(int(info[0]), str(body.get("version", f"{info[0]}.0")))
        # Odoo before 16.4 has no /web/version: the common service answers on every version.
        answer = self._rpc("common", "version", [], "common.version")
        info = answer.get("server_version_info") if isinstance(answer, Mapping) else None
        if not isinstance(info, list) or not info or not isinstance(info[0], int):
            raise errors.unexpected(f"cannot tell the server's version from {answer!r:.200}")
        return ServerVersion(int(info[0]), str(answer.get("server_version", f"{info[0]}.0")))

    def uid(self) -> int:
        """The user the API key acts as: common.authenticate over JSON-RPC, res.users/context_get over JSON-2."""
        if self._uid is None:
            if self.transport == "json2":
                context = self.call("res.users", "context_get")
                found = context.get("uid") if isinstance(context, Mapping) else None
            else:
                if not self.database or not self.login:
                    raise errors.login_refused(str(self.database), str(self.login))
                found = self._rpc("common", "authenticate", [self.database, self.login, self._key, {}],
                                  "common.authenticate")
            if isinstance(found, bool) or not isinstance(found, int):
                raise errors.login_refused(str(self.database), str(self.login))
            with self._lock:
                self._uid = found
        return self._uid

    # -- the call -----------------------------------------------------------------------------------------------

    def call(
        self, model: str, method: str, *, ids: list[int] | None = None, context: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> Any:
        """`model.method(**params)` on `ids` (None: an @api.model method), in one transaction, the result as is."""
        what = f"{model}.{method}"
        if self.transport == "json2":
            body: dict[str, Any] = dict(params)
            if ids is not None:
                body["ids"] = ids
            if context:
                body["context"] = dict(context)
            headers = {"Authorization": f"bearer {self._key}"}
            if self.database:
                headers["X-Odoo-Database"] = self.database
            response = self._send("POST", f"/json/2/{model}/{method}", body, what, headers)
            if response.status_code != 200:
                raise self._refusal(response, what)
            return self._json(response, what)
        args: list[Any] = [] if ids is None else [ids]
        if method == "create":
            # Odoo's create wrapper reads the values from args[0]; passed by keyword they fail.
            args.append(params.pop("vals_list"))
        keywords = dict(params)
        if context:
            keywords["context"] = dict(context)
        return self._rpc("object", "execute_kw", [self.database, self.uid(), self._key, model, method, args, keywords],
                         what)

    def _rpc(self, service: str, method: str, args: list[Any], what: str) -> Any:
        payload = {"jsonrpc": "2.0", "method": "call", "id": next(self._ids),
                   "params": {"service": service, "method": method, "args": args}}  # fmt: skip
        response = self._send("POST", "/jsonrpc", payload, what)
        if response.status_code != 200:
            raise errors.from_status(response.status_code, response.text, what)
        body = self._json(response, what)
        if not isinstance(body, Mapping):
            raise errors.unexpected(f"{what}: not a JSON-RPC answer: {body!r:.200}")
        if "error" in body:
            error: Mapping[str, Any] = body["error"] if isinstance(body["error"], Mapping) else {}
            data: Mapping[str, Any] = error["data"] if isinstance(error.get("data"), Mapping) else {}
            name = str(data.get("name") or "")
            message = str(data.get("message") or error.get("message") or "")
            raise errors.from_odoo(name, message, what)
        return body.get("result")

    def _refusal(self, response: httpx.Response, what: str) -> SyncError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, Mapping) and "name" in body:
            return errors.from_odoo(str(body["name"]), str(body.get("message", "")), what, response.status_code)
        return errors.from_status(response.status_code, response.text, what)

    def _send(
        self, verb: str, path: str, body: Any, what: str, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        try:
            return self._http.request(verb, path, json=body, headers=headers)
        except httpx.TimeoutException as error:
            raise errors.from_transport(f"{what} timed out (it may have been applied)", repr(error)) from error
        except httpx.TransportError as error:
            raise errors.from_transport(f"{what} lost its connection", repr(error)) from error

    @staticmethod
    def _json(response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise errors.unexpected(f"{what}: HTTP {response.status_code} answered no JSON: "
                                    f"{response.text[:200]!r}") from None

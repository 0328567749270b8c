"""Odoo's exceptions as the sandbox raises them, each knowing its qualified name and its JSON-2 HTTP status.

    OdooError                                  name                                 JSON-2
    ├── UserError                              odoo.exceptions.UserError            422
    │   ├── ValidationError                    odoo.exceptions.ValidationError      422
    │   ├── MissingError                       odoo.exceptions.MissingError         422
    │   └── AccessError                        odoo.exceptions.AccessError          403
    ├── AccessDeniedError                           odoo.exceptions.AccessDenied         401
    ├── UnauthorizedError                           werkzeug.exceptions.Unauthorized     401
    ├── NotFoundError                               werkzeug.exceptions.NotFound         404
    ├── BadArgumentsError                           builtins.TypeError                   422
    ├── InvalidValueError                           builtins.ValueError                  422
    └── ServerError                            psycopg2.OperationalError            500

Over JSON-RPC every one of them is an HTTP 200 with {"error": {"code": 200, "message":
"Odoo Server Error", "data": {name, message, arguments, context, debug}}}.
"""

from __future__ import annotations

from typing import Any


class OdooError(Exception):
    name = "odoo.exceptions.UserError"
    status = 500
    rpc_name: str | None = None  # the name JSON-RPC reports when it differs from JSON-2's

    def __init__(self, message: str, *arguments: Any) -> None:
        super().__init__(message, *arguments)
        self.message = message
        self.arguments: list[Any] = [message, *arguments]

    def debug(self) -> str:
        """A traceback-shaped text, as Odoo sends in `debug` (clients show it, none parse it)."""
        short = self.name.rsplit(".", 1)[-1]
        return (
            "Traceback (most recent call last):\n"
            '  File "/opt/odoo/odoo/http.py", line 2212, in _transactioning\n'
            "    return service_model.retrying(func, env=self.env)\n"
            f"{self.name.rsplit('.', 1)[0]}.{short}: {self.message}\n"
        )

    def data(self, context: dict[str, Any] | None = None, jsonrpc: bool = False) -> dict[str, Any]:
        """The error object: the JSON-2 body, the JSON-RPC `error.data`."""
        return {
            "name": (self.rpc_name or self.name) if jsonrpc else self.name,
            "message": self.message,
            "arguments": self.arguments,
            "context": context or {},
            "debug": self.debug(),
        }


class UserError(OdooError):
    name = "odoo.exceptions.UserError"
    status = 422


class ValidationError(UserError):
    name = "odoo.exceptions.ValidationError"


class MissingError(UserError):
    name = "odoo.exceptions.MissingError"


class AccessError(UserError):
    name = "odoo.exceptions.AccessError"
    status = 403


class AccessDeniedError(OdooError):
    name = "odoo.exceptions.AccessDenied"
    status = 401

    def __init__(self, message: str = "Access Denied") -> None:
        super().__init__(message)


class UnauthorizedError(OdooError):
    name = "werkzeug.exceptions.Unauthorized"
    status = 401

    def __init__(self, message: str = "Invalid apikey") -> None:
        super().__init__(message, 401)


class NotFoundError(OdooError):
    name = "werkzeug.exceptions.NotFound"
    status = 404

    def __init__(self, message: str) -> None:
        super().__init__(message, 404)


class BadArgumentsError(OdooError):
    name = "builtins.TypeError"
    status = 422


class InvalidValueError(OdooError):
    name = "builtins.ValueError"
    status = 422


class ServerError(OdooError):
    name = "psycopg2.OperationalError"
    status = 500

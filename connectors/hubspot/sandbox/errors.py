"""HubSpot's error bodies: one exception the handlers raise, rendered in the vendor's shape."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any


def correlation_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Problem:
    """One property-level problem, as HubSpot lists them inside a VALIDATION_ERROR."""

    name: str
    code: str  # PROPERTY_DOESNT_EXIST | INVALID_OPTION | INVALID_EMAIL | READ_ONLY_VALUE | INVALID_INTEGER ...
    message: str

    def detail(self) -> dict[str, Any]:
        return {"message": self.message, "code": self.code, "context": {"propertyName": [self.name]}}

    def legacy(self) -> dict[str, Any]:
        # HubSpot embeds this older shape, JSON-encoded, in the top-level message.
        return {
            "isValid": False,
            "message": self.message,
            "error": self.code,
            "name": self.name,
            "localizedErrorMessage": self.message,
        }


@dataclass
class ApiError(Exception):
    """An error response: HTTP status plus HubSpot's `{status, message, correlationId, category}` body."""

    status: int
    category: str
    message: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    context: dict[str, list[str]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.category}: {self.message}"

    def body(self, correlation: str) -> dict[str, Any]:
        """The body of a whole-request error."""
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": correlation,
            "category": self.category,
        }
        if self.errors:
            body["errors"] = self.errors
        if self.context:
            body["context"] = self.context
        body.update(self.extra)
        return body

    def batch_entry(self, context: dict[str, list[str]]) -> dict[str, Any]:
        """One entry of a 207's `errors` list; the client's StandardError needs every key here."""
        return {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": {**self.context, **context},
            "errors": self.errors,
            "links": {},
        }


def invalid_properties(problems: list[Problem]) -> ApiError:
    message = "Property values were not valid: " + json.dumps([p.legacy() for p in problems])
    return ApiError(400, "VALIDATION_ERROR", message, [p.detail() for p in problems])


def not_found(object_type: str, object_id: str) -> ApiError:
    return ApiError(404, "OBJECT_NOT_FOUND", f"resource not found: {object_type} {object_id}", context={})


def validation(message: str, **context: list[str]) -> ApiError:
    return ApiError(400, "VALIDATION_ERROR", message, context=dict(context))


def conflict(message: str) -> ApiError:
    return ApiError(409, "CONFLICT", message)


def unauthorized(token_given: bool) -> ApiError:
    message = (
        "The OAuth token used to make this call expired or is not valid."
        if token_given
        else "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
        "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
    )
    return ApiError(401, "INVALID_AUTHENTICATION", message)


def missing_scopes(scopes: list[str]) -> ApiError:
    return ApiError(
        403,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. Read more about required scopes "
        "here: https://developers.hubspot.com/scopes.",
        errors=[{"message": "One or more of the following scopes are required.",
                 "context": {"requiredGranularScopes": scopes}}],
        extra={"links": {"scopes": "https://developers.hubspot.com/scopes"}},
    )


def rate_limit_body(policy: str, correlation: str) -> dict[str, Any]:
    """The 429 body exactly as HubSpot sends it (WIRE.md): no `category`, an `errorType` and a `policyName`.

    `policy` is TEN_SECONDLY_ROLLING or DAILY, or SECONDLY for the search endpoints.
    """
    window = {"TEN_SECONDLY_ROLLING": "ten_secondly_rolling", "DAILY": "daily", "SECONDLY": "secondly"}[policy]
    return {
        "status": "error",
        "message": f"You have reached your {window} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": correlation,
        "policyName": policy,
    }


def server_error(status: int) -> ApiError:
    return ApiError(status, "INTERNAL_ERROR", "An internal error occurred. Please try again later.")

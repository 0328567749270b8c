"""HubSpot failures translated into the two seam errors: whole responses, 207 entries and transport errors.

    status 429 ............................ RateLimitedError (wait: the rate-limit interval, a day boundary or 1 s)
    status 5xx, 408, 423, timeouts, resets  RetryableError (wait: Retry-After when sent)
    status 401 / 403 (MISSING_SCOPES) ..... PermanentError(PERMISSION)
    category OBJECT_NOT_FOUND / 404 ....... PermanentError(MISSING_REFERENCE)
    category CONFLICT / OBJECT_ALREADY_EXISTS / 409  PermanentError(DUPLICATE)
    category VALIDATION_ERROR / other 4xx . PermanentError(VALIDATION)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sync_core.domain.errors import ErrorCategory, PermanentError, RateLimitedError, RetryableError, SyncError

INTERVAL_HEADER = "X-HubSpot-RateLimit-Interval-Milliseconds"
# When HubSpot names no interval: the ten-second window of every tier
# (https://developers.hubspot.com/docs/api/usage-details#rate-limits).
DEFAULT_INTERVAL_SECONDS = 10.0
# Search allows about five requests per second and sends no rate-limit headers.
SEARCH_WAIT_SECONDS = 1.0
_RETRYABLE_STATUSES = frozenset({408, 423, 425})
_CATEGORIES = {
    "OBJECT_NOT_FOUND": ErrorCategory.MISSING_REFERENCE,
    "CONFLICT": ErrorCategory.DUPLICATE,
    "OBJECT_ALREADY_EXISTS": ErrorCategory.DUPLICATE,
    "VALIDATION_ERROR": ErrorCategory.VALIDATION,
    "MISSING_SCOPES": ErrorCategory.PERMISSION,
    "INVALID_AUTHENTICATION": ErrorCategory.PERMISSION,
}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def decode_body(body: bytes | str | None) -> dict[str, Any]:
    """The JSON error body, or {} when HubSpot (or a proxy in front of it) sent something else."""
    if not body:
        return {}
    try:
        decoded = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


def rate_limit_wait(body: Mapping[str, Any], headers: Mapping[str, str], now: datetime | None = None) -> float:
    """Seconds to wait after a 429, from what HubSpot said about the limit that was hit."""
    retry_after = _float(_header(headers, "Retry-After"))
    if retry_after is not None:
        return retry_after
    policy = str(body.get("policyName", ""))
    if policy == "DAILY":
        # The daily allowance resets at midnight in the account's time zone; UTC midnight is the guess,
        # and a retry that is still refused simply waits again.
        moment = now or datetime.now(UTC)
        tomorrow = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return (tomorrow - moment).total_seconds()
    if policy == "SECONDLY":
        return SEARCH_WAIT_SECONDS
    interval_ms = _float(_header(headers, INTERVAL_HEADER))
    return interval_ms / 1000 if interval_ms else DEFAULT_INTERVAL_SECONDS


def from_response(
    status: int, body: bytes | str | None, headers: Mapping[str, str], *, search: bool = False
) -> SyncError:
    """The seam error for a whole failed response."""
    decoded = decode_body(body)
    message = str(decoded.get("message") or f"HubSpot answered {status}")
    category = str(decoded.get("category") or "")
    if status == 429:
        if search and "policyName" not in decoded:
            decoded = {**decoded, "policyName": "SECONDLY"}
        wait = rate_limit_wait(decoded, headers)
        return RateLimitedError(f"HubSpot rate limit: {message}", retry_after=wait)
    if status >= 500 or status in _RETRYABLE_STATUSES or status == 0:
        return RetryableError(f"HubSpot {status}: {message}", _float(_header(headers, "Retry-After")))
    if status in (401, 403):
        return PermanentError(f"HubSpot {status}: {message}", ErrorCategory.PERMISSION)
    if status == 404:
        return PermanentError(f"HubSpot 404: {message}", ErrorCategory.MISSING_REFERENCE)
    if status == 409:
        return PermanentError(f"HubSpot 409: {message}", ErrorCategory.DUPLICATE)
    return PermanentError(f"HubSpot {status}: {message}", _CATEGORIES.get(category, ErrorCategory.VALIDATION))


def from_batch_error(entry: Mapping[str, Any]) -> SyncError:
    """The seam error for one entry of a 207's `errors` list."""
    category = str(entry.get("category") or "")
    message = str(entry.get("message") or category or "HubSpot rejected this record")
    if category in ("RATE_LIMITS", "INTERNAL_ERROR") or str(entry.get("status")) in ("429", "500", "502", "503"):
        return RetryableError(f"HubSpot {category}: {message}")
    return PermanentError(f"HubSpot {category}: {message}", _CATEGORIES.get(category, ErrorCategory.VALIDATION))


def from_transport(error: BaseException) -> RetryableError:
    """Timeouts, refused connections, resets: the request may or may not have been applied."""
    return RetryableError(f"HubSpot unreachable: {type(error).__name__}: {error}")


def entry_keys(entry: Mapping[str, Any]) -> list[str]:
    """The input identifiers a 207 error names: objectWriteTraceId values, then ids."""
    context = entry.get("context") or {}
    keys: list[str] = []
    if isinstance(context, Mapping):
        for name in ("objectWriteTraceId", "ids", "id"):
            values = context.get(name) or []
            keys.extend(str(v) for v in (values if isinstance(values, list) else [values]))
    return keys

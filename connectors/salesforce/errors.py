"""Salesforce failures translated into the engine's two error classes, by HTTP status and Salesforce errorCode.

HTTP 5xx, timeouts, resets, UNABLE_TO_LOCK_ROW, INVALID_SESSION_ID  -> RetryableError
403 REQUEST_LIMIT_EXCEEDED                                         -> RateLimitedError(wait for the window)
300 / DUPLICATE_EXTERNAL_ID                                        -> PermanentError(CONFLICT)
DUPLICATE_VALUE                                                    -> PermanentError(DUPLICATE)
NOT_FOUND, ENTITY_IS_DELETED, INVALID_CROSS_REFERENCE_KEY           -> PermanentError(MISSING_REFERENCE)
other 403, INSUFFICIENT_ACCESS_*, invalid_client                   -> PermanentError(PERMISSION)
REQUIRED_FIELD_MISSING, INVALID_FIELD, restricted picklists, ...   -> PermanentError(VALIDATION)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sync_core.domain.errors import ErrorCategory, PermanentError, RateLimitedError, RetryableError, SyncError

# A locked row is held by another transaction; they last seconds, not minutes.
LOCK_RETRY_SECONDS = 5.0
RETRYABLE_CODES = frozenset(
    {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG", "QUERY_TIMEOUT", "INVALID_SESSION_ID"}
)
CATEGORIES: dict[str, ErrorCategory] = {
    "DUPLICATE_VALUE": ErrorCategory.DUPLICATE,
    "DUPLICATES_DETECTED": ErrorCategory.DUPLICATE,
    "DUPLICATE_EXTERNAL_ID": ErrorCategory.CONFLICT,
    "NOT_FOUND": ErrorCategory.MISSING_REFERENCE,
    "ENTITY_IS_DELETED": ErrorCategory.MISSING_REFERENCE,
    "INVALID_CROSS_REFERENCE_KEY": ErrorCategory.MISSING_REFERENCE,
    "INSUFFICIENT_ACCESS_OR_READONLY": ErrorCategory.PERMISSION,
    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": ErrorCategory.PERMISSION,
    "API_DISABLED_FOR_ORG": ErrorCategory.PERMISSION,
    "INVALID_TYPE": ErrorCategory.MAPPING,
}


def error_items(body: Any) -> list[tuple[str, str]]:
    """(code, message) pairs from a Salesforce error body: a REST list, a collection result's errors, or OAuth's."""
    if isinstance(body, Mapping):
        if "error" in body:
            return [(str(body["error"]), str(body.get("error_description", "")))]
        body = [body]
    if isinstance(body, Sequence) and not isinstance(body, str | bytes):
        items = []
        for item in body:
            if isinstance(item, Mapping):
                code = item.get("errorCode") or item.get("statusCode") or "UNKNOWN"
                items.append((str(code), str(item.get("message", ""))))
            else:  # 300 answers list the urls of the matching records
                items.append(("MULTIPLE_CHOICES", str(item)))
        return items
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    return [("UNKNOWN", text[:500])]


def _describe(items: list[tuple[str, str]]) -> str:
    return "; ".join(f"{code}: {message}" if message else code for code, message in items)


def from_codes(items: list[tuple[str, str]], limit_wait: float) -> SyncError:
    """The error for Salesforce error codes (the first decisive one wins)."""
    message = "salesforce: " + _describe(items)
    codes = [code for code, _ in items]
    if "REQUEST_LIMIT_EXCEEDED" in codes:
        return RateLimitedError(message, retry_after=limit_wait)
    if "UNABLE_TO_LOCK_ROW" in codes:
        return RetryableError(message, retry_after=LOCK_RETRY_SECONDS)
    if any(code in RETRYABLE_CODES for code in codes):
        return RetryableError(message)
    for code in codes:
        if code in CATEGORIES:
            return PermanentError(message, CATEGORIES[code])
    return PermanentError(message, ErrorCategory.VALIDATION)


def from_response(status: int, body: Any, limit_wait: float, what: str = "") -> SyncError:
    """The error for a refused HTTP call (`what` names the call for the message)."""
    items = error_items(body)
    prefix = f"salesforce {what}: " if what else "salesforce: "
    described = prefix + f"HTTP {status} " + _describe(items)
    if status >= 500 or status in (408, 429):
        return RetryableError(described)
    if status == 300:
        return PermanentError(described + " (several records hold this external id)", ErrorCategory.CONFLICT)
    if status == 401:
        return RetryableError(described)  # the token was refreshed once already; try the call again later
    error = from_codes(items, limit_wait)
    if isinstance(error, RetryableError):
        return type(error)(described, error.retry_after)  # a quota stays a quota
    category = error.category if isinstance(error, PermanentError) else ErrorCategory.UNEXPECTED
    if status == 403 and category == ErrorCategory.VALIDATION:
        category = ErrorCategory.PERMISSION
    if status == 404 and category == ErrorCategory.VALIDATION:
        category = ErrorCategory.MISSING_REFERENCE
    return PermanentError(described, category)


def from_record_errors(errors: Sequence[Mapping[str, Any]], limit_wait: float) -> SyncError:
    """The error of one record in an sObject Collections result ({statusCode, message, fields} each)."""
    return from_codes(error_items(list(errors)) or [("UNKNOWN", "failed without an error")], limit_wait)


def from_bulk_error(text: str, limit_wait: float) -> SyncError:
    """The error in a Bulk API 2.0 failed-results row: sf__Error reads `CODE:message:fields --`."""
    code, _, rest = text.partition(":")
    return from_codes([(code.strip() or "UNKNOWN", rest.removesuffix("--").strip(" :"))], limit_wait)


def from_token_response(status: int, body: Any) -> SyncError:
    """A refused OAuth token request: bad client credentials are a person's problem, 5xx is not."""
    described = f"salesforce login: HTTP {status} " + _describe(error_items(body))
    if status >= 500 or status == 429:
        return RetryableError(described)
    return PermanentError(described, ErrorCategory.PERMISSION)


def from_transport(kind: str, detail: str) -> RetryableError:
    """A call that got no answer: a timeout (the write may have been applied) or a broken connection."""
    return RetryableError(f"salesforce: {kind}: {detail}"[:1000])


def unexpected(detail: str) -> PermanentError:
    return PermanentError(f"salesforce: {detail}"[:1000], ErrorCategory.UNEXPECTED)

"""Odoo failures from either transport translated into the engine's two error classes.

    odoo.exceptions.ValidationError, UserError, bad arguments (TypeError,
      ValueError, IndexError), JSON-2 422                                  -> PermanentError(VALIDATION)
    odoo.exceptions.MissingError                                           -> PermanentError(MISSING_REFERENCE)
    AccessError, AccessDenied, JSON-2 401/403, a refused login, a database
      that does not exist                                                  -> PermanentError(PERMISSION)
    an unknown model or method (JSON-2 404, "Object x doesn't exist",
      AttributeError)                                                      -> PermanentError(MAPPING)
    HTTP 5xx, timeouts, lost connections, serialization failures           -> RetryableError

Odoo has no rate limit of its own, so nothing here is a RateLimitedError.
"""

from __future__ import annotations

from sync_core.domain.errors import ErrorCategory, PermanentError, RetryableError, SyncError

# Concurrent transactions touching the same rows: PostgreSQL aborts one; the same call succeeds again.
_TRANSIENT = ("SerializationFailure", "TransactionRollbackError", "LockNotAvailable", "concurrent update")
_CATEGORIES = {
    "odoo.exceptions.MissingError": ErrorCategory.MISSING_REFERENCE,
    "odoo.exceptions.AccessError": ErrorCategory.PERMISSION,
    "odoo.exceptions.AccessDenied": ErrorCategory.PERMISSION,
    "werkzeug.exceptions.Unauthorized": ErrorCategory.PERMISSION,
    "werkzeug.exceptions.Forbidden": ErrorCategory.PERMISSION,
    "werkzeug.exceptions.NotFound": ErrorCategory.MAPPING,
    "builtins.AttributeError": ErrorCategory.MAPPING,
    "odoo.exceptions.ValidationError": ErrorCategory.VALIDATION,
    "odoo.exceptions.UserError": ErrorCategory.VALIDATION,
    "odoo.exceptions.RedirectWarning": ErrorCategory.VALIDATION,
    "builtins.TypeError": ErrorCategory.VALIDATION,
    "builtins.ValueError": ErrorCategory.VALIDATION,
    "builtins.IndexError": ErrorCategory.VALIDATION,
    "builtins.KeyError": ErrorCategory.VALIDATION,
}
_BY_STATUS = {401: ErrorCategory.PERMISSION, 403: ErrorCategory.PERMISSION, 404: ErrorCategory.MAPPING,
              422: ErrorCategory.VALIDATION}  # fmt: skip


def _clip(text: str) -> str:
    return text[:1000]


def from_odoo(name: str, message: str, what: str, status: int | None = None) -> SyncError:
    """An error Odoo reported: `name` is the exception's qualified name, `status` the JSON-2 HTTP status."""
    described = _clip(f"odoo {what}: {name}: {message}" if name else f"odoo {what}: {message}")
    if any(marker in name or marker in message for marker in _TRANSIENT):
        return RetryableError(described)
    if name == "odoo.exceptions.UserError" and "doesn't exist" in message and message.startswith("Object "):
        return PermanentError(described, ErrorCategory.MAPPING)  # JSON-RPC's word for an unknown model
    if "OperationalError" in name:
        if "does not exist" in message:
            return PermanentError(described, ErrorCategory.PERMISSION)  # a database name that is wrong
        return RetryableError(described)
    if name in _CATEGORIES:
        return PermanentError(described, _CATEGORIES[name])
    if status is not None and status >= 500:
        return RetryableError(described)
    if status in _BY_STATUS:
        return PermanentError(described, _BY_STATUS[status])
    return PermanentError(described, ErrorCategory.UNEXPECTED)


def from_status(status: int, text: str, what: str) -> SyncError:
    """An HTTP failure without Odoo's error object (a proxy's page, a missing route)."""
    described = _clip(f"odoo {what}: HTTP {status}: {' '.join(text.split())[:300]}")
    if status >= 500 or status in (408, 429):
        return RetryableError(described)
    if status in _BY_STATUS:
        return PermanentError(described, _BY_STATUS[status])
    return PermanentError(described, ErrorCategory.UNEXPECTED)


def from_transport(kind: str, detail: str) -> RetryableError:
    """A call that got no answer: a timeout (the call may have been applied) or a broken connection."""
    return RetryableError(_clip(f"odoo: {kind}: {detail}"))


def login_refused(database: str, login: str) -> PermanentError:
    return PermanentError(f"odoo: login {login!r} on database {database!r} refused: check the API key",
                          ErrorCategory.PERMISSION)


def unexpected(detail: str) -> PermanentError:
    return PermanentError(_clip(f"odoo: {detail}"), ErrorCategory.UNEXPECTED)

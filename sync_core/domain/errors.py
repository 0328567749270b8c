"""The two error classes every connector translates its vendor's failures into.

    SyncError
    ├── RetryableError   (5xx, timeouts, resets, locked rows, expired sessions)
    │   └── RateLimitedError  (429, Salesforce REQUEST_LIMIT_EXCEEDED: the system, not the record)
    └── PermanentError   (validation, duplicate, missing reference, permission, mapping,
                          conflict, unexpected) -- carries an ErrorCategory
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCategory(StrEnum):
    """Why a record could not be synced; the dead-letter cards group by it."""

    VALIDATION = "validation"
    DUPLICATE = "duplicate"
    MISSING_REFERENCE = "missing_reference"
    PERMISSION = "permission"
    MAPPING = "mapping"
    CONFLICT = "conflict"
    APPROVAL_REQUIRED = "approval_required"  # held for a person to approve or reject (an order's prices)
    WAITING = "waiting"  # pending until the target holds a record this one points at (never a dead letter's)
    TRANSIENT = "transient"  # retryable failures that ran out of attempts
    UNEXPECTED = "unexpected"  # anything a connector raised that it did not translate


class SyncError(Exception):
    """A failure of one record or one call, already translated at the connector's edge."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RetryableError(SyncError):
    """The same call may succeed later; `retry_after` is the vendor's hint in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[type[RetryableError], tuple[str, float | None]]:
        return (type(self), (self.message, self.retry_after))


class RateLimitedError(RetryableError):
    """The system refused the call for its API quota: every call to it waits, no record is at fault.

    `retry_after` is when the quota's window frees up, in seconds. Such failures cost a
    record none of its attempts and hold all the connection's lanes until then.
    """

    def __reduce__(self) -> tuple[type[RateLimitedError], tuple[str, float | None]]:
        return (type(self), (self.message, self.retry_after))


class WaitingError(RetryableError):
    """The write points at a record the target does not hold yet, whose own write is queued there.

    It waits for that write rather than fails: no attempt is spent, and it is woken as soon as
    the other record is linked.
    """

    def __reduce__(self) -> tuple[type[WaitingError], tuple[str, float | None]]:
        return (type(self), (self.message, self.retry_after))


class PermanentError(SyncError):
    """Retrying the same call cannot succeed; a person has to look at it."""

    def __init__(self, message: str, category: ErrorCategory) -> None:
        super().__init__(message)
        self.category = category

    def __reduce__(self) -> tuple[type[PermanentError], tuple[str, ErrorCategory]]:
        return (type(self), (self.message, self.category))

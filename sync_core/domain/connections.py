"""A connection's settings as a person edits them, its secrets (write-only), its health, and a check's
result in plain words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync_core.domain.errors import ErrorCategory, PermanentError, RateLimitedError, RetryableError

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def typed_setting(before: Any, text: str) -> Any:
    """The value `text` stands for, of the type the setting had (ValueError when it cannot be)."""
    text = text.strip()
    if isinstance(before, bool):
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise ValueError(f"{text!r} is not yes or no")
    if isinstance(before, int | float):
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)  # a number setting may well take 1.5 where it held 1
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    return text


def edited_settings(before: Mapping[str, Any], typed: Mapping[str, str]) -> dict[str, Any]:
    """The settings after a person's edit: each typed field in the type it had; a field typed blank is
    removed; fields not in the form stay as they were."""
    after = dict(before)
    for name, text in typed.items():
        if not text.strip():
            after.pop(name, None)
            continue
        try:
            after[name] = typed_setting(before.get(name, ""), text)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return after


def settings_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """name -> {"before": ..., "after": ...} for every setting that changed (None: absent)."""
    return {
        name: {"before": before.get(name), "after": after.get(name)}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


def merged_secrets(stored: Mapping[str, str], typed: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The secrets after an edit, and the names of those that changed: a blank field keeps the stored
    secret (the page never shows it, so blank means "leave it"); anything typed replaces it."""
    merged = dict(stored)
    changed = []
    for name, value in sorted(typed.items()):
        if value and merged.get(name) != value:
            merged[name] = value
            changed.append(name)
    return merged, changed


HEALTHY, FAILING, UNTESTED = "healthy", "failing", "untested"


def health(check_ok: bool | None, lanes_failing: int, last_success_at: datetime | None) -> str:
    """Failing when the last test failed or a lane's last run did; healthy when a test or a run succeeded."""
    if check_ok is False or lanes_failing > 0:
        return FAILING
    if check_ok or last_success_at is not None:
        return HEALTHY
    return UNTESTED


@dataclass(frozen=True)
class CheckResult:
    """What testing a connection found, in words a person can act on."""

    ok: bool
    message: str
    seconds: float


def check_result(error: BaseException | None, seconds: float) -> CheckResult:
    """The plain-words result of a connector's `check` that raised `error` (None: it passed)."""
    took = f"{seconds:.2f}s"
    if error is None:
        return CheckResult(True, f"Connected: the system answered and accepted the credentials ({took}).", seconds)
    detail = str(error).strip() or type(error).__name__
    if isinstance(error, PermanentError):
        if error.category == ErrorCategory.PERMISSION:
            message = f"The system refused the credentials: {detail}"
        else:
            message = f"The system answered, but the connection is not ready ({error.category.value}): {detail}"
    elif isinstance(error, RateLimitedError):
        message = f"The system answered, but Revline's API quota is spent for now: {detail}"
    elif isinstance(error, RetryableError):
        message = f"Could not reach the system (is it down, or the URL wrong?): {detail}"
    elif isinstance(error, ValueError):
        message = f"The settings are not complete: {detail}"
    else:
        message = f"The test failed unexpectedly ({type(error).__name__}): {detail}"
    return CheckResult(False, f"{message} ({took}).", seconds)

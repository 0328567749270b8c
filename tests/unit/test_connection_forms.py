"""A connection's form: typed settings, write-only secrets, health and a check's result in plain words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sync_core.domain.connections import (
    FAILING,
    HEALTHY,
    UNTESTED,
    check_result,
    edited_settings,
    health,
    merged_secrets,
    settings_diff,
)
from sync_core.domain.errors import ErrorCategory, PermanentError, RateLimitedError, RetryableError


def test_settings_keep_their_types_and_a_blank_field_removes_one() -> None:
    before = {"base_url": "http://a", "index_lag_seconds": 1, "leads": True, "ratio": 0.5, "extra": "kept"}
    after = edited_settings(before, {"base_url": " http://b ", "index_lag_seconds": "2.5", "leads": "no", "ratio": "1",
                                     "ca_bundle": ""})  # fmt: skip
    assert after == {"base_url": "http://b", "index_lag_seconds": 2.5, "leads": False, "ratio": 1, "extra": "kept"}
    assert edited_settings(before, {"base_url": ""}) == {k: v for k, v in before.items() if k != "base_url"}
    with pytest.raises(ValueError, match="leads: 'maybe' is not yes or no"):
        edited_settings(before, {"leads": "maybe"})


def test_settings_diff() -> None:
    assert settings_diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == {
        "b": {"before": 2, "after": 3},
        "c": {"before": None, "after": 4},
    }


def test_a_blank_secret_keeps_the_stored_one() -> None:
    stored = {"token": "old", "app_secret": "s"}
    assert merged_secrets(stored, {"token": "", "app_secret": ""}) == (stored, [])
    assert merged_secrets(stored, {"token": "new", "app_secret": "s"}) == ({"token": "new", "app_secret": "s"},
                                                                           ["token"])  # fmt: skip
    assert merged_secrets({}, {"api_key": "k"}) == ({"api_key": "k"}, ["api_key"])


@pytest.mark.parametrize(
    ("check_ok", "failing", "success", "expected"),
    [
        (None, 0, None, UNTESTED),
        (True, 0, None, HEALTHY),
        (None, 0, datetime(2026, 1, 1, tzinfo=UTC), HEALTHY),
        (False, 0, datetime(2026, 1, 1, tzinfo=UTC), FAILING),
        (True, 2, None, FAILING),
    ],
)
def test_health(check_ok: bool | None, failing: int, success: datetime | None, expected: str) -> None:
    assert health(check_ok, failing, success) == expected


@pytest.mark.parametrize(
    ("error", "ok", "starts"),
    [
        (None, True, "Connected"),
        (PermanentError("401 Unauthorized", ErrorCategory.PERMISSION), False, "The system refused the credentials"),
        (PermanentError("no revline_id", ErrorCategory.MAPPING), False, "The system answered, but"),
        (RateLimitedError("429", 10), False, "The system answered, but Revline's API quota"),
        (RetryableError("connection refused"), False, "Could not reach the system"),
        (ValueError("HubSpot needs an access token"), False, "The settings are not complete"),
        (KeyError("address"), False, "The test failed unexpectedly (KeyError)"),
    ],
)
def test_check_results_in_plain_words(error: BaseException | None, ok: bool, starts: str) -> None:
    result = check_result(error, 0.25)
    assert result.ok is ok
    assert result.message.startswith(starts)
    assert result.message.endswith("(0.25s).")

"""The overview's alerts: a connection whose lanes fail, a quota spent, a budget running low."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sync_core.services.overview import Alert, ApiUsageStatus, LaneStatus, alerts

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _lane(system: str, object_type: str, state: str, error: str | None = None) -> LaneStatus:
    return LaneStatus(
        id=1, system=system, object_type=object_type, direction="inbound", state=state, paused=False,
        lease_owner=None, lease_expires_at=None, due_at=None, last_run_at=NOW, last_status=state,
        last_error=error, pending_ops=None, last_run=None,
    )  # fmt: skip


def _usage(system: str, daily: tuple[int, int] | None = None, window: tuple[int, int] | None = None,
           held_until: datetime | None = None) -> ApiUsageStatus:
    return ApiUsageStatus(
        system=system, calls=10, window_remaining=window[0] if window else None,
        window_limit=window[1] if window else None, window_seconds=10.0 if window else None,
        daily_remaining=daily[0] if daily else None, daily_limit=daily[1] if daily else None,
        updated_at=NOW, held_until=held_until,
    )  # fmt: skip


def test_a_healthy_ledger_raises_no_alert() -> None:
    lanes = [_lane("hubspot", "contact", "idle"), _lane("salesforce", "contact", "running")]
    assert alerts(lanes, [_usage("salesforce", daily=(90_000, 100_000), window=(50, 100))], NOW) == ()


def test_failing_lanes_raise_one_alert_per_connection_with_the_error() -> None:
    lanes = [
        _lane("hubspot", "contact", "failed", "401 Unauthorized"),
        _lane("hubspot", "company", "failed"),
        _lane("erp", "deal", "idle"),
    ]
    assert alerts(lanes, [], NOW) == (
        Alert("hubspot", "error", "hubspot is failing: the last run of hubspot.contact.inbound, "
                                  "hubspot.company.inbound failed (401 Unauthorized)."),
    )  # fmt: skip


def test_a_spent_quota_and_a_low_budget_are_warnings() -> None:
    usage = [
        _usage("hubspot", window=(0, 190), held_until=NOW + timedelta(seconds=8)),
        _usage("salesforce", daily=(4_000, 100_000), window=(5, 100)),  # both low: the daily one is said
        _usage("erp", window=(9, 100)),
    ]
    assert alerts([], usage, NOW) == (
        Alert("hubspot", "warning", "hubspot's API quota is spent: its lanes wait 8 s, until 09:00:08 UTC."),
        Alert("salesforce", "warning", "salesforce's daily API budget runs low: 4,000 of 100,000 calls left."),
        Alert("erp", "warning", "erp's per-window API budget runs low: 9 of 100 calls left."),
    )

"""Row and card shapes the pages render, and the formatting that turns service results into them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

CATEGORY_HINTS: dict[str, tuple[str, str]] = {
    "validation": ("Validation", "The target system rejected a value"),
    "duplicate": ("Duplicate", "The record already exists in the target"),
    "missing_reference": ("Missing reference", "A linked record is not there yet"),
    "permission": ("Permission", "Revline's integration user lacks access"),
    "mapping": ("Mapping", "No field or value mapping for this data"),
    "conflict": ("Conflict", "Changed on both sides at once"),
    "transient": ("Transient", "Kept failing after every retry"),
    "unexpected": ("Unexpected", "A connector raised an untranslated error"),
    "uncategorised": ("Uncategorised", "Dead without a recorded category"),
}

OP_STATUS_LABELS: dict[str, str] = {
    "pending": "Pending",
    "in_flight": "In flight",
    "done": "Done",
    "dead": "Dead letters",
    "superseded": "Superseded",
    "discarded": "Discarded",
}

PAYLOAD_PREVIEW_CHARS = 120
PAYLOAD_TITLE_CHARS = 2000


@dataclass(frozen=True)
class CountCard:
    """A number with a name: one ops-by-status card or one dead-letter category card."""

    key: str
    label: str
    count: int
    hint: str = ""
    more: bool = False  # counted up to `count` only: there are more


@dataclass(frozen=True)
class LaneView:
    """One lane row of the overview table."""

    id: int
    label: str
    system: str
    object_type: str
    direction: str
    state: str
    last_run: str
    last_run_at: str
    last_status: str
    last_error: str
    pending: str
    worker: str


@dataclass(frozen=True)
class ApiUsageView:
    """One connection's row of the overview's API budget table; a percent of -1 means no limit is known."""

    system: str
    calls: str
    interval: str
    interval_percent: int
    interval_color: str
    daily: str
    daily_percent: int
    daily_color: str
    held_until: str  # HH:MM:SS UTC while the quota is spent, else empty
    held_until_at: str
    updated: str
    updated_at: str


@dataclass(frozen=True)
class ThroughputView:
    """One minute of throughput, ready for plotly."""

    minute: str
    done: int


@dataclass(frozen=True)
class RunView:
    """One row of the Runs table."""

    id: int
    lane: str
    worker: str
    started: str
    started_at: str
    duration: str
    status: str
    records_read: int
    ops_planned: int
    ops_done: int
    ops_retried: int
    ops_dead: int
    api_calls: int
    error: str


@dataclass(frozen=True)
class PassView:
    """One reconciliation pass on the Runs page."""

    id: int
    mode: str
    status: str
    started: str
    started_at: str
    duration: str
    lanes: str
    records_read: int
    opened: int
    closed: int
    heals: int
    api_calls: int
    started_by: str


@dataclass(frozen=True)
class DeadLetterView:
    """One row of the Dead letters table."""

    id: int
    target: str
    object_type: str
    operation: str
    category: str
    category_label: str
    message: str
    payload: str
    payload_full: str
    attempts: int
    source: str
    updated: str
    updated_at: str


def category_card(category: str, count: int) -> CountCard:
    label, hint = CATEGORY_HINTS.get(category, (category.replace("_", " ").capitalize(), ""))
    return CountCard(key=category, label=label, count=count, hint=hint)


def category_label(category: str) -> str:
    return CATEGORY_HINTS.get(category, (category.replace("_", " ").capitalize(), ""))[0]


def iso(value: datetime | None) -> str:
    """A UTC timestamp to the second, or an empty string."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def ago(value: datetime | None, now: datetime) -> str:
    """How long before `now` `value` was, in the largest sensible unit ("never" for None)."""
    if value is None:
        return "never"
    seconds = max(0, int((now - value).total_seconds()))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def quota_text(remaining: int | None, limit: int | None, per_seconds: float | None = None) -> str:
    """Like "812 / 1,000 left per 10s": as much of the quota as the system reports ("—" for nothing)."""
    if remaining is None and limit is None:
        return "—"
    left = "?" if remaining is None else f"{remaining:,}"
    text = f"{left} left" if limit is None else f"{left} / {limit:,} left"
    return f"{text} per {per_seconds:g}s" if per_seconds else text


def quota_percent(remaining: int | None, limit: int | None) -> int:
    """What is left of the quota in percent (0 to 100), or -1 when either figure is unknown."""
    if remaining is None or not limit:
        return -1
    return max(0, min(100, round(100 * remaining / limit)))


def quota_color(percent: int) -> str:
    return "green" if percent > 50 else "amber" if percent > 10 else "red"


def clock(value: datetime | None) -> str:
    """The time of day of a UTC timestamp, to the second, or an empty string."""
    return value.strftime("%H:%M:%S UTC") if value else ""


def money(amount: float, currency: str | None = None) -> str:
    """`12,400` or `12,400 EUR`; blank when nothing is at stake."""
    if not amount:
        return ""
    return f"{amount:,.0f}" + (f" {currency}" if currency else "")


def span(seconds: float | None) -> str:
    """A cycle time in the unit a person reads it in: `45 s`, `12 min`, `1 h`, `3.5 h`, `2 d`; `—` for none."""
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    hours = seconds / 3600
    return f"{_short(hours)} h" if hours < 48 else f"{_short(hours / 24)} d"


def _short(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "running"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 120:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.1f}m"


def payload_text(payload: dict[str, Any], limit: int) -> str:
    """The payload as compact sorted JSON, cut to `limit` characters."""
    text = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ledger_error(exc: Exception) -> str:
    """A one-line message for a failed ledger read, for the page's error callout."""
    first_line = (str(exc).splitlines() or [""])[0]
    return f"Cannot read the ledger ({type(exc).__name__}): {first_line[:300]}"

"""API quotas: what a system reports of its rate limits, and how long to hold off when it is spent."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiUsage:
    """A system's quota as its last response reported it (None: the system did not say)."""

    window_limit: int | None = None
    window_remaining: int | None = None
    window_seconds: float | None = None
    daily_limit: int | None = None
    daily_remaining: int | None = None


DAILY_HOLD_SECONDS = 900.0
"""How long to hold a connection whose daily quota is spent before looking again (it rolls)."""


def hold_seconds(usage: ApiUsage | None) -> float | None:
    """Seconds every worker should leave the system alone, or None while quota remains."""
    if usage is None:
        return None
    if usage.daily_remaining is not None and usage.daily_remaining <= 0:
        return DAILY_HOLD_SECONDS
    if usage.window_remaining is not None and usage.window_remaining <= 0:
        return usage.window_seconds or 1.0
    return None


def leaves_room(usage: ApiUsage | None, reserve: float = 0.25) -> bool:
    """Whether background work (a reconciliation pass) may spend calls: more than `reserve` of
    the window and of the day remain, so live sync keeps the rest."""
    if usage is None:
        return True
    for remaining, limit in ((usage.window_remaining, usage.window_limit), (usage.daily_remaining, usage.daily_limit)):
        if remaining is not None and limit and remaining <= limit * reserve:
            return False
    return True

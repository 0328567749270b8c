"""How the console writes cycle times and money for people to read."""

from __future__ import annotations

import pytest

from console.state.revenue import attainment_color
from console.state.views import money, span


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (30, "30 s"), (300, "5 min"), (3600, "1 h"), (5400, "1.5 h"), (100_000, "27.8 h"),
     (2 * 86400, "2 d"), (30 * 86400, "30 d")],
)  # fmt: skip
def test_cycle_times_read_in_their_unit(seconds: float | None, text: str) -> None:
    assert span(seconds) == text


def test_money_is_grouped_and_blank_when_nothing_is_at_stake() -> None:
    assert (money(12400.4), money(12400, "EUR"), money(0)) == ("12,400", "12,400 EUR", "")


@pytest.mark.parametrize(("share", "color"), [(None, "gray"), (1.0, "green"), (0.95, "green"), (0.9, "amber"),
                                               (0.8, "amber"), (0.5, "red")])  # fmt: skip
def test_attainment_is_green_amber_or_red(share: float | None, color: str) -> None:
    assert attainment_color(share) == color

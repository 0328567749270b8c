"""The Lead-to-cash page over a running `revline demo`, read by a viewer."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from sync_core.domain.access import Role
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_a_viewer_reads_the_funnel_cycle_times_and_revenue_at_risk(
    new_page: Callable[[], Page], users: dict[Role, str]
) -> None:
    page = new_page()
    sign_in(page, users[Role.VIEWER], then="/lead-to-cash")
    expect(page.locator("#page-title")).to_have_text("Lead to cash")
    # the demo links contacts all the time: the week's count is a number above zero, readable as text
    expect(page.locator("#funnel-contacts")).to_have_text(re.compile(r"^[1-9][\d,]*$"))
    for step in ("qualified", "opportunities", "won", "ordered", "invoiced", "paid"):
        expect(page.locator(f"#funnel-{step}")).to_have_text(re.compile(r"^\d[\d,]*$"))
    expect(page.locator("#funnel-chart .main-svg").first).to_be_attached()
    expect(page.locator("[id^='cycle-row-']")).to_have_count(5)
    expect(page.locator("#cycle-row-order_creation")).to_contain_text("1 h")  # its target
    expect(page.locator("#risk-held-amount")).to_have_text(re.compile(r"^[\d,]+$"))
    expect(page.locator("#risk-overdue-count")).to_have_text(re.compile(r"^\d+$"))

    page.locator("#period-select").click()
    page.get_by_role("option", name="Last 24 hours").click()
    expect(page.locator("#funnel-cards")).to_be_visible()
    expect(page.get_by_text("Records that reached each step in the period (Last 24 hours)")).to_be_visible()

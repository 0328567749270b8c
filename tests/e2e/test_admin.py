"""Admins at work on the Schedules and Connections pages of a running `revline demo`, in headless Chromium."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import Engine, func, select
from sqlmodel import col

from sync_core.domain.access import Role
from sync_core.persistence.database import snapshot
from sync_core.persistence.tables import AuditLog, Tick
from sync_core.scheduling import FOLLOW_SECONDS
from sync_core.services import connections, schedules
from tests.e2e.conftest import sign_in
from tests.e2e.test_console import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def _ticks(ledger: Engine, schedule: str) -> int:
    with snapshot(ledger) as session:
        return int(session.scalar(select(func.count()).select_from(Tick).where(col(Tick.schedule) == schedule)) or 0)


def _requested_tick(ledger: Engine, schedule: str, by: str) -> Tick | None:
    with snapshot(ledger) as session:
        return session.scalars(
            select(Tick).where(col(Tick.schedule) == schedule, col(Tick.requested_by) == by)
        ).first()


def _audits(ledger: Engine, subject: str) -> list[tuple[str, str, dict[str, object]]]:
    with snapshot(ledger) as session:
        rows = session.scalars(select(AuditLog).where(col(AuditLog.subject) == subject).order_by(col(AuditLog.id)))
        return [(row.actor, row.action, row.details) for row in rows]


def _click_anyway(button: Locator) -> None:
    """Call a (disabled) button's React click handler, as a crafted client would."""
    button.evaluate(
        """button => {
            const props = Object.keys(button).find(key => key.startsWith('__reactProps$'));
            button[props].onClick({preventDefault() {}, stopPropagation() {}});
        }"""
    )


def test_an_admin_pauses_and_resumes_a_schedule(page: Page, ledger: Engine, users: dict[Role, str]) -> None:
    admin = users[Role.ADMIN]
    wait_for("a poll firing", lambda: _ticks(ledger, "poll"), 30)
    page.goto("/schedules")
    expect(page.locator("#schedule-state-poll")).to_have_text("running")
    expect(page.locator("#schedule-interval-poll")).to_have_text("every 2s")
    expect(page.locator("#schedule-outcome-poll")).to_have_text("ok")
    expect(page.locator("#schedule-how-poll")).to_contain_text("on schedule")
    try:
        page.locator("#pause-poll").click()
        page.locator("#pause-confirm-poll").click()
        expect(page.get_by_text("poll is paused: no worker fires it until it is resumed.")).to_be_visible()
        expect(page.locator("#schedule-state-poll")).to_have_text("paused")
        expect(page.locator("#schedule-next-poll")).to_have_text("paused")

        # The demo's worker stops firing it from its next look at the table.
        time.sleep(FOLLOW_SECONDS + 1.5)
        paused_at = _ticks(ledger, "poll")
        time.sleep(5)  # two and a half intervals
        assert _ticks(ledger, "poll") == paused_at, "the worker kept firing a paused schedule"
        expect(page.locator("#schedule-last-poll")).not_to_have_text(re.compile(r"^[0-4]s ago$"))

        page.locator("#resume-poll").click()
        expect(page.get_by_text("poll is running again")).to_be_visible()
        expect(page.locator("#schedule-state-poll")).to_have_text("running")
        wait_for("a poll firing after the resume", lambda: _ticks(ledger, "poll") > paused_at, 15)
        expect(page.locator("#schedule-last-poll")).to_have_text(re.compile(r"^[0-3]s ago$"))
        expect(page.locator("#schedule-outcome-poll")).to_have_text("ok")
    finally:
        schedules.resume(ledger, "poll", "e2e")  # whatever happened above, the demo keeps polling

    # Run now: one firing, by the admin's request, long before its time (the daily full reconciliation).
    expect(page.locator("#schedule-last-reconcile-full")).to_have_text("never")
    page.locator("#run-now-reconcile-full").click()
    expect(page.get_by_text("reconcile-full will run within seconds")).to_be_visible()
    tick = wait_for("the run-now firing", lambda: _requested_tick(ledger, "reconcile-full", admin), 15)
    assert tick.outcome == "ok"
    expect(page.locator("#schedule-how-reconcile-full")).to_contain_text(f"run now by {admin}")
    expect(page.locator("#schedule-outcome-reconcile-full")).to_have_text("ok")
    assert _ticks(ledger, "reconcile-full") == 1

    audits = _audits(ledger, "schedule:poll")
    assert (admin, "schedule.paused", {"before": {"paused": False}, "after": {"paused": True}}) in audits
    assert (admin, "schedule.resumed", {"before": {"paused": True}, "after": {"paused": False}}) in audits
    assert [(actor, action) for actor, action, _ in _audits(ledger, "schedule:reconcile-full")] == [
        (admin, "schedule.run_requested")
    ]


def test_an_admin_changes_an_interval_and_puts_it_back(page: Page, ledger: Engine, users: dict[Role, str]) -> None:
    page.goto("/schedules")
    expect(page.locator("#schedule-interval-reconcile")).to_have_text("every 5 min")
    try:
        page.locator("#interval-reconcile").click()
        page.locator("#interval-input").fill("soon")
        page.locator("#interval-save").click()
        expect(page.locator("#interval-error")).to_contain_text("is not an interval")
        page.locator("#interval-input").fill("10m")
        expect(page.locator("#interval-preview")).to_have_text("Fires every 10 min.")
        page.locator("#interval-save").click()
        expect(page.get_by_text("reconcile now fires every 10 min")).to_be_visible()
        expect(page.locator("#schedule-interval-reconcile")).to_have_text("every 10 min")
    finally:
        schedules.set_interval(ledger, "reconcile", 300, "e2e")
    assert (
        users[Role.ADMIN], "schedule.interval_changed", {"before": {"seconds": 300.0}, "after": {"seconds": 600.0}}
    ) in _audits(ledger, "schedule:reconcile")


def test_a_viewer_reads_the_schedules_but_a_pause_sent_anyway_is_refused(
    new_page: Callable[[], Page], users: dict[Role, str], ledger: Engine
) -> None:
    page = new_page()
    sign_in(page, users[Role.VIEWER], then="/schedules")
    expect(page.locator("#schedule-state-drain")).to_have_text("running")
    pause = page.locator("#pause-drain")
    expect(pause).to_be_disabled()
    expect(page.locator("#run-now-drain")).to_be_disabled()
    _click_anyway(page.locator("#run-now-drain"))
    expect(page.get_by_text("Your role (viewer) cannot do this")).to_be_visible()
    assert not any(actor == users[Role.VIEWER] for actor, _, _ in _audits(ledger, "schedule:drain"))
    assert schedules.settings(ledger)["drain"].run_requested_at is None


def test_an_admin_tests_a_connection_points_it_elsewhere_and_back(
    page: Page, ledger: Engine, users: dict[Role, str]
) -> None:
    admin = users[Role.ADMIN]
    address = connections.load(ledger, None)["sales"]["address"]
    page.goto("/connections")
    expect(page.locator("#connection-address-sales")).to_have_text(address)
    expect(page.locator("#connection-secrets-sales")).to_have_text("none")
    expect(page.locator("#connection-lanes-sales")).to_contain_text("lanes")

    page.locator("#test-sales").click()
    expect(page.locator("#connection-check-sales")).to_contain_text("Connected")
    expect(page.locator("#connection-health-sales")).to_have_text("healthy")

    try:
        page.locator("#edit-sales").click()
        page.locator("#field-address").fill("127.0.0.1:1")
        page.locator("#connection-save").click()
        expect(page.get_by_text("Saved sales: changed address")).to_be_visible()
        page.locator("#test-sales").click()
        expect(page.locator("#connection-health-sales")).to_have_text("failing")
        expect(page.locator("#connection-check-sales")).to_contain_text("failed")
    finally:
        connections.edit(ledger, "sales", {"address": address}, {}, None, "e2e")
    page.locator("#test-sales").click()
    expect(page.locator("#connection-health-sales")).to_have_text("healthy")

    audits = _audits(ledger, "sales")
    saved = [details for actor, action, details in audits if (actor, action) == (admin, "connection.saved")]
    assert saved == [{"kind": "memory", "settings": {"address": {"before": address, "after": "127.0.0.1:1"}},
                      "secrets": []}]  # fmt: skip
    tests = [details["ok"] for actor, action, details in audits if (actor, action) == (admin, "connection.tested")]
    assert tests == [True, False, True]

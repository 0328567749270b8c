"""Signing in, roles and signing out in the console of a running `revline demo`, in headless Chromium."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, select
from sqlmodel import col

from sync_core.domain.access import Role
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import AuditLog, OutboundOp, RepairAction
from tests.e2e.conftest import sign_in
from tests.e2e.test_console import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_a_stranger_is_sent_to_sign_in_and_back_to_the_page_asked_for(
    new_page: Callable[[], Page], users: dict[Role, str]
) -> None:
    page = new_page()
    page.goto("/dead-letters")
    expect(page).to_have_url(re.compile(r"/sign-in/?\?next=/dead-letters"))
    expect(page.locator("[id^='dead-letter-row-']")).to_have_count(0)

    page.locator("#sign-in-name").fill(users[Role.VIEWER])
    page.locator("#sign-in-password").fill("not the password")
    page.locator("#sign-in-submit").click()
    expect(page.locator("#sign-in-error")).to_contain_text("do not match an active user")

    sign_in(page, users[Role.VIEWER], then="/dead-letters")
    expect(page).to_have_url(re.compile(r"/dead-letters/?$"))
    expect(page.locator("#signed-in-role")).to_have_text("viewer")

    page.locator("#sign-out").click()
    expect(page).to_have_url(re.compile(r"/sign-in/?$"))
    page.goto("/runs")  # the ended session opens nothing
    expect(page).to_have_url(re.compile(r"/sign-in/?\?next=/runs"))


def _a_dead_letter(ledger: Engine) -> int | None:
    with transaction(ledger) as session:
        return session.scalars(select(OutboundOp.id).where(col(OutboundOp.status) == "dead").limit(1)).first()


def test_a_viewer_reads_but_a_retry_sent_anyway_is_refused(
    new_page: Callable[[], Page], users: dict[Role, str], ledger: Engine
) -> None:
    op_id = wait_for("a dead letter", lambda: _a_dead_letter(ledger), 60)
    page = new_page()
    sign_in(page, users[Role.VIEWER], then=f"/dead-letters?op={op_id}")
    retry = page.locator(f"#retry-{op_id}")
    expect(retry).to_be_disabled()

    # The page is public JavaScript: call the button's click handler anyway, as a crafted client would
    # (a disabled button's clicks never reach it; its handler still sends the event).
    retry.evaluate(
        """button => {
            const props = Object.keys(button).find(key => key.startsWith('__reactProps$'));
            button[props].onClick({preventDefault() {}, stopPropagation() {}});
        }"""
    )
    expect(page.get_by_text("Your role (viewer) cannot do this")).to_be_visible()
    with transaction(ledger) as session:
        op = session.get(OutboundOp, op_id)
        assert op is not None
        assert op.status == "dead"
        repairs = session.scalars(select(RepairAction).where(col(RepairAction.op_id) == op_id)).all()
        audits = session.scalars(select(AuditLog).where(col(AuditLog.subject) == f"outbound_op:{op_id}")).all()
    assert repairs == []
    assert audits == []


def test_the_audit_log_shows_who_signed_in_and_filters_by_who(
    page: Page, new_page: Callable[[], Page], users: dict[Role, str]
) -> None:
    sign_in(new_page(), users[Role.VIEWER])
    page.goto("/audit")
    table = page.locator("#audit-table")
    expect(table).to_contain_text("user.signed_in")
    expect(table).to_contain_text(users[Role.ADMIN])

    page.locator("#audit-filter-actor").click()
    page.get_by_role("option", name=users[Role.VIEWER], exact=True).click()
    expect(page.locator("[id^='audit-row-']").first).to_be_visible()
    for row in page.locator("[id^='audit-row-']").all():
        expect(row).to_contain_text(users[Role.VIEWER])
    expect(table).not_to_contain_text(users[Role.ADMIN])

    page.locator("#audit-subject").fill("no such subject anywhere")
    page.locator("#audit-search").click()
    expect(page.locator("#audit-empty")).to_be_visible()

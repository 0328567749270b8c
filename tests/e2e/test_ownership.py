"""Field ownership over a running `revline demo`, in headless Chromium: an admin gives a field to sales,
sees the preview, saves, the running worker follows the new rule, then the admin rolls it back; a viewer
reads the page but a roll back sent anyway is refused."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, select
from sqlmodel import col

from sync_core.domain.access import Role
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import AuditLog, OutboundOp
from sync_core.services import policy
from sync_core.testing import InMemorySystem, connect_systems
from tests.e2e.conftest import sign_in
from tests.e2e.test_console import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

EDIT = "Chief Edit Officer"
AFTER_ROLL_BACK = "Head of Two-Way"


def choose(page: Page, select_id: str, option: str) -> None:
    """Pick `option` in the Radix select whose trigger is `#select_id`."""
    page.locator(f"#{select_id}").click()
    page.get_by_role("option", name=option, exact=True).click()


def linked_contact(marketing: InMemorySystem, sales: InMemorySystem) -> tuple[str, str, str] | None:
    """(email, marketing id, sales id) of a contact both systems hold with the same title."""
    in_sales = {r.get("Email"): (i, r.get("Title")) for i, r in sales.all("contact").items()}
    for external_id, record in sorted(marketing.all("contact").items()):
        email = record.get("email")
        if email in in_sales and in_sales[email][1] and in_sales[email][1] == record.get("jobtitle"):
            return str(email), external_id, in_sales[email][0]
    return None


def policy_audits(ledger: Engine) -> list[AuditLog]:
    with transaction(ledger) as session:
        return list(session.scalars(
            select(AuditLog).where(col(AuditLog.action).like("ownership.%"), col(AuditLog.subject).like("contact %"))
            .order_by(col(AuditLog.id))
        ).all())  # fmt: skip


def test_an_admin_gives_a_field_to_sales_the_sync_follows_and_the_admin_rolls_it_back(
    page: Page, ledger: Engine, systems_address: tuple[str, int]
) -> None:
    connect = connect_systems(systems_address)
    marketing, sales = connect("marketing"), connect("sales")
    email, marketing_id, sales_id = wait_for("a contact in both systems", lambda: linked_contact(marketing, sales), 60)
    initial = policy_audits(ledger)

    page.goto("/")
    page.locator("#nav-ownership").click()
    expect(page).to_have_url(re.compile(r"/ownership/?$"))
    expect(page.locator("#page-title")).to_have_text("Field ownership")
    choose(page, "ownership-object", "contact")
    row = page.locator("#field-row-title")
    expect(row).to_contain_text("jobtitle")  # each system's field beside the canonical one
    expect(row).to_contain_text("Title")

    # title: two_way -> always_owner, sales
    choose(page, "rule-title", "always_owner")
    choose(page, "owner-title", "sales")
    expect(row).to_contain_text("edited")
    page.locator("#ownership-preview").click()
    dialog = page.locator("#preview-dialog")
    expect(dialog).to_contain_text("title: two_way -> always_owner (sales)")
    expect(dialog.locator("#preview-total")).to_have_text(re.compile(r"^\d+$"))
    page.locator("#preview-confirm").click()
    expect(page.get_by_text(re.compile(r"Saved the contact rules as v\d+"))).to_be_visible()
    expect(dialog).to_have_count(0)
    expect(row).not_to_contain_text("edited")

    saved = policy_audits(ledger)[len(initial):]
    assert [(a.action, a.actor) for a in saved] == [("ownership.saved", "e2e-admin")]
    assert ["title", "two_way", None] in saved[0].details["before"]
    assert ["title", "always_owner", "sales"] in saved[0].details["after"]
    expect(page.locator(f"#history-row-{saved[0].id}")).to_contain_text("title: two_way -> always_owner (sales)")
    expect(page.locator(f"#history-row-{saved[0].id}")).to_contain_text("e2e-admin")

    # the running worker follows the new rule: marketing's edit of the title is put back to sales' value
    marketing.put("contact", {"jobtitle": EDIT}, external_id=marketing_id)

    def put_back() -> bool:
        ours, theirs = (marketing.get("contact", marketing_id) or {}), (sales.get("contact", sales_id) or {})
        return ours.get("jobtitle") != EDIT and ours.get("jobtitle") == theirs.get("Title")

    wait_for("marketing's title edit put back to sales' value", put_back, 60)
    assert (sales.get("contact", sales_id) or {}).get("Title") != EDIT

    # roll back to the version before: the preview says what it changes back, then a new version
    before = initial[-1]
    page.locator(f"#restore-{before.id}").click()
    expect(dialog).to_contain_text("title: always_owner (sales) -> two_way")
    page.locator("#preview-confirm").click()
    expect(page.get_by_text(re.compile(r"Rolled the rules back to v\d+, saved as v\d+"))).to_be_visible()
    expect(page.locator("#rule-title")).to_contain_text("two_way")

    rolled = policy_audits(ledger)[len(initial) + 1:]
    assert [(a.action, a.actor) for a in rolled] == [("ownership.rolled_back", "e2e-admin")]
    assert rolled[0].details["changes"] == ["title: always_owner (sales) -> two_way"]
    assert rolled[0].details["rolled_back_to"] == int(before.subject.rsplit(" v", 1)[1])
    expect(page.locator(f"#history-row-{rolled[0].id}")).to_contain_text("rules rolled back")

    # two_way again: marketing's edit travels to sales (the demo's traffic may change it again after).
    # The edit is made once the roll back's own queued writes are out: one still pending when the person
    # edits would be written over the edit (it was planned before it).
    wait_for("the roll back's writes sent", lambda: not policy_writes_waiting(ledger), 60)
    marketing.put("contact", {"jobtitle": AFTER_ROLL_BACK}, external_id=marketing_id)
    wait_for("marketing's title written to sales", lambda: written_title(ledger, "sales", AFTER_ROLL_BACK), 60)
    assert email


def policy_writes_waiting(ledger: Engine) -> bool:
    """Whether writes a policy change queued are still waiting to be sent."""
    with transaction(ledger) as session:
        return session.scalars(select(OutboundOp.id).where(
            col(OutboundOp.source_system) == policy.SOURCE, col(OutboundOp.status).in_(["pending", "in_flight"]),
        ).limit(1)).first() is not None  # fmt: skip


def written_title(ledger: Engine, target: str, title: str) -> bool:
    """Whether Revline wrote `title` as a contact's title to `target`."""
    with transaction(ledger) as session:
        ops = session.scalars(select(OutboundOp).where(
            col(OutboundOp.target_system) == target, col(OutboundOp.object_type) == "contact",
            col(OutboundOp.status) == "done",
        ).order_by(col(OutboundOp.id).desc()).limit(200)).all()  # fmt: skip
    return any(op.payload.get("title") == title for op in ops)


def test_a_viewer_reads_the_policy_but_a_roll_back_sent_anyway_is_refused(
    new_page: Callable[[], Page], users: dict[Role, str], ledger: Engine
) -> None:
    page = new_page()
    sign_in(page, users[Role.VIEWER], then="/ownership?object=contact")
    expect(page.locator("#ownership-read-only")).to_be_visible()
    expect(page.locator("#ownership-table")).to_contain_text("email")
    expect(page.locator("#rule-email")).to_be_disabled()
    expect(page.locator("#ownership-preview")).to_be_disabled()
    restore = page.locator("[id^='restore-']").first
    expect(restore).to_be_disabled()
    before = len(policy_audits(ledger)), current_rules(ledger)

    restore.evaluate(
        """button => {
            const props = Object.keys(button).find(key => key.startsWith('__reactProps$'));
            button[props].onClick({preventDefault() {}, stopPropagation() {}});
        }"""
    )
    expect(page.get_by_text("Your role (viewer) cannot do this")).to_be_visible()
    expect(page.locator("#preview-dialog")).to_have_count(0)
    assert (len(policy_audits(ledger)), current_rules(ledger)) == before


def current_rules(ledger: Engine) -> int:
    return policy.current(ledger, "contact")[1] or 0

"""The console over a running `revline demo`, in headless Chromium: the live overview, paged runs,
a dead letter retried from its page and then written by the real worker, the HTTP routes."""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import TypeVar

import pytest
from playwright.sync_api import Locator, Page, expect
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, Select, func, select
from sqlmodel import col

from console.demo import SYSTEMS
from sync_core.persistence import ledger as ledger_module
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import (
    ApiUsage,
    AuditLog,
    Finding,
    Lane,
    OutboundOp,
    ReconcileRun,
    RepairAction,
    SyncRun,
)
from sync_core.services import trace
from sync_core.services.runs import lane_label
from sync_core.testing import connect_systems

# The first run builds the frontend (a ~330 MB npm download) inside the first test's setup.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

T = TypeVar("T")

LANES = sorted(lane_label(*lane) for lane in product(SYSTEMS, ("company", "contact"), ("inbound", "outbound")))
LANE_STATES = {"running", "paused", "held", "failed", "idle"}
REJECTED = "key accounts need an approved credit limit"  # what sales says to a Key Account's first write


def syncing(labels: Iterable[str]) -> list[str]:
    """The sync lanes among lane labels (reconciliation passes have lanes too), sorted."""
    return sorted(label for label in labels if not label.endswith(".reconcile"))


def wait_for(what: str, probe: Callable[[], T | None], timeout: float) -> T:
    """Poll `probe` until it returns something truthy (and return that), for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout:.0f}s")
        time.sleep(0.25)


# -- facts from the ledger the demo writes ------------------------------------------------------


def lanes(ledger: Engine) -> dict[str, Lane]:
    with transaction(ledger) as session:
        rows = session.execute(select(Lane)).scalars().all()
    return {lane_label(lane.system, lane.object_type, lane.direction): lane for lane in rows}


def tally(ledger: Engine, query: Select[str | None, int]) -> dict[str, int]:
    """`key -> count` from a `select(column, func.count()) ... .group_by(column)`."""
    with transaction(ledger) as session:
        return {str(key): n for key, n in session.execute(query).all()}


def ops_by_status(ledger: Engine) -> dict[str, int]:
    status = col(OutboundOp.status)
    return tally(ledger, select(status, func.count()).group_by(status))


def dead_by_category(ledger: Engine) -> dict[str, int]:
    category = col(OutboundOp.error_category)
    return tally(ledger, select(category, func.count()).where(col(OutboundOp.status) == "dead").group_by(category))


def runs_by_status(ledger: Engine) -> dict[str, int]:
    status = col(SyncRun.status)
    return tally(ledger, select(status, func.count()).group_by(status))


def api_calls(ledger: Engine) -> dict[str, int]:
    return tally(ledger, select(col(ApiUsage.system), col(ApiUsage.calls)))


def settled_op(ledger: Engine, op_id: int) -> OutboundOp | None:
    """Outbound op `op_id` once it is done or dead again, else None."""
    with transaction(ledger) as session:
        op = session.get_one(OutboundOp, op_id)
    return op if op.status in ("done", "dead") else None


def rejected_key_account(ledger: Engine) -> OutboundOp | None:
    """The newest dead letter a retry will fix: a Key Account's write that sales rejected once."""
    query = (
        select(OutboundOp)
        .where(
            col(OutboundOp.status) == "dead",
            col(OutboundOp.operation) == "upsert",
            col(OutboundOp.target_system) == "sales",
            col(OutboundOp.error_category) == "validation",
        )
        .order_by(col(OutboundOp.id).desc())
    )
    with transaction(ledger) as session:
        dead = session.execute(query).scalars().all()
    # A change planned before that first write went out with it and died with it: skip those.
    return next((op for op in dead if str(op.payload.get("name", "")).startswith("Key Account")), None)


# -- the pages ----------------------------------------------------------------------------------


def count(page: Page, selector: str) -> int:
    return int(page.locator(selector).inner_text().strip())


def run_ids(rows: Locator) -> list[int]:
    """The run ids of the rows on screen, read in one go (the page refreshes itself)."""
    ids: list[str] = rows.evaluate_all("rows => rows.map(row => row.id)")
    return [int(row_id.removeprefix("run-row-")) for row_id in ids]


def test_overview_shows_the_demo_lanes_and_counts_that_change(page: Page, ledger: Engine) -> None:
    # sync lanes from the start; a reconciliation pass (the scheduler's, every 5 minutes) adds its own
    assert syncing(lanes(ledger)) == LANES
    page.goto("/")

    table = page.locator("#lane-table")
    expect(table).to_be_visible()
    for label in LANES:
        expect(table.get_by_role("link", name=label, exact=True)).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows.first).to_be_visible()
    shown: list[str] = rows.evaluate_all("rows => rows.map(row => row.querySelector('a').textContent)")
    assert set(LANES) <= set(shown) <= set(lanes(ledger))
    states: list[str] = rows.evaluate_all("rows => rows.map(row => row.dataset.state)")
    assert set(states) <= LANE_STATES
    expect(page.locator("#throughput-chart .main-svg").first).to_be_attached()

    # A row per connection in the API budget: the in-memory systems count calls but report no quota.
    wait_for("API calls of every system", lambda: sorted(api_calls(ledger)) == sorted(SYSTEMS), 30)
    budget = page.locator("#api-usage-table")
    expect(budget).to_be_visible()
    expect(budget.locator("tbody tr")).to_have_count(len(SYSTEMS))
    for system in SYSTEMS:
        expect(budget.locator(f"#api-usage-{system}")).to_be_visible()
        expect(page.locator(f"#api-calls-{system}")).to_have_text(re.compile(r"^[1-9][\d,]*$"))
        expect(page.locator(f"#api-daily-remaining-{system}")).to_have_text("—")

    # The worker writes the generator's traffic all the time; the page polls every two seconds.
    done = page.locator("#ops-done")
    expect(done).to_have_text(re.compile(r"^\d+$"))
    before = count(page, "#ops-done")
    expect(done).not_to_have_text(str(before), timeout=20_000)
    assert count(page, "#ops-done") > before

    # The scripted faults (a rejected write, a malformed email) leave validation dead letters.
    wait_for("validation dead letter", lambda: dead_by_category(ledger).get("validation"), 60)
    expect(page.locator("#dead-count-validation")).to_have_text(re.compile(r"^[1-9]\d*$"))


def test_runs_are_paged_newest_first(page: Page, ledger: Engine) -> None:
    wait_for("26th run", lambda: sum(runs_by_status(ledger).values()) > 25, 60)
    page.goto("/runs")

    rows = page.locator("#runs-table tbody tr")
    expect(rows).to_have_count(25)
    expect(page.locator("#runs-page")).to_contain_text("Page 1 of")
    assert count(page, "#runs-total") > 25
    expect(page.locator("#runs-prev")).to_be_disabled()
    first_page = run_ids(rows)
    assert first_page == sorted(first_page, reverse=True)

    page.locator("#runs-next").click()

    expect(page.locator("#runs-page")).to_contain_text("Page 2 of")
    expect(page.locator("#runs-prev")).to_be_enabled()
    second_page = run_ids(rows)
    assert second_page == sorted(second_page, reverse=True)
    # New runs shift the pages while we read them, but never by 25 in a few seconds.
    assert second_page[0] < first_page[0]


def test_a_lane_links_to_its_runs(page: Page, ledger: Engine) -> None:
    label = "marketing.company.inbound"  # polled every two seconds from the start
    wait_for(f"run of {label}", lambda: lanes(ledger)[label].last_run_at, 30)
    lane = lanes(ledger)[label]
    page.goto("/")
    page.locator("#lane-table").get_by_role("link", name=label, exact=True).click()

    expect(page).to_have_url(re.compile(rf"/runs/?\?lane={lane.id}$"))
    expect(page.locator("#runs-all-lanes")).to_be_visible()
    rows = page.locator("#runs-table tbody tr")
    expect(rows.first).to_contain_text(label)
    for other in LANES:
        if other != label:
            expect(page.locator("#runs-table")).not_to_contain_text(other)


def test_a_retried_dead_letter_leaves_the_page_and_the_worker_writes_it(
    page: Page, ledger: Engine, systems_address: tuple[str, int]
) -> None:
    dead = wait_for("Key Account write rejected by sales", lambda: rejected_key_account(ledger), 60)
    assert dead.id is not None
    op_id, name = dead.id, str(dead.payload["name"])
    page.goto("/")
    page.locator("#dead-card-validation").click()

    expect(page).to_have_url(re.compile(r"/dead-letters/?\?category=validation$"))
    expect(page.locator("#dead-letters-category")).to_have_text("Validation")
    row = page.locator(f"#dead-letter-row-{op_id}")
    expect(row).to_be_visible()
    expect(row).to_contain_text(REJECTED)
    expect(row).to_contain_text(name)

    page.locator(f"#retry-{op_id}").click()

    expect(page.get_by_text(f"Op {op_id} is queued again")).to_be_visible()
    expect(row).to_have_count(0)
    # The real worker writes it on the next outbound run (or a few seconds later after a rate limit).
    settled = wait_for(f"write of op {op_id}", lambda: settled_op(ledger, op_id), 30)
    assert settled.status == "done", f"op {op_id} is {settled.status}: {settled.error_message}"
    sales = connect_systems(systems_address)("sales")
    assert name in {record.get("Name") for record in sales.all("company").values()}
    with transaction(ledger) as session:
        repairs = session.execute(select(RepairAction).where(col(RepairAction.op_id) == op_id)).scalars().all()
        audits = (
            session.execute(select(AuditLog).where(col(AuditLog.subject) == f"outbound_op:{op_id}")).scalars().all()
        )
    assert [(r.action, r.actor, r.details["previous_category"]) for r in repairs] == [
        ("retry", "e2e-admin", "validation")
    ]
    assert [(a.action, a.actor) for a in audits] == [("dead_letter.retry", "e2e-admin")]

    page.reload()
    expect(page.locator("#dead-letters-category")).to_have_text("Validation")
    expect(page.locator("[id^='dead-letter-row-'], #dead-letters-empty").first).to_be_visible()  # loaded...
    expect(row).to_have_count(0)  # ...and the op, done, is not in it


def test_status_and_metrics_routes(console_url: str, ledger: Engine) -> None:
    wait_for("last run on every lane", lambda: all(lane.last_run_at for lane in lanes(ledger).values()), 30)
    # The demo keeps writing: each number served must lie between the ledger's before and after.
    ops_before, dead_before, runs_before = ops_by_status(ledger), dead_by_category(ledger), runs_by_status(ledger)
    with urllib.request.urlopen(f"{console_url}/api/status", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("application/json")
        body = json.load(response)
    with urllib.request.urlopen(f"{console_url}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    ops_after, dead_after, runs_after = ops_by_status(ledger), dead_by_category(ledger), runs_by_status(ledger)

    # the sync lanes; a reconciliation pass the scheduler started meanwhile adds lanes of its own
    assert syncing(lane["lane"] for lane in body["lanes"]) == LANES
    assert syncing(body["last_run_by_lane"]) == LANES
    assert all(body["last_run_by_lane"][lane] is not None for lane in LANES)
    assert 0 < ops_before["done"] <= body["ops_by_status"]["done"] <= ops_after["done"]
    assert dead_before["validation"] <= body["dead_letters_by_category"]["validation"] <= dead_after["validation"]

    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert ops_before["done"] <= samples[("revline_ops", (("status", "done"),))] <= ops_after["done"]
    validation = samples[("revline_dead_letters", (("category", "validation"),))]
    assert dead_before["validation"] <= validation <= dead_after["validation"]
    assert runs_before["ok"] <= samples[("revline_runs_total", (("status", "ok"),))] <= runs_after["ok"]
    timestamps = {dict(labels)["lane"] for name, labels in samples if name == "revline_lane_last_run_timestamp_seconds"}
    assert syncing(timestamps) == LANES


def _story(ledger: Engine) -> tuple[str, int]:
    """A won deal's story written to the demo's ledger as the flows write it: won, held for a price, approved,
    confirmed; returns the story's order number and the held order's outbox row."""
    deal, story = "d-" + uuid.uuid4().hex[:8], "s-" + uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    with transaction(ledger) as session:
        trace.join(session, deal, "deal", story, now)
        trace.add_keys(session, story, {"deal": "Initech rollout", "order": f"S-{story}", "salesforce_id": "006E2E"})
        trace.milestone(session, story, "deal.won", "salesforce", now - timedelta(seconds=95), {"record": deal})
        op = OutboundOp(
            idempotency_key=uuid.uuid4().hex, target_system="erp", object_type="deal", canonical_id=deal,
            operation="place", source_system="salesforce", source_id="006E2E", source_version="-",
            payload={"lines": []}, status="dead", attempts=1, next_attempt_at=now, error_category="approval_required",
            error_message="prices differ from the ERP pricelist by more than 2%: W-1 at 130 (list 100)",
            result={}, correlation_id=story, created_at=now, updated_at=now,
        )
        session.add(op)
        session.flush()
        checked = now - timedelta(seconds=90)
        ledger_module.add_spans(session, [{
            "correlation_id": story, "name": "order.check", "system": "erp", "started_at": checked,
            "ended_at": checked, "status": "held", "attributes": {"record": deal, "error": op.error_message},
        }])  # fmt: skip
        trace.milestone(session, story, "order.confirmed", "erp", now, {"record": deal})
        assert op.id is not None
        return f"S-{story}", op.id


def test_the_trace_page_finds_a_deal_and_links_its_repair(page: Page, ledger: Engine) -> None:
    order, op_id = _story(ledger)
    page.goto("/trace")
    page.locator("#trace-query").fill(order.lower())
    page.locator("#trace-find").click()

    timeline = page.locator("#trace-timeline .trace-step")
    expect(timeline).to_have_count(3)
    names = [timeline.nth(i).get_attribute("data-name") for i in range(3)]
    assert names == ["deal.won", "order.check", "order.confirmed"]
    expect(page.locator("#trace-hops")).to_contain_text("Won to order")
    expect(page.locator("#trace-hops")).to_contain_text("95 s")
    held = timeline.nth(1)
    expect(held.locator(".step-status")).to_have_text("held")
    expect(held).to_contain_text("W-1 at 130")
    held.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/dead-letters/?\?op={op_id}$"))
    expect(page.locator(f"#dead-letter-row-{op_id}")).to_be_visible()
    expect(page.locator("[id^='dead-letter-row-']")).to_have_count(1)

    page.goto("/trace?q=no-such-deal@example.com")
    expect(page.locator("#trace-empty")).to_be_visible()


def test_mismatches_show_a_deleted_record_and_a_person_ignores_it(
    page: Page, ledger: Engine, systems_address: tuple[str, int]
) -> None:
    sales = connect_systems(systems_address)("sales")
    contacts = wait_for("a contact in sales", lambda: sales.all("contact") or None, 60)
    gone = sorted(contacts)[0]
    sales.delete("contact", gone)  # deletions do not sync: only reconciliation sees it

    page.goto("/mismatches")
    page.locator("#reconcile-run-now").click()
    row = page.locator("[id^='finding-row-'][data-kind='orphan']")
    expect(row).to_have_count(1, timeout=60_000)
    expect(row).to_contain_text(gone)
    expect(page.locator("#mismatch-count-orphan")).to_have_text("1")
    expect(row.get_by_role("button", name="Link")).to_be_visible()  # to the record that replaced it, if any

    # filtering by kind narrows the table and the bulk action says how many it would touch
    page.locator("#mismatch-card-orphan").click()
    expect(page.locator("[id^='finding-row-']")).to_have_count(1)
    page.locator("#bulk-ignore").click()
    expect(page.locator("#bulk-ignore-count")).to_have_text("1")
    page.get_by_role("button", name="Cancel").click()

    # ignoring needs a reason; with one the finding leaves the open list, audited
    row.get_by_role("button", name="Ignore").click()
    expect(page.get_by_text("a reason is required")).to_be_visible()
    page.locator("#mismatch-reason").fill("contact merged by sales on purpose")
    row.get_by_role("button", name="Ignore").click()
    expect(page.locator("#mismatches-empty")).to_be_visible()
    with transaction(ledger) as session:
        finding = session.scalars(select(Finding).where(col(Finding.kind) == "orphan")).one()
        assert (finding.status, finding.reason) == ("ignored", "contact merged by sales on purpose")
        audit = session.scalars(select(AuditLog).where(col(AuditLog.action) == "finding.ignore")).one()
        assert audit.actor == "e2e-admin"

    # the pass is on the Runs page with what it read and found (the scheduler's passes may be there too)
    with transaction(ledger) as session:
        full = session.scalars(select(ReconcileRun).where(col(ReconcileRun.mode) == "full")
                               .order_by(col(ReconcileRun.id).desc())).first()  # fmt: skip
        assert full is not None
    page.goto("/runs")
    pass_row = page.locator(f"#pass-row-{full.id}")
    expect(pass_row).to_contain_text("full")
    expect(pass_row).to_contain_text("done", timeout=60_000)  # its other lanes may still be reading
    page.goto("/mismatches")
    expect(page.locator("#mismatch-trend .main-svg").first).to_be_attached()  # open findings over time

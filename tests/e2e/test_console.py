"""The console in headless Chromium: live overview, paged runs, retrying a dead letter, the HTTP routes."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from typing import Protocol

import pytest
from playwright.sync_api import Page, expect

# The first run builds the frontend (a ~330 MB npm download) inside the first test's setup.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]


class Traffic(Protocol):
    """What these tests need from the `feeder` fixture (today's LedgerFeeder, later `revline demo`)."""

    lane_labels: list[str]
    dead_counts: dict[str, int]  # dead letters seeded per category, none retried by the traffic itself
    dead_ids: dict[str, list[int]]
    seeded_runs: int
    error: BaseException | None

    def op_status(self, op_id: int) -> str: ...


def count(page: Page, selector: str) -> int:
    return int(page.locator(selector).inner_text().strip())


def test_overview_shows_lanes_and_counts_that_change(page: Page, feeder: Traffic) -> None:
    page.goto("/")

    table = page.locator("#lane-table")
    expect(table).to_be_visible()
    for label in feeder.lane_labels:
        expect(table).to_contain_text(label)
    expect(table.locator("[data-state='running']")).to_have_count(1)
    expect(page.locator("#dead-count-duplicate")).to_have_text(str(feeder.dead_counts["duplicate"]))
    expect(page.locator("#throughput-chart .main-svg").first).to_be_attached()

    done = page.locator("#ops-done")
    expect(done).to_have_text(re.compile(r"^\d+$"))
    before = count(page, "#ops-done")
    # The feeder completes ops every half second and the page polls every two.
    expect(done).not_to_have_text(str(before), timeout=15_000)
    assert count(page, "#ops-done") > before
    assert feeder.error is None


def test_runs_are_paged_newest_first(page: Page, feeder: Traffic) -> None:
    page.goto("/runs")

    expect(page.locator("#runs-table tbody tr")).to_have_count(25)
    assert count(page, "#runs-total") >= feeder.seeded_runs
    expect(page.locator("#runs-prev")).to_be_disabled()
    first_id = page.locator("#runs-table tbody tr").first.get_attribute("id")

    page.locator("#runs-next").click()

    expect(page.locator("#runs-page")).to_contain_text("Page 2 of")
    expect(page.locator("#runs-table tbody tr").first).not_to_have_id(first_id or "")
    expect(page.locator("#runs-prev")).to_be_enabled()


def test_a_lane_links_to_its_runs(page: Page, feeder: Traffic) -> None:
    label = feeder.lane_labels[0]
    page.goto("/")
    page.locator("#lane-table").get_by_role("link", name=label).click()

    expect(page.locator("#runs-all-lanes")).to_be_visible()
    rows = page.locator("#runs-table tbody tr")
    expect(rows.first).to_contain_text(label)
    for other in feeder.lane_labels[1:]:
        expect(page.locator("#runs-table")).not_to_contain_text(other)


def test_a_retried_dead_letter_leaves_the_list_and_gets_done(page: Page, feeder: Traffic) -> None:
    op_id = feeder.dead_ids["validation"][0]
    page.goto("/")
    page.locator("#dead-card-validation").click()

    expect(page).to_have_url(re.compile(r"/dead-letters/?\?category=validation$"))
    expect(page.locator("#dead-letters-category")).to_have_text("Validation")
    row = page.locator(f"#dead-letter-row-{op_id}")
    expect(row).to_be_visible()
    expect(row).to_contain_text("rejected by the ERP")
    expect(row).to_contain_text('"amount":1200')
    expect(page.locator("[id^='dead-letter-row-']")).to_have_count(feeder.dead_counts["validation"])

    page.locator(f"#retry-{op_id}").click()

    expect(page.get_by_text(f"Op {op_id} is queued again")).to_be_visible()
    expect(row).to_have_count(0)
    expect(page.locator("[id^='dead-letter-row-']")).to_have_count(feeder.dead_counts["validation"] - 1)
    deadline = time.monotonic() + 10
    while feeder.op_status(op_id) != "done" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert feeder.op_status(op_id) == "done"


def test_status_and_metrics_routes(console_url: str, feeder: Traffic) -> None:
    with urllib.request.urlopen(f"{console_url}/api/status", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("application/json")
        body = json.load(response)
    assert {lane["lane"] for lane in body["lanes"]} == set(feeder.lane_labels)
    assert body["ops_by_status"]["done"] > 0
    assert body["dead_letters_by_category"]["duplicate"] == feeder.dead_counts["duplicate"]
    assert set(body["last_run_by_lane"]) == set(feeder.lane_labels)

    with urllib.request.urlopen(f"{console_url}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    assert f'revline_dead_letters{{category="duplicate"}} {feeder.dead_counts["duplicate"]:.1f}' in text
    assert "revline_lane_last_run_timestamp_seconds{lane=" in text
    assert 'revline_runs_total{status="ok"}' in text

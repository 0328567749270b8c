"""SalesforceConnector.scan against the sandbox through simple-salesforce: SOQL pages keyed on Id."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from connectors.salesforce import SalesforceConfig, SalesforceConnector
from connectors.salesforce.sandbox import RunningSandbox, create_app, start
from sync_core.domain.changes import ScanPage, SourceRecord, WriteRequest
from sync_core.domain.errors import ErrorCategory, PermanentError


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with start(create_app(seed=13, records=8)) as running:
        yield running


@pytest.fixture
def org(sandbox: RunningSandbox) -> RunningSandbox:
    sandbox.state.reset()
    sandbox.state.clock.freeze(datetime.now(UTC).replace(microsecond=0))
    return sandbox


@pytest.fixture
def http(org: RunningSandbox) -> Iterator[requests.Session]:
    session = requests.Session()
    session.verify = str(org.ca_file)
    session.trust_env = False
    yield session
    session.close()


_opened: list[SalesforceConnector] = []


@pytest.fixture(autouse=True)
def _close_connectors() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


def connect(org: RunningSandbox, **overrides: Any) -> SalesforceConnector:
    settings: dict[str, Any] = {
        "login_url": org.url, "client_id": "sandbox", "client_secret": "sandbox", "ca_bundle": str(org.ca_file),
        "bulk_poll_seconds": 0, "timeout_seconds": 5,
    }  # fmt: skip
    connector = SalesforceConnector(SalesforceConfig(**(settings | overrides)), clock=org.state.clock)
    _opened.append(connector)
    return connector


def scan_all(connector: SalesforceConnector, object_type: str, limit: int,
             after: str | None = None) -> tuple[list[ScanPage], list[SourceRecord]]:  # fmt: skip
    pages: list[ScanPage] = []
    while True:
        page = connector.scan(object_type, after, limit)
        pages.append(page)
        after = page.after
        if after is None:
            return pages, [r for p in pages for r in p.records]


def live_ids(org: RunningSandbox, sobject: str) -> list[str]:
    return sorted(r.id for r in org.state.store.rows(sobject))


def endpoint_counts(http: requests.Session, org: RunningSandbox) -> dict[str, int]:
    result: dict[str, int] = http.get(f"{org.url}/__sandbox__/requests?limit=0").json()["counts"]
    return result


def write(canonical_id: str, **fields: Any) -> WriteRequest:
    return WriteRequest(canonical_id, None, fields, (f"key-{canonical_id}",))


def test_a_scan_reads_every_live_record_once_in_id_order(org: RunningSandbox, http: requests.Session) -> None:
    connector = connect(org)
    created = connector.write_batch("company", [write(f"a-{i}", Name=f"Scan {i}") for i in range(12)])
    gone = str(created[4].external_id)
    assert http.delete(f"{org.url}/__sandbox__/records/Account/{gone}").status_code == 204
    expected = live_ids(org, "Account")
    assert gone not in expected
    connector.read("company", expected[:1])  # the describe and the user directory, read once per connector
    before = connector.api_calls

    pages, records = scan_all(connector, "company", 5)

    assert [r.external_id for r in records] == expected  # each once, in Id order, the deleted one left out
    assert [len(p.records) for p in pages[:-1]] == [5] * (len(pages) - 1)
    assert 0 < len(pages[-1].records) < 5 or len(expected) % 5 == 0
    assert connector.api_calls - before == len(pages)  # one query per page
    assert {r.canonical_id for r in records} >= {f"a-{i}" for i in range(12) if i != 4}
    assert records == connector.read("company", expected)  # the same records read() gives


def test_a_scan_resumes_from_a_pages_position_in_another_connector(org: RunningSandbox) -> None:
    first = connect(org).scan("company", None, 3)
    assert first.after == first.records[-1].external_id
    _, rest = scan_all(connect(org), "company", 3, first.after)
    assert [r.external_id for r in first.records + tuple(rest)] == live_ids(org, "Account")


def test_pages_hold_2000_rows_one_query_each(org: RunningSandbox, http: requests.Session) -> None:
    connector = connect(org)
    connector.write_batch("contact", [write(f"c-{i}", LastName=f"Page {i}") for i in range(2100)])
    total = len(live_ids(org, "Contact"))
    connector.read("contact", live_ids(org, "Contact")[:1])  # the describe and the user directory, once
    before = endpoint_counts(http, org).get("query", 0)

    pages, records = scan_all(connector, "contact", 10_000)

    assert [len(p.records) for p in pages] == [2000, total - 2000]
    assert len({r.external_id for r in records}) == total
    assert endpoint_counts(http, org).get("query", 0) - before == 2


def test_scanned_deals_carry_their_lines_and_products_their_price_as_read_gives_them(org: RunningSandbox) -> None:
    connector = connect(org)
    deals = live_ids(org, "Opportunity")
    assert any(org.state.store.rows("OpportunityLineItem"))
    connector.read("deal", deals[:1])  # the describe and the user directory, read once per connector
    before = connector.api_calls
    pages, records = scan_all(connector, "deal", 4)
    assert [r.external_id for r in records] == deals
    # A page costs its query and one range query each for its lines and its contact roles; an empty page
    # (after a full one) its query.
    assert connector.api_calls - before == sum(3 if p.records else 1 for p in pages)
    assert any(r.fields["OpportunityLineItems"] for r in records)
    assert records == connector.read("deal", deals)

    products = live_ids(org, "Product2")
    _, scanned = scan_all(connector, "product", 3)
    assert [r.external_id for r in scanned] == products
    assert all(r.fields.get("UnitPrice") is not None for r in scanned)
    assert scanned == connector.read("product", products)


def test_with_leads_people_are_contacts_then_unconverted_leads(org: RunningSandbox, http: requests.Session) -> None:
    connector = connect(org, leads=True)
    [lead] = connector.write_batch("contact", [write("c-lead", LastName="Ng", Company="Acme")])
    converted = http.post(f"{org.url}/__sandbox__/leads/{lead.external_id}/convert", json={}).json()
    contacts, leads = live_ids(org, "Contact"), live_ids(org, "Lead")
    open_leads = [r.id for r in org.state.store.rows("Lead") if not r.values.get("IsConverted")]
    assert lead.external_id in leads
    assert lead.external_id not in open_leads

    pages, records = scan_all(connector, "contact", 4)

    # Contacts' pages first, the Leads' after them (a short page of Contacts hands over to the Leads).
    assert {p.records[0].external_id[:3] for p in pages if p.records} == {"003", "00Q"}
    assert [r.external_id for r in records] == contacts + sorted(open_leads)  # 003... sort before 00Q...
    assert all(not r.replaces for r in records)  # a converted lead is its contact, read once
    became = next(r for r in records if r.external_id == converted["contact"])
    assert became.canonical_id == "c-lead"
    assert became.fields["ConvertedOpportunityId"] == converted["opportunity"]
    assert records == connector.read("contact", contacts + sorted(open_leads))
    # A Contacts-only connection reads the Contacts alone.
    _, only = scan_all(connect(org), "contact", 50)
    assert [r.external_id for r in only] == contacts


def test_a_scan_of_nothing_ends_and_a_bad_position_is_refused(org: RunningSandbox) -> None:
    connector = connect(org)
    last = live_ids(org, "Account")[-1]
    assert connector.scan("company", last, 10) == ScanPage((), None)
    with pytest.raises(PermanentError) as refused:
        connector.scan("company", "'; DELETE", 10)
    assert refused.value.category is ErrorCategory.MAPPING

"""HubSpotConnector.scan against the sandbox: the objects list endpoint through hubspot-api-client, page by page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.hubspot.config import from_settings
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.mapping import COMPANY_ASSOCIATION
from connectors.hubspot.sandbox import ACCESS_TOKEN, Sandbox, build_app
from connectors.hubspot.sandbox.faults import FaultProfile
from connectors.hubspot.sandbox.store import INTEGRATION
from connectors.hubspot.sandbox.testing import serve_in_thread
from sync_core.domain.changes import ScanPage, SourceRecord
from sync_core.domain.errors import PermanentError


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Sandbox, str]]:
    sandbox = Sandbox()
    with serve_in_thread(build_app(sandbox)) as url:
        yield sandbox, url


@pytest.fixture
def sandbox(served: tuple[Sandbox, str]) -> Sandbox:
    sandbox, _ = served
    sandbox.reset()
    sandbox.set_faults(FaultProfile(search_per_second=0))
    return sandbox


@pytest.fixture
def hubspot(served: tuple[Sandbox, str], sandbox: Sandbox) -> HubSpotConnector:
    return from_settings("hubspot", {"url": served[1], "token": ACCESS_TOKEN, "index_lag_seconds": 0,
                                     "search_per_second": 0})  # fmt: skip


def scan_all(connector: HubSpotConnector, object_type: str, limit: int,
             after: str | None = None) -> tuple[list[ScanPage], list[SourceRecord]]:  # fmt: skip
    pages: list[ScanPage] = []
    while True:
        page = connector.scan(object_type, after, limit)
        pages.append(page)
        after = page.after
        if after is None:
            return pages, [r for p in pages for r in p.records]


def test_a_scan_reads_every_live_record_once_in_id_order_100_per_call(
    hubspot: HubSpotConnector, sandbox: Sandbox
) -> None:
    created = [sandbox.store.create("contacts", {"email": f"p{i}@example.com", "revline_id": f"rv-{i}"}, INTEGRATION)
               for i in range(250)]  # fmt: skip
    for record in created[10:13]:
        sandbox.store.archive("contacts", record.id, INTEGRATION)
    live = [r.id for r in created[:10] + created[13:]]

    pages, records = scan_all(hubspot, "contact", 1_000)  # more than HubSpot's page: pages of 100

    assert [len(p.records) for p in pages] == [100, 100, 47]
    assert [r.external_id for r in records] == live  # each once, in id order, none archived
    assert not any(r.deleted for r in records)
    assert hubspot.api_calls == 3  # one list call per page
    assert {r.canonical_id for r in records} == {f"rv-{i}" for i in range(250) if not 10 <= i < 13}
    assert records == hubspot.read("contact", live)  # the same records read() gives


def test_a_scan_resumes_after_a_page_and_takes_smaller_pages_when_asked(
    hubspot: HubSpotConnector, sandbox: Sandbox, served: tuple[Sandbox, str]
) -> None:
    ids = [sandbox.store.create("companies", {"name": f"Co {i}"}, INTEGRATION).id for i in range(30)]
    first = hubspot.scan("company", None, 12)
    assert [r.external_id for r in first.records] == ids[:12]
    assert first.after is not None
    # Another connector (a worker after a restart) goes on from the page's position.
    again = from_settings("hubspot", {"url": served[1], "token": ACCESS_TOKEN})
    _, rest = scan_all(again, "company", 12, first.after)
    assert [r.external_id for r in rest] == ids[12:]
    assert again.api_calls == 2  # 12 + 6


def test_a_full_last_page_is_followed_by_nothing(hubspot: HubSpotConnector, sandbox: Sandbox) -> None:
    for i in range(200):
        sandbox.store.create("products", {"name": f"P{i}", "hs_sku": f"SKU-{i}"}, INTEGRATION)
    pages, records = scan_all(hubspot, "product", 100)
    assert [len(p.records) for p in pages] == [100, 100]  # HubSpot says when there is no next page
    assert len(records) == 200
    assert hubspot.api_calls == 2


def test_scanned_deals_carry_their_company_as_read_changes_gives_it(
    hubspot: HubSpotConnector, sandbox: Sandbox
) -> None:
    companies = [sandbox.store.create("companies", {"name": f"Co {i}"}, INTEGRATION).id for i in range(3)]
    deals = [sandbox.store.create("deals", {"dealname": f"Deal {i}", "amount": "100"}, INTEGRATION).id
             for i in range(150)]  # fmt: skip
    for index, deal in enumerate(deals):
        if index % 3:
            sandbox.store.associate("deals", deal, "companies", companies[index % 3])
    sandbox.store.associate("deals", deals[1], "companies", companies[0])  # two companies: the lowest id wins

    pages, records = scan_all(hubspot, "deal", 100)

    assert [r.external_id for r in records] == deals
    by_id = {r.external_id: r.fields[COMPANY_ASSOCIATION] for r in records}
    assert by_id[deals[0]] is None
    assert by_id[deals[1]] == companies[0]
    assert by_id[deals[2]] == companies[2]
    assert hubspot.api_calls == 3 * len(pages)  # a list call and an association read (companies, contacts) per page
    assert records == hubspot.read("deal", deals)
    changed = {r.external_id: r.fields[COMPANY_ASSOCIATION] for r in hubspot.read_changes("deal", None, 200).records}
    assert changed == by_id


def test_a_scan_of_an_empty_type_ends_at_once_and_a_bad_position_is_refused(
    hubspot: HubSpotConnector, sandbox: Sandbox
) -> None:
    assert hubspot.scan("company", None, 100) == ScanPage((), None)
    with pytest.raises(PermanentError):
        hubspot.scan("company", "not-a-token", 100)
    with pytest.raises(PermanentError):
        hubspot.scan("invoice", None, 100)

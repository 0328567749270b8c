"""The HubSpot connector against the sandbox: change windows past 10,000, limits, retries, partial batches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hubspot.crm.objects import Configuration as ObjectsConfiguration

from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.config import from_settings, settings_from
from connectors.hubspot.connector import ChangeCursor, HubSpotConnector
from connectors.hubspot.errors import entry_keys, from_batch_error, from_response, rate_limit_wait
from connectors.hubspot.mapping import (
    DEAL_ASSOCIATIONS,
    INDUSTRIES,
    LIFECYCLE_STAGES,
    canonical_object,
    default_mappings,
    hubspot_object,
    parse_time,
    property_value,
    read_properties,
    source_record,
    to_millis,
)
from connectors.hubspot.sandbox import ACCESS_TOKEN, Sandbox, build_app
from connectors.hubspot.sandbox.faults import FaultProfile
from connectors.hubspot.sandbox.schema import SCHEMAS
from connectors.hubspot.sandbox.seed import INDUSTRIES as SEEDED_INDUSTRIES
from connectors.hubspot.sandbox.store import INTEGRATION
from connectors.hubspot.sandbox.testing import serve_in_thread
from sync_core.domain.changes import SourceRecord, WriteRequest
from sync_core.domain.errors import ErrorCategory, PermanentError, RateLimitedError, RetryableError
from sync_core.domain.mapping import to_canonical, to_vendor
from sync_core.testing import FrozenClock

BASE_MS = 1_750_000_000_000


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Sandbox, str]]:
    sandbox = Sandbox()
    with serve_in_thread(build_app(sandbox)) as url:
        yield sandbox, url


@pytest.fixture
def sandbox(served: tuple[Sandbox, str]) -> Sandbox:
    """An empty sandbox with search limiting off (tests that need it switch it on)."""
    sandbox, _ = served
    sandbox.reset()
    sandbox.set_faults(FaultProfile(search_per_second=0))
    return sandbox


@pytest.fixture
def url(served: tuple[Sandbox, str], sandbox: Sandbox) -> str:
    return served[1]


def connect(url: str, **settings: Any) -> HubSpotConnector:
    values = {"url": url, "token": ACCESS_TOKEN, "index_lag_seconds": 0, "search_per_second": 0, **settings}
    return from_settings("hubspot", values)


@pytest.fixture
def hubspot(url: str) -> HubSpotConnector:
    return connect(url)


def read_all(
    connector: HubSpotConnector, object_type: str, limit: int, cursor: str | None = None
) -> tuple[list[SourceRecord], str | None]:
    records: list[SourceRecord] = []
    while True:
        page = connector.read_changes(object_type, cursor, limit)
        assert len(page.records) <= limit
        records += page.records
        cursor = page.cursor
        if not page.has_more:
            return records, cursor


def write(canonical_id: str, external_id: str | None = None, **fields: Any) -> WriteRequest:
    return WriteRequest(canonical_id, external_id, fields, (f"key-{canonical_id}",))


def with_revline_id(sandbox: Sandbox, object_type: str, canonical_id: str) -> list[str]:
    return [r.id for r in sandbox.store.snapshot(object_type) if r.properties.get("revline_id") == canonical_id]


# -- reading changes ----------------------------------------------------------------------------


def test_reading_12000_changes_in_one_window_past_the_10000_cap(hubspot: HubSpotConnector, sandbox: Sandbox) -> None:
    store = sandbox.store
    # Three changes per millisecond, and a bulk import of 450 records stamped in the same millisecond
    # in the middle: more than a search page, so they can only be told apart by id.
    for i in range(6_000):
        store.create("contacts", {"email": f"a{i}@example.com"}, INTEGRATION, at_ms=BASE_MS + i // 3)
    for i in range(450):
        store.create("contacts", {"email": f"bulk{i}@example.com"}, INTEGRATION, at_ms=BASE_MS + 1_000)
    for i in range(5_550):
        store.create("contacts", {"email": f"b{i}@example.com"}, INTEGRATION, at_ms=BASE_MS + 2_000 + i // 3)
    sandbox.log.clear()

    records, _ = read_all(hubspot, "contact", 1_000)

    ids = [r.external_id for r in records]
    assert len(ids) == 12_000
    assert len(set(ids)) == 12_000
    stamps = [to_millis(r.modified_at) for r in records]
    assert stamps == sorted(stamps)
    log = sandbox.log.to_json(limit=0)
    assert set(log["byStatus"]) == {"200"}  # never a 400 from paging past 10,000
    # One search per 200 records, plus the few that re-read a page's last millisecond or cross the block.
    assert 60 <= log["byEndpoint"]["POST /crm/v3/objects/contacts/search"] <= 66


def test_records_changing_while_pages_are_read_are_not_skipped(hubspot: HubSpotConnector, sandbox: Sandbox) -> None:
    store = sandbox.store
    ids = [store.create("companies", {"name": f"C{i}"}, INTEGRATION, at_ms=BASE_MS + i * 10).id for i in range(1_000)]
    first = hubspot.read_changes("company", None, 300)
    # Pages stay whole: 300 asked, one search page of 200 answered.
    assert [r.external_id for r in first.records] == ids[:200]
    assert first.has_more
    # An offset pager would now skip records: some already read and some not yet read change.
    changed = ids[100:150] + ids[600:650]
    for record_id in changed:
        store.update("companies", record_id, {"city": "Oslo"}, INTEGRATION)
    rest, _ = read_all(hubspot, "company", 300, first.cursor)
    seen = Counter(r.external_id for r in [*first.records, *rest])
    assert set(seen) == set(ids)
    assert {i for i, n in seen.items() if n == 2} == set(ids[100:150])  # read before and after the change
    assert [r.fields["city"] for r in rest if r.external_id in changed] == ["Oslo"] * 100


def test_a_block_of_same_millisecond_changes_is_read_once_each(hubspot: HubSpotConnector, sandbox: Sandbox) -> None:
    for i in range(450):
        sandbox.store.create("companies", {"name": f"Same {i}"}, INTEGRATION, at_ms=BASE_MS)
    later = sandbox.store.create("companies", {"name": "Later"}, INTEGRATION, at_ms=BASE_MS + 1)
    records, cursor = read_all(hubspot, "company", 100)
    assert len(records) == 451
    assert len({r.external_id for r in records}) == 451
    assert records[-1].external_id == later.id
    again = hubspot.read_changes("company", cursor, 100)
    assert again.records == ()
    assert again.has_more is False


def test_cursor_resumes_with_only_new_changes(hubspot: HubSpotConnector, sandbox: Sandbox) -> None:
    sandbox.seed(7, 5)
    everything, cursor = read_all(hubspot, "company", 500)
    assert len(everything) == 5
    target = everything[2]
    sandbox.store.update("companies", target.external_id, {"city": "Bergen"}, "CRM_UI")
    created = sandbox.store.create("companies", {"name": "Newco"}, INTEGRATION)
    page = hubspot.read_changes("company", cursor, 500)
    assert [r.external_id for r in page.records] == [target.external_id, created.id]
    assert page.records[0].version != target.version
    assert page.records[0].modified_at > target.modified_at


def test_changes_younger_than_the_index_lag_wait(url: str, sandbox: Sandbox) -> None:
    sandbox.store.create("companies", {"name": "Old"}, INTEGRATION, at_ms=BASE_MS)
    sandbox.store.create("companies", {"name": "Fresh"}, INTEGRATION, at_ms=BASE_MS + 30_000)
    clock = FrozenClock(datetime.fromtimestamp((BASE_MS + 40_000) / 1000, UTC))
    client = HubSpotClient(url, ACCESS_TOKEN, search_per_second=0)
    connector = HubSpotConnector(client, index_lag_seconds=20, clock=clock)
    page = connector.read_changes("company", None, 100)
    assert [r.fields["name"] for r in page.records] == ["Old"]
    clock.advance(15)
    later = connector.read_changes("company", page.cursor, 100)
    assert [r.fields["name"] for r in later.records] == ["Fresh"]


def test_read_changes_returns_mapped_fields_and_the_canonical_id(hubspot: HubSpotConnector, sandbox: Sandbox) -> None:
    sandbox.seed(7, 3)
    contact = sandbox.store.snapshot("contacts")[0]
    sandbox.store.update("contacts", contact.id, {"revline_id": "rv-77"}, INTEGRATION)
    records, _ = read_all(hubspot, "contact", 100)
    mine = next(r for r in records if r.external_id == contact.id)
    assert mine.canonical_id == "rv-77"
    assert mine.version == sandbox.store.get("contacts", contact.id).properties["lastmodifieddate"]  # type: ignore[union-attr]
    mapping = {m.object_type: m for m in default_mappings()}["contact"]
    canonical = to_canonical(mapping, mine.fields)
    assert canonical["email"] == contact.properties["email"]
    assert canonical["lifecycle_stage"] in LIFECYCLE_STAGES
    assert canonical["company_id"] == contact.properties["associatedcompanyid"]


def test_read_by_ids_in_batches_leaving_missing_ones_out(hubspot: HubSpotConnector, sandbox: Sandbox) -> None:
    ids = [sandbox.store.create("contacts", {"email": f"r{i}@example.com"}, INTEGRATION).id for i in range(150)]
    before = hubspot.api_calls
    found = hubspot.read("contact", [*ids, "404404", ids[0]])
    assert sorted(r.external_id for r in found) == sorted(ids)
    assert hubspot.api_calls - before == 2  # 100 ids per batch read


# -- writing ------------------------------------------------------------------------------------


def test_write_batch_upserts_by_revline_id(hubspot: HubSpotConnector, sandbox: Sandbox) -> None:
    results = hubspot.write_batch(
        "company",
        [
            write("rv-a", name="Acme", industry="COMPUTER_SOFTWARE"),
            write("rv-b", name="Globex", annualrevenue=Decimal("1500000.50")),
        ],
    )
    assert [(r.ok, r.created) for r in results] == [(True, True), (True, True)]
    stored = sandbox.store.get("companies", results[1].external_id or "")
    assert stored is not None
    assert stored.properties["annualrevenue"] == "1500000.50"
    assert stored.properties["revline_id"] == "rv-b"
    assert results[1].version == stored.properties["hs_lastmodifieddate"]
    again = hubspot.write_batch("company", [write("rv-a", name="Acme Labs")])
    assert again[0].created is False
    assert again[0].external_id == results[0].external_id


def test_write_batch_updates_linked_records_by_id_and_stamps_the_revline_id(
    hubspot: HubSpotConnector, sandbox: Sandbox
) -> None:
    existing = sandbox.store.create("contacts", {"email": "linked@example.com"}, "CRM_UI")
    results = hubspot.write_batch(
        "contact", [write("rv-linked", existing.id, firstname="Lin"), write("rv-gone", "31337", firstname="Ghost")]
    )
    assert results[0].ok
    assert results[0].external_id == existing.id
    assert results[0].created is False
    assert existing.properties["revline_id"] == "rv-linked"
    assert existing.properties["firstname"] == "Lin"
    assert isinstance(results[1].error, PermanentError)
    assert results[1].error.category is ErrorCategory.MISSING_REFERENCE


def test_partial_batch_failure_fails_only_the_bad_records(hubspot: HubSpotConnector, sandbox: Sandbox) -> None:
    sandbox.store.create("contacts", {"email": "taken@example.com"}, "CRM_UI")
    writes = [
        write("rv-1", email="one@example.com"),
        write("rv-2", email="not an email"),
        write("rv-3", email="three@example.com", lifecyclestage="customer"),
        write("rv-4", email="four@example.com", lifecyclestage="prospect"),
        write("rv-5", email="taken@example.com"),
        write("rv-6", email="six@example.com", shoe_size="44"),
        write("rv-7", email="seven@example.com"),
    ]
    results = hubspot.write_batch("contact", writes)
    assert [r.canonical_id for r in results] == [w.canonical_id for w in writes]
    categories = {r.canonical_id: r.error.category for r in results if isinstance(r.error, PermanentError)}
    assert categories == {
        "rv-2": ErrorCategory.VALIDATION,
        "rv-4": ErrorCategory.VALIDATION,
        "rv-5": ErrorCategory.DUPLICATE,
        "rv-6": ErrorCategory.VALIDATION,
    }
    assert all(r.ok and r.created for r in results if r.canonical_id in {"rv-1", "rv-3", "rv-7"})
    assert sandbox.store.count("contacts") == 4


def test_a_batch_rejected_whole_is_halved_until_the_bad_record_is_alone(
    hubspot: HubSpotConnector, sandbox: Sandbox
) -> None:
    sandbox.set_faults(FaultProfile(batch_errors="reject", search_per_second=0))
    writes = [write(f"rv-{i}", name=f"Co {i}") for i in range(8)]
    writes[5] = write("rv-5", name="Bad", industry="NOT_AN_INDUSTRY")
    results = hubspot.write_batch("company", writes)
    assert [r.canonical_id for r in results if not r.ok] == ["rv-5"]
    assert sum(r.created for r in results) == 7
    calls = sandbox.log.to_json(limit=0)["byEndpoint"]["POST /crm/v3/objects/companies/batch/upsert"]
    assert calls == 7  # 8 -> 4+4 -> 2+2 -> 1+1: one bad record costs a few calls, not the batch


def test_repeated_records_in_one_batch_are_sent_once(hubspot: HubSpotConnector, sandbox: Sandbox) -> None:
    results = hubspot.write_batch("company", [write("rv-x", name="First"), write("rv-x", city="Rome")])
    assert results[0] == results[1]
    assert results[0].ok
    stored = sandbox.store.get("companies", results[0].external_id or "")
    assert stored is not None
    assert (stored.properties["name"], stored.properties["city"]) == ("First", "Rome")


def test_more_than_100_writes_take_one_call_per_100(hubspot: HubSpotConnector, sandbox: Sandbox) -> None:
    before = hubspot.api_calls
    results = hubspot.write_batch("company", [write(f"rv-{i}", name=f"Co {i}") for i in range(250)])
    assert all(r.ok for r in results)
    assert sandbox.store.count("companies") == 250
    assert hubspot.api_calls - before == 3


def test_a_batch_copies_no_client_configuration_per_input(
    hubspot: HubSpotConnector, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    copies = Counter[str]()
    original = ObjectsConfiguration.get_default_copy

    def counted() -> Any:
        copies["default"] += 1
        return original()

    monkeypatch.setattr(ObjectsConfiguration, "get_default_copy", staticmethod(counted))
    created = hubspot.write_batch("company", [write(f"rv-{i}", name=f"Co {i}") for i in range(100)])
    updated = hubspot.write_batch("company", [write(r.canonical_id, r.external_id, city="Lyon") for r in created])
    assert all(r.ok for r in created + updated)
    assert copies["default"] == 0  # the vendor's models were built on the client's one shared copy
    # each result reports the id HubSpot gave the record, in HubSpot's own field for it
    assert [r.filled for r in created] == [{"hs_object_id": r.external_id} for r in created]


def test_5xx_then_retry_creates_no_duplicate(hubspot: HubSpotConnector, sandbox: Sandbox) -> None:
    sandbox.set_faults(FaultProfile(error_sequence=[503], search_per_second=0))
    batch = [write("rv-retry", name="Retry Co")]
    with pytest.raises(RetryableError):
        hubspot.write_batch("company", batch)
    results = hubspot.write_batch("company", batch)
    assert results[0].ok
    assert len(with_revline_id(sandbox, "companies", "rv-retry")) == 1


def test_timeout_after_the_write_then_retry_creates_no_duplicate(url: str, sandbox: Sandbox) -> None:
    connector = connect(url, timeout_seconds=0.4)
    sandbox.set_faults(FaultProfile(timeout_after_write=1, hang_ms=1500, search_per_second=0))
    batch = [write("rv-slow", email="slow@example.com"), write("rv-slow-2", email="slow2@example.com")]
    with pytest.raises(RetryableError):
        connector.write_batch("contact", batch)
    # HubSpot applied the write although the caller timed out: the retry must update, not create.
    assert len(with_revline_id(sandbox, "contacts", "rv-slow")) == 1
    results = connector.write_batch("contact", batch)
    assert [(r.ok, r.created) for r in results] == [(True, False), (True, False)]
    assert len(with_revline_id(sandbox, "contacts", "rv-slow")) == 1
    assert sandbox.store.count("contacts") == 2


# -- limits and failures ------------------------------------------------------------------------


def test_429_is_retryable_after_the_interval_from_the_headers(hubspot: HubSpotConnector, sandbox: Sandbox) -> None:
    sandbox.set_faults(
        FaultProfile(rate_limit={"per_interval": 2, "interval_ms": 2500, "daily": 1000}, search_per_second=0)
    )
    hubspot.read("company", ["1"])
    usage = hubspot.usage()
    assert usage is not None
    assert (usage.window_limit, usage.window_remaining, usage.window_seconds) == (2, 1, 2.5)
    assert (usage.daily_limit, usage.daily_remaining) == (1000, 999)
    hubspot.read("company", ["1"])
    with pytest.raises(RateLimitedError) as caught:
        hubspot.write_batch("company", [write("rv-limited", name="Limited")])
    assert caught.value.retry_after == 2.5
    assert hubspot.usage().window_remaining == 0  # type: ignore[union-attr]


def test_daily_429_waits_for_the_next_day(hubspot: HubSpotConnector, sandbox: Sandbox) -> None:
    sandbox.set_faults(
        FaultProfile(rate_limit={"per_interval": 100, "interval_ms": 10_000, "daily": 1}, search_per_second=0)
    )
    hubspot.read("company", ["1"])
    with pytest.raises(RateLimitedError) as caught:
        hubspot.read("company", ["1"])
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert caught.value.retry_after == pytest.approx((midnight - now).total_seconds(), abs=5)


def test_search_429_is_retryable_after_a_second(hubspot: HubSpotConnector, sandbox: Sandbox) -> None:
    sandbox.set_faults(FaultProfile(search_per_second=1))
    hubspot.read_changes("company", None, 10)
    with pytest.raises(RateLimitedError) as caught:
        hubspot.read_changes("company", None, 10)
    assert caught.value.retry_after == 1.0


def test_searches_are_paced_below_the_search_limit(url: str, sandbox: Sandbox) -> None:
    sandbox.set_faults(FaultProfile(search_per_second=5))
    connector = connect(url, search_per_second=4)
    for _ in range(6):
        connector.read_changes("company", None, 10)  # would be a 429 unpaced


def test_bad_token_and_missing_scopes_are_permission_errors(url: str, sandbox: Sandbox) -> None:
    with pytest.raises(PermanentError) as bad_token:
        connect(url, token="wrong").check()
    assert bad_token.value.category is ErrorCategory.PERMISSION
    sandbox.set_faults(FaultProfile(missing_scopes=["crm.objects.companies.write"], search_per_second=0))
    connector = connect(url)
    connector.check()
    with pytest.raises(PermanentError) as no_scope:
        connector.write_batch("company", [write("rv-s", name="S")])
    assert no_scope.value.category is ErrorCategory.PERMISSION


def test_unreachable_hubspot_is_retryable(sandbox: Sandbox) -> None:
    connector = from_settings("hubspot", {"url": "http://127.0.0.1:9", "token": "t", "timeout_seconds": 2})
    with pytest.raises(RetryableError):
        connector.read("company", ["1"])


def test_unknown_object_types_and_cursors_are_mapping_errors(hubspot: HubSpotConnector) -> None:
    with pytest.raises(PermanentError) as unknown:
        hubspot.write_batch("invoice", [write("rv-i")])
    assert unknown.value.category is ErrorCategory.MAPPING
    with pytest.raises(PermanentError) as cursor:
        hubspot.read_changes("company", "page=2", 10)
    assert cursor.value.category is ErrorCategory.MAPPING


def test_associate_contacts_with_companies(hubspot: HubSpotConnector, sandbox: Sandbox) -> None:
    company = sandbox.store.create("companies", {"name": "Hub"}, INTEGRATION)
    contact = sandbox.store.create("contacts", {"email": "spoke@example.com"}, INTEGRATION)
    hubspot.associate("contact", "company", [(contact.id, company.id)])
    assert set(sandbox.store.associations("companies", company.id, "contacts")) == {contact.id}
    with pytest.raises(PermanentError) as missing:
        hubspot.associate("contact", "company", [(contact.id, "999999")])
    assert missing.value.category is ErrorCategory.MISSING_REFERENCE


# -- pure parts: errors, mapping, settings --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (
            429,
            '{"policyName":"TEN_SECONDLY_ROLLING"}',
            {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"},
            (RateLimitedError, 10.0),
        ),
        (429, "{}", {"Retry-After": "7"}, (RateLimitedError, 7.0)),
        (429, "{}", {}, (RateLimitedError, 10.0)),
        (502, "<html>bad gateway</html>", {}, (RetryableError, None)),
        (503, "{}", {"Retry-After": "3"}, (RetryableError, 3.0)),
        (423, '{"category":"LOCKED"}', {}, (RetryableError, None)),
        (401, '{"category":"INVALID_AUTHENTICATION"}', {}, (PermanentError, ErrorCategory.PERMISSION)),
        (403, '{"category":"MISSING_SCOPES"}', {}, (PermanentError, ErrorCategory.PERMISSION)),
        (404, '{"category":"OBJECT_NOT_FOUND"}', {}, (PermanentError, ErrorCategory.MISSING_REFERENCE)),
        (409, '{"category":"CONFLICT"}', {}, (PermanentError, ErrorCategory.DUPLICATE)),
        (400, '{"category":"VALIDATION_ERROR"}', {}, (PermanentError, ErrorCategory.VALIDATION)),
        (400, '{"category":"OBJECT_ALREADY_EXISTS"}', {}, (PermanentError, ErrorCategory.DUPLICATE)),
    ],
)
def test_responses_translate_into_the_two_error_classes(
    status: int, body: str, headers: dict[str, str], expected: tuple[type, Any]
) -> None:
    error = from_response(status, body, headers)
    kind, detail = expected
    assert type(error) is kind
    if isinstance(error, RetryableError):
        assert error.retry_after == detail
    else:
        assert isinstance(error, PermanentError)
        assert error.category is detail


def test_batch_entries_translate_and_name_their_inputs() -> None:
    entry = {
        "status": "error",
        "category": "CONFLICT",
        "message": "dup",
        "context": {"objectWriteTraceId": ["rv-1"], "ids": ["rv-1"]},
    }
    error = from_batch_error(entry)
    assert isinstance(error, PermanentError)
    assert error.category is ErrorCategory.DUPLICATE
    assert entry_keys(entry) == ["rv-1", "rv-1"]
    assert isinstance(from_batch_error({"category": "INTERNAL_ERROR"}), RetryableError)
    assert rate_limit_wait({"policyName": "DAILY"}, {}, datetime(2026, 1, 5, 23, 0, tzinfo=UTC)) == 3600


def test_default_mappings_round_trip_through_hubspot_values() -> None:
    mappings = {m.object_type: m for m in default_mappings()}
    canonical = {
        "name": "Acme",
        "domain": "acme.example",
        "industry": "finance",
        "city": "Oslo",
        "country": "Norway",
        "phone": "+47 1",
        "annual_revenue": "100",
    }
    vendor = to_vendor(mappings["company"], canonical)
    assert vendor["industry"] == "FINANCIAL_SERVICES"
    assert vendor["annualrevenue"] == "100"
    assert to_canonical(mappings["company"], vendor) == canonical
    contact = to_vendor(mappings["contact"], {"email": "a@b.example", "lifecycle_stage": "mql", "title": "CTO"})
    assert contact == {"email": "a@b.example", "lifecyclestage": "marketingqualifiedlead", "jobtitle": "CTO"}


def test_every_mapped_value_is_a_hubspot_option_and_every_seeded_value_is_mapped() -> None:
    industries = SCHEMAS["companies"]["industry"].option_values
    stages = SCHEMAS["contacts"]["lifecyclestage"].option_values
    assert set(INDUSTRIES.values()) <= industries
    assert len(set(INDUSTRIES.values())) == len(INDUSTRIES)  # one canonical value per HubSpot value
    assert set(LIFECYCLE_STAGES.values()) == stages
    assert set(SEEDED_INDUSTRIES) <= set(INDUSTRIES.values())
    for mapping in default_mappings():
        properties = SCHEMAS[hubspot_object(mapping.object_type)]
        # a deal's company and contacts are associations the connector reads and writes, not properties
        associations = set(DEAL_ASSOCIATIONS) if mapping.object_type == "deal" else set()
        assert {fm.vendor for fm in mapping.fields} - associations <= set(properties)


def test_record_json_becomes_a_source_record() -> None:
    record = source_record(
        "contact",
        {
            "id": "501",
            "properties": {
                "email": "x@y.example",
                "firstname": "",
                "revline_id": "rv-9",
                "hs_object_id": "501",
                "lastmodifieddate": "2026-01-05T09:00:00.123Z",
                "createdate": "2026-01-01T00:00:00.000Z",
            },
            "createdAt": "2026-01-01T00:00:00.000Z",
            "updatedAt": "2026-01-05T09:00:00.123Z",
            "archived": False,
        },
    )
    assert record.external_id == "501"
    assert record.canonical_id == "rv-9"
    assert record.fields == {"email": "x@y.example", "firstname": None, "hs_object_id": record.external_id}
    assert record.version == "2026-01-05T09:00:00.123Z"
    assert record.modified_at == datetime(2026, 1, 5, 9, 0, 0, 123_000, tzinfo=UTC)
    assert to_millis(record.modified_at) == 1767603600123
    assert parse_time("1767603600123") == record.modified_at


def test_values_are_written_as_hubspot_property_text() -> None:
    assert property_value(None) == ""
    assert property_value(True) == "true"
    assert property_value(Decimal("12.50")) == "12.50"
    assert property_value(datetime(2026, 1, 5, 9, 0, tzinfo=UTC)) == "1767603600000"
    assert property_value(datetime(2026, 1, 5, tzinfo=UTC).date()) == "2026-01-05"
    assert property_value(42) == "42"


def test_object_names_and_read_properties() -> None:
    assert (hubspot_object("company"), canonical_object("line_items")) == ("companies", "line_item")
    contact = {m.object_type: m for m in default_mappings()}["contact"]
    properties = read_properties("contact", contact)
    assert properties[:5] == ["hs_object_id", "salesforce_id", "hs_analytics_source", "email", "firstname"]
    assert "revline_id" in properties
    assert "lastmodifieddate" in properties
    assert "dealname" in read_properties("deal", None)


def test_cursor_round_trips() -> None:
    cursor = ChangeCursor(BASE_MS, ["1", "2"], "2")
    assert ChangeCursor.parse(cursor.dump()) == cursor
    assert ChangeCursor.parse(None) == ChangeCursor()


def test_settings_come_from_the_connection_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVLINE_HUBSPOT_ACCESS_TOKEN", "from-env")
    monkeypatch.setenv("REVLINE_HUBSPOT_TIMEOUT_SECONDS", "12")
    settings = settings_from({"url": "http://sandbox:8101", "kind": "hubspot"})
    assert settings.base_url == "http://sandbox:8101"
    assert settings.timeout_seconds == 12
    assert settings.access_token is not None
    assert settings.access_token.get_secret_value() == "from-env"
    assert settings_from({"token": "explicit"}).access_token.get_secret_value() == "explicit"  # type: ignore[union-attr]
    monkeypatch.delenv("REVLINE_HUBSPOT_ACCESS_TOKEN")
    with pytest.raises(ValueError, match="access token"):
        from_settings("hs", {"url": "http://sandbox:8101"})
    assert from_settings("hs-eu", {"token": "t"}).system == "hs-eu"

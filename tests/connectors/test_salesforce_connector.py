"""SalesforceConnector against the sandbox: change windows, limits, retries without duplicates, partial failures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from connectors.salesforce import SalesforceConfig, SalesforceConnector, create_connector
from connectors.salesforce.sandbox import RunningSandbox, create_app, start
from connectors.salesforce.sandbox.schema import SOBJECTS
from sync_core.domain.changes import SourceRecord, WriteRequest
from sync_core.domain.errors import ErrorCategory, PermanentError, RateLimitedError, RetryableError
from sync_core.retry import RetryAt, RetryPolicy
from sync_core.worker import WorkerConfig


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with start(create_app(seed=11, records=8)) as running:
        yield running


@pytest.fixture
def org(sandbox: RunningSandbox) -> RunningSandbox:
    """Seeded afresh, with the clock frozen on a whole second so stamps are predictable."""
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
        "login_url": org.url,
        "client_id": "sandbox",
        "client_secret": "sandbox",
        "ca_bundle": str(org.ca_file),
        "bulk_poll_seconds": 0,
        "timeout_seconds": 5,
    }
    connector = SalesforceConnector(SalesforceConfig(**(settings | overrides)), clock=org.state.clock)
    _opened.append(connector)
    return connector


def as_person(http: requests.Session, org: RunningSandbox, method: str, path: str, fields: dict[str, Any]) -> str:
    """A change made by a sales user through the sandbox's control API; the record id."""
    response = http.request(method, f"{org.url}/__sandbox__/records/{path}", json={"fields": fields})
    assert response.status_code < 300, response.text
    return str(response.json()["id"])


def drain(
    connector: SalesforceConnector, cursor: str | None, limit: int = 100
) -> tuple[list[SourceRecord], str | None]:
    records: list[SourceRecord] = []
    while True:
        page = connector.read_changes("contact", cursor, limit)
        records.extend(page.records)
        cursor = page.cursor
        if not page.has_more:
            return records, cursor


def write(canonical_id: str, external_id: str | None = None, **fields: Any) -> WriteRequest:
    return WriteRequest(canonical_id, external_id, fields, (f"key-{canonical_id}",))


def count(org: RunningSandbox, sobject: str, **where: str) -> int:
    rows = org.state.store.rows(sobject)
    return sum(1 for r in rows if all(r.values.get(k) == v for k, v in where.items()))


def endpoint_counts(http: requests.Session, org: RunningSandbox) -> dict[str, int]:
    result: dict[str, int] = http.get(f"{org.url}/__sandbox__/requests?limit=0").json()["counts"]
    return result


# -- identity and usage -----------------------------------------------------------------------------


def test_check_logs_in_as_the_integration_user_and_reports_usage(org: RunningSandbox) -> None:
    connector = connect(org)
    assert connector.usage() is None
    assert connector.api_calls == 0
    connector.check()
    assert connector.integration_user_id == org.state.users.integration
    usage = connector.usage()
    assert usage is not None
    assert (usage.daily_limit, usage.daily_remaining) == (15000, 14999)
    assert connector.api_calls == 1
    assert (connector.system, connector.max_batch_size) == ("salesforce", 200)


def test_bad_credentials_and_unknown_objects_are_permanent(org: RunningSandbox) -> None:
    with pytest.raises(PermanentError) as refused:
        connect(org, client_secret="wrong").check()
    assert refused.value.category == ErrorCategory.PERMISSION
    assert "invalid_client" in refused.value.message
    with pytest.raises(PermanentError) as unknown:
        connect(org).read_changes("spaceship", None, 10)
    assert unknown.value.category == ErrorCategory.MAPPING


def test_registry_factory_builds_from_settings(org: RunningSandbox) -> None:
    settings = {"kind": "salesforce", "login_url": org.url, "client_id": "sandbox", "client_secret": "sandbox"}
    connector = create_connector("sales", settings | {"ca_bundle": str(org.ca_file)})
    _opened.append(connector)
    assert connector.system == "sales"
    assert connector.config.bulk_threshold == 2000
    assert "sandbox" not in repr(connector.config.client_secret)
    with pytest.raises(ValueError, match=r"'sales'.*client_id"):
        create_connector("sales", {"login_url": org.url, "client_secret": "x"})


# -- reading changes -------------------------------------------------------------------------------


def test_a_busy_second_split_across_pages_loses_and_doubles_nothing(
    org: RunningSandbox, http: requests.Session
) -> None:
    connector = connect(org)
    clock = org.state.clock
    seeded, cursor = drain(connector, None)
    assert len(seeded) == 16
    assert len({r.external_id for r in seeded}) == 16
    ids = {as_person(http, org, "POST", "Contact", {"LastName": f"Busy {i}"}) for i in range(7)}  # one second
    clock.advance(3)
    pages = []
    for _ in range(3):
        page = connector.read_changes("contact", cursor, 3)
        pages.append(([r.external_id for r in page.records], page.has_more))
        cursor = page.cursor
    assert [len(p) for p, _ in pages] == [3, 3, 1]
    assert [more for _, more in pages] == [True, True, False]
    delivered = [i for p, _ in pages for i in p]
    assert sorted(delivered) == sorted(ids)

    changed = sorted(ids)[2]
    as_person(http, org, "PATCH", f"Contact/{changed}", {"Title": "CFO"})
    clock.advance(3)
    again, after = drain(connector, cursor, 3)
    assert [(r.external_id, r.fields["Title"]) for r in again] == [(changed, "CFO")]
    nothing = connector.read_changes("contact", after, 3)
    assert (nothing.records, nothing.cursor, nothing.has_more) == ((), after, False)


def test_records_of_a_second_still_running_come_early_and_again_once_it_settles(
    org: RunningSandbox, http: requests.Session
) -> None:
    connector = connect(org)
    _, cursor = drain(connector, None)
    record = as_person(http, org, "POST", "Contact", {"LastName": "Early", "Title": "Intern"})
    early = connector.read_changes("contact", cursor, 10)
    # Handed over at once, provisionally; the cursor stays before its second, which may gain more.
    [first] = early.records
    assert (first.external_id, first.fields["Title"]) == (record, "Intern")
    assert first.version.startswith(f"{first.fields['SystemModstamp']}~")
    assert early.cursor == cursor
    assert [r.version for r in connector.read_changes("contact", cursor, 10).records] == [first.version]
    as_person(http, org, "PATCH", f"Contact/{record}", {"Title": "Engineer"})  # the same second, the same stamp
    [second] = connector.read_changes("contact", cursor, 10).records
    assert (second.fields["Title"], second.fields["SystemModstamp"]) == ("Engineer", first.fields["SystemModstamp"])
    assert second.version != first.version  # so the engine does not skip it as a version already seen
    org.state.clock.advance(3)
    page = connector.read_changes("contact", cursor, 10)
    assert [(r.external_id, r.fields["Title"], r.version) for r in page.records] == [
        (record, "Engineer", second.fields["SystemModstamp"])
    ]
    assert connector.read_changes("contact", page.cursor, 10).records == ()


def test_the_overlap_window_catches_a_transaction_that_commits_late(
    org: RunningSandbox, http: requests.Session
) -> None:
    clock = org.state.clock
    overlapping, plain = connect(org, overlap_seconds=30), connect(org)
    _, cursor_overlap = drain(overlapping, None)
    _, cursor_plain = drain(plain, None)
    as_person(http, org, "POST", "Contact", {"LastName": "On time"})
    clock.advance(3)
    first, cursor_overlap = drain(overlapping, cursor_overlap)
    _, cursor_plain = drain(plain, cursor_plain)
    assert [r.fields["LastName"] for r in first] == ["On time"]
    # A transaction that began 10 s ago commits now, stamped with its start (as Salesforce stamps it).
    person = org.state.users.person
    org.state.writer.create(SOBJECTS["Contact"], {"LastName": "Late"}, person, at=clock.now() - timedelta(seconds=10))
    clock.advance(1)
    caught, _ = drain(overlapping, cursor_overlap)
    missed, _ = drain(plain, cursor_plain)
    assert [r.fields["LastName"] for r in caught] == ["Late"]
    assert missed == []


def test_deletions_and_revlines_own_writes_are_reported_as_such(org: RunningSandbox, http: requests.Session) -> None:
    connector = connect(org)
    _, cursor = drain(connector, None)
    [result] = connector.write_batch("contact", [write("c-echo", LastName="Echo", Email="echo@example.com")])
    org.state.clock.advance(3)
    [echo], cursor = drain(connector, cursor)
    assert (echo.external_id, echo.canonical_id, echo.last_written_by_revline, echo.deleted) == (
        result.external_id,
        "c-echo",
        True,
        False,
    )
    assert echo.version == echo.fields["SystemModstamp"]
    assert echo.modified_at == org.state.clock.now() - timedelta(seconds=3)
    as_person(http, org, "PATCH", f"Contact/{result.external_id}", {"Title": "VP"})
    org.state.clock.advance(3)
    [edited], cursor = drain(connector, cursor)
    assert (edited.fields["Title"], edited.last_written_by_revline) == ("VP", False)
    assert http.delete(f"{org.url}/__sandbox__/records/Contact/{result.external_id}").status_code == 204
    org.state.clock.advance(3)
    [removed], _ = drain(connector, cursor)
    assert (removed.external_id, removed.deleted, removed.canonical_id) == (result.external_id, True, "c-echo")


def test_at_the_workers_default_page_size_a_read_is_one_whole_soql_page(
    org: RunningSandbox, http: requests.Session
) -> None:
    connector = connect(org)
    _, cursor = drain(connector, None)
    connector.write_batch("contact", [write(f"c-{i}", LastName=f"Page {i}") for i in range(2100)])
    org.state.clock.advance(3)
    before = endpoint_counts(http, org).get("queryAll", 0)
    page = connector.read_changes("contact", cursor, WorkerConfig().page_size)
    assert (len(page.records), page.has_more) == (2000, True)
    assert endpoint_counts(http, org).get("queryAll", 0) - before == 1
    rest = connector.read_changes("contact", page.cursor, WorkerConfig().page_size)
    assert (len(rest.records), rest.has_more) == (100, False)


def test_read_by_ids_leaves_out_unknown_and_malformed_ids(org: RunningSandbox, http: requests.Session) -> None:
    first = as_person(http, org, "POST", "Contact", {"LastName": "One"})
    second = as_person(http, org, "POST", "Contact", {"LastName": "Two"})
    connector = connect(org)
    found = connector.read("contact", [first, "'); DROP", "003000000000000AAA", first])
    assert [r.fields["LastName"] for r in found] == ["One"]
    both = connector.read("contact", [second[:15], first])  # 15-character ids name records too
    assert sorted(r.external_id for r in both) == sorted([first, second])


# -- failures and retries --------------------------------------------------------------------------


def test_a_spent_daily_allocation_waits_for_the_window_instead_of_dead_lettering(
    org: RunningSandbox, http: requests.Session
) -> None:
    connector = connect(org)
    connector.check()
    http.post(f"{org.url}/__sandbox__/faults", json={"daily_limit": org.state.allocation.used()})
    with pytest.raises(RateLimitedError) as spent:
        connector.write_batch("contact", [write("c-limit", LastName="Limit")])
    assert "REQUEST_LIMIT_EXCEEDED" in spent.value.message
    assert spent.value.retry_after is not None
    assert spent.value.retry_after >= 300
    now = datetime.now(UTC)
    decision = RetryPolicy(random=lambda: 0.5, max_attempts=1).decide(spent.value, attempts=1, now=now)
    assert isinstance(decision, RetryAt)  # even past the last attempt: a quota is nobody's record's fault
    assert decision.at >= now + timedelta(seconds=spent.value.retry_after)
    with pytest.raises(RetryableError):
        connector.read_changes("contact", None, 10)
    org.state.clock.advance(24 * 3600)  # the rolling window frees the allocation
    [result] = connector.write_batch("contact", [write("c-limit", LastName="Limit")])
    assert result.ok
    assert result.created


def test_a_5xx_then_a_retry_writes_each_record_once(org: RunningSandbox, http: requests.Session) -> None:
    connector = connect(org)
    writes = [write(f"c-5xx-{i}", LastName=f"Five {i}") for i in range(3)]
    http.post(f"{org.url}/__sandbox__/faults", json={"server_errors": {"sequence": [503]}})
    with pytest.raises(RetryableError):
        connector.write_batch("contact", writes)
    assert count(org, "Contact", Revline_Id__c="c-5xx-0") == 0
    results = connector.write_batch("contact", writes)
    assert [r.created for r in results] == [True] * 3
    assert all(count(org, "Contact", Revline_Id__c=f"c-5xx-{i}") == 1 for i in range(3))


def test_a_timeout_after_the_write_was_applied_then_a_retry_creates_no_duplicate(
    org: RunningSandbox, http: requests.Session
) -> None:
    connector = connect(org, timeout_seconds=0.3)
    writes = [write("c-slow-1", LastName="Slow"), write("c-slow-2", LastName="Slower")]
    http.post(f"{org.url}/__sandbox__/faults", json={"timeout_after_write": {"next": 1, "hold_ms": 800}})
    with pytest.raises(RetryableError) as timed_out:
        connector.write_batch("contact", writes)
    assert "timed out" in timed_out.value.message
    assert count(org, "Contact", Revline_Id__c="c-slow-1") == 1  # applied, though we never heard so
    results = connector.write_batch("contact", writes)
    assert [(r.ok, r.created) for r in results] == [(True, False), (True, False)]
    assert count(org, "Contact", Revline_Id__c="c-slow-1") == count(org, "Contact", Revline_Id__c="c-slow-2") == 1


def test_partial_collection_failures_fail_only_those_records(org: RunningSandbox, http: requests.Session) -> None:
    connector = connect(org)
    connector.write_batch("contact", [write("c-holder", LastName="Holder", HubSpot_Id__c="hs-1")])
    gone = as_person(http, org, "POST", "Contact", {"LastName": "Gone"})
    http.delete(f"{org.url}/__sandbox__/records/Contact/{gone}")
    results = connector.write_batch(
        "contact",
        [
            write("c-ok-1", LastName="Fine"),
            write("c-no-name", Email="nobody@example.com"),
            write("c-stage", LastName="Stage", Lifecycle_Stage__c="Zombie"),
            write("c-dup", LastName="Dup", HubSpot_Id__c="hs-1"),
            write("c-gone", gone, LastName="Ghost"),
            write("c-ok-2", LastName="Also fine"),
        ],
    )
    outcome = [(r.canonical_id, getattr(r.error, "category", None)) for r in results]
    assert outcome == [
        ("c-ok-1", None),
        ("c-no-name", ErrorCategory.VALIDATION),
        ("c-stage", ErrorCategory.VALIDATION),
        ("c-dup", ErrorCategory.DUPLICATE),
        ("c-gone", ErrorCategory.MISSING_REFERENCE),
        ("c-ok-2", None),
    ]
    assert "REQUIRED_FIELD_MISSING" in str(results[1].error)
    assert results[0].external_id is not None
    assert count(org, "Contact", Revline_Id__c="c-no-name") == 0
    assert endpoint_counts(http, org)["composite.upsert"] == 2
    assert endpoint_counts(http, org)["composite.update"] == 1

    http.post(f"{org.url}/__sandbox__/faults", json={"lock_row": {"next": 1}})
    locked = connector.write_batch("contact", [write("c-lock-1", LastName="A"), write("c-lock-2", LastName="B")])
    assert all(isinstance(r.error, RetryableError) and r.error.retry_after == 5.0 for r in locked)


def test_writes_to_known_records_update_them_by_id_and_stamp_the_canonical_id(
    org: RunningSandbox, http: requests.Session
) -> None:
    connector = connect(org)
    existing = as_person(http, org, "POST", "Contact", {"LastName": "Matched", "Email": "m@example.com"})
    before = count(org, "Contact")
    [by_id] = connector.write_batch("contact", [write("c-matched", existing, Title="CTO")])
    assert (by_id.external_id, by_id.created, by_id.ok) == (existing, False, True)
    [by_key] = connector.write_batch("contact", [write("c-matched", None, Phone="1")])
    assert by_key.external_id == existing
    assert count(org, "Contact") == before
    stored = org.state.store.get(existing)
    assert stored is not None
    assert (stored.values["Revline_Id__c"], stored.values["Title"]) == ("c-matched", "CTO")


def test_many_records_go_through_bulk_api_2(org: RunningSandbox, http: requests.Session) -> None:
    connector = connect(org, bulk_threshold=25)
    known = as_person(http, org, "POST", "Account", {"Name": "Known Co", "Phone": "555"})
    writes = [write(f"co-{i}", Name=f"Bulk Co {i}", Industry="Technology") for i in range(28)]
    writes += [
        write("co-bad", Name="Bad Co", Industry="Alchemy"),
        write("co-known", known, Phone=None, Website="k.example"),
    ]
    http.delete(f"{org.url}/__sandbox__/requests")
    results = connector.write_batch("company", writes)
    assert [r.canonical_id for r in results] == [w.canonical_id for w in writes]
    assert sum(r.created for r in results) == 28
    assert getattr(results[28].error, "category", None) == ErrorCategory.VALIDATION
    assert (results[29].external_id, results[29].ok, results[29].created) == (known, True, False)
    used = endpoint_counts(http, org)
    assert used["bulk2.ingest.create"] == 2
    assert "composite.upsert" not in used
    assert "composite.update" not in used
    stored = org.state.store.get(known)
    assert stored is not None
    assert (stored.values["Website"], stored.values["Phone"]) == ("k.example", None)
    again = connector.write_batch("company", [write(f"co-{i}", Name=f"Renamed {i}") for i in range(26)])
    assert [r.created for r in again] == [False] * 26
    assert count(org, "Account", Revline_Id__c="co-3") == 1


def test_an_expired_session_is_refreshed_once(org: RunningSandbox, http: requests.Session) -> None:
    connector = connect(org)
    first = connector.read_changes("contact", None, 5)
    http.delete(f"{org.url}/__sandbox__/requests")
    http.post(f"{org.url}/__sandbox__/faults", json={"expire_sessions": True})
    page = connector.read_changes("contact", first.cursor, 5)
    assert len(page.records) == 5
    log = http.get(f"{org.url}/__sandbox__/requests").json()["requests"]
    assert [(e["endpoint"], e["status"]) for e in log] == [("queryAll", 401), ("oauth.token", 200), ("queryAll", 200)]

    http.post(f"{org.url}/__sandbox__/faults", json={"session_ttl_seconds": 0})  # every token dead on arrival
    http.delete(f"{org.url}/__sandbox__/requests")
    with pytest.raises(RetryableError) as expired:
        connector.read_changes("contact", None, 5)
    assert "INVALID_SESSION_ID" in expired.value.message
    assert endpoint_counts(http, org) == {"queryAll": 2, "oauth.token": 1}


def test_products_carry_their_standard_price(org: RunningSandbox) -> None:
    connector = connect(org)
    [created] = connector.write_batch("product", [write("p-1", Name="Edge Gateway", ProductCode="EG-1", IsActive=True,
                                                        UnitPrice=1200.0)])  # fmt: skip
    assert created.ok
    assert created.external_id is not None
    book = next(r.id for r in org.state.store.rows("Pricebook2") if r.values.get("IsStandard"))
    entries = [r for r in org.state.store.rows("PricebookEntry") if r.values["Product2Id"] == created.external_id]
    assert [(e.values["Pricebook2Id"], e.values["UnitPrice"]) for e in entries] == [(book, 1200.0)]

    [changed] = connector.write_batch("product", [write("p-1", created.external_id, UnitPrice=990.0)])
    assert changed.ok
    entries = [r for r in org.state.store.rows("PricebookEntry") if r.values["Product2Id"] == created.external_id]
    assert [e.values["UnitPrice"] for e in entries] == [990.0]  # updated in place, not a second entry
    [read] = connector.read("product", [created.external_id])
    assert (read.fields["ProductCode"], read.fields["UnitPrice"]) == ("EG-1", 990.0)

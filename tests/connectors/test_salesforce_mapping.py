"""The Salesforce connector's pure parts: mappings, error translation and the change cursor."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.salesforce.cursor import ChangeCursor
from connectors.salesforce.errors import from_bulk_error, from_record_errors, from_response, from_token_response
from connectors.salesforce.mapping import (
    CONTACT_ROLES,
    INDUSTRIES,
    LINES,
    PRICE,
    REVLINE_ID,
    default_mappings,
    parse_stamp,
    soql_string,
    to_bulk_row,
    to_source_record,
    to_upsert_record,
)
from connectors.salesforce.sandbox import schema
from sync_core.domain.changes import WriteRequest
from sync_core.domain.errors import ErrorCategory, PermanentError, RateLimitedError, RetryableError
from sync_core.domain.mapping import to_canonical, to_vendor

WAIT = 600.0


def test_default_mappings_speak_salesforce_field_names_and_picklist_values() -> None:
    company, contact, product, deal = default_mappings("sales")
    assert (company.system, company.object_type, contact.object_type, product.object_type, deal.object_type) == (
        "sales", "company", "contact", "product", "deal"
    )
    vendor = to_vendor(
        company, {"name": "Acme", "domain": "acme.example", "industry": "food_and_beverage", "city": "Lyon"}
    )
    assert vendor == {"Name": "Acme", "Website": "acme.example", "Industry": "Food & Beverage", "BillingCity": "Lyon"}
    assert to_canonical(company, {"Industry": "Not For Profit", "BillingCountry": "France"}) == {
        "industry": "not_for_profit",
        "country": "France",
    }
    assert to_vendor(contact, {"email": "a@b.co", "title": "CFO", "lifecycle_stage": "mql"}) == {
        "Email": "a@b.co",
        "Title": "CFO",
        "Lifecycle_Stage__c": "Marketing Qualified Lead",
    }
    with pytest.raises(PermanentError) as unmapped:
        to_vendor(company, {"industry": "alchemy"})
    assert unmapped.value.category == ErrorCategory.MAPPING


def test_mapped_picklists_match_the_org_and_the_demo_vocabulary() -> None:
    assert set(INDUSTRIES.values()) == set(schema.INDUSTRIES)
    assert {"technology", "manufacturing", "retail", "finance", "healthcare"} <= set(INDUSTRIES)
    company, contact, product, deal = default_mappings()
    pairs = (
        (company, ("Account",)), (contact, ("Contact", "Lead")), (deal, ("Opportunity",)), (product, ("Product2",))
    )
    for mapping, sobjects in pairs:
        # a canonical contact is a Contact or a Lead: each keeps the fields it has
        fields = {f.name: f for sobject in sobjects for f in schema.SOBJECTS[sobject].fields}
        # the Opportunity's lines and contacts are read from OpportunityLineItem and OpportunityContactRole
        assert {fm.vendor for fm in mapping.fields} - {LINES, CONTACT_ROLES, PRICE} <= set(fields)
        for fm in mapping.fields:
            if fm.values and fields[fm.vendor].picklist:
                assert set(fm.values.values()) <= set(fields[fm.vendor].picklist), fm.vendor


def test_rows_become_source_records_and_writes_become_bodies() -> None:
    row = {
        "attributes": {"type": "Contact", "url": "/x"},
        "Id": "0038d000000000gAAA",
        "LastName": "Lee",
        "Account": {"attributes": {}, "Name": "Acme"},
        "Revline_Id__c": "c-1",
        "LastModifiedById": "005A",
        "LastModifiedDate": "2026-01-05T09:00:00.000+0000",
        "SystemModstamp": "2026-01-05T09:00:01.000+0000",
        "IsDeleted": False,
    }
    record = to_source_record(row, "005A")
    assert (record.external_id, record.version, record.canonical_id) == (
        "0038d000000000gAAA",
        "2026-01-05T09:00:01.000+0000",
        "c-1",
    )
    assert record.modified_at == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert record.last_written_by_revline
    assert "Account" not in record.fields
    assert "attributes" not in record.fields
    assert not to_source_record(row, "005B").last_written_by_revline
    write = WriteRequest("c-9", None, {"LastName": "Lee", "Id": "ignored", REVLINE_ID: "spoofed", "Phone": None}, ())
    assert to_upsert_record("Contact", write) == {
        "attributes": {"type": "Contact"},
        "LastName": "Lee",
        "Phone": None,
        REVLINE_ID: "c-9",
    }
    assert to_bulk_row(
        WriteRequest("c-9", "003X", {"Phone": None, "Lead_Score__c": 7, "Flag": True}, ()), by_id=True
    ) == {
        "Phone": "#N/A",
        "Lead_Score__c": "7",
        "Flag": "true",
        REVLINE_ID: "c-9",
        "Id": "003X",
    }
    assert soql_string("O'Brien \\ Co") == "'O\\'Brien \\\\ Co'"


@pytest.mark.parametrize(
    ("status", "body", "kind", "category", "retry_after"),
    [
        (503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "down"}], RetryableError, None, None),
        (500, "<html>oops</html>", RetryableError, None, None),
        (
            403,
            [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}],
            RateLimitedError,
            None,
            WAIT,
        ),
        (400, [{"errorCode": "UNABLE_TO_LOCK_ROW", "message": "locked"}], RetryableError, None, 5.0),
        (
            401,
            [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}],
            RetryableError,
            None,
            None,
        ),
        (
            400,
            [{"errorCode": "REQUIRED_FIELD_MISSING", "message": "m", "fields": ["Name"]}],
            PermanentError,
            ErrorCategory.VALIDATION,
            None,
        ),
        (
            400,
            [{"errorCode": "INVALID_FIELD", "message": "No such column"}],
            PermanentError,
            ErrorCategory.VALIDATION,
            None,
        ),
        (
            400,
            [{"errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "message": "bad value"}],
            PermanentError,
            ErrorCategory.VALIDATION,
            None,
        ),
        (
            400,
            [{"errorCode": "DUPLICATE_VALUE", "message": "duplicate value found"}],
            PermanentError,
            ErrorCategory.DUPLICATE,
            None,
        ),
        (404, [{"errorCode": "NOT_FOUND", "message": "gone"}], PermanentError, ErrorCategory.MISSING_REFERENCE, None),
        (
            400,
            [{"errorCode": "INVALID_CROSS_REFERENCE_KEY", "message": "invalid cross reference id"}],
            PermanentError,
            ErrorCategory.MISSING_REFERENCE,
            None,
        ),
        (
            403,
            [{"errorCode": "INSUFFICIENT_ACCESS_OR_READONLY", "message": "no"}],
            PermanentError,
            ErrorCategory.PERMISSION,
            None,
        ),
        (
            403,
            [{"errorCode": "API_CURRENTLY_DISABLED", "message": "no"}],
            PermanentError,
            ErrorCategory.PERMISSION,
            None,
        ),
        (
            300,
            ["/services/data/v59.0/sobjects/Account/001A", "/services/data/v59.0/sobjects/Account/001B"],
            PermanentError,
            ErrorCategory.CONFLICT,
            None,
        ),
    ],
)
def test_http_failures_translate_into_the_two_error_classes(
    status: int, body: Any, kind: type[Exception], category: ErrorCategory | None, retry_after: float | None
) -> None:
    error = from_response(status, body, WAIT, "upsert Account")
    assert type(error) is kind
    assert f"HTTP {status}" in error.message
    if isinstance(error, PermanentError):
        assert error.category == category
    else:
        assert isinstance(error, RetryableError)
        assert error.retry_after == retry_after


def test_record_and_bulk_and_login_errors_translate_too() -> None:
    duplicate = from_record_errors([{"statusCode": "DUPLICATE_VALUE", "message": "dup", "fields": []}], WAIT)
    assert isinstance(duplicate, PermanentError)
    assert duplicate.category == ErrorCategory.DUPLICATE
    several = from_record_errors([{"statusCode": "DUPLICATE_EXTERNAL_ID", "message": "more than one"}], WAIT)
    assert isinstance(several, PermanentError)
    assert several.category == ErrorCategory.CONFLICT
    locked = from_record_errors([{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "x"}], WAIT)
    assert isinstance(locked, RetryableError)
    bulk = from_bulk_error("REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --", WAIT)
    assert isinstance(bulk, PermanentError)
    assert bulk.category == ErrorCategory.VALIDATION
    assert "[Name]" in bulk.message
    login = from_token_response(400, {"error": "invalid_client", "error_description": "invalid client credentials"})
    assert isinstance(login, PermanentError)
    assert login.category == ErrorCategory.PERMISSION
    assert isinstance(from_token_response(503, "busy"), RetryableError)


def test_the_cursor_continues_after_the_last_record_and_keeps_only_its_overlap() -> None:
    t0 = "2026-01-05T09:00:00.000+0000"
    t1 = "2026-01-05T09:00:01.000+0000"
    t9 = "2026-01-05T09:00:09.000+0000"
    exact = ChangeCursor().after([("a", t0), ("b", t1), ("c", t1)], timedelta(0))
    assert (exact.since, exact.last_id, dict(exact.seen)) == (t1, "c", {})
    assert ChangeCursor.decode(exact.encode()) == exact
    assert exact.after([], timedelta(0)) is exact
    wide = ChangeCursor().after([("a", t0), ("b", t1), ("d", t9)], timedelta(seconds=8))
    assert (wide.since, wide.last_id, dict(wide.seen)) == (t9, "d", {"b": t1, "d": t9})
    assert not wide.is_new("b", t1)
    assert wide.is_new("b", t9)
    assert wide.lower_bound(timedelta(seconds=8)) == parse_stamp(t9) - timedelta(seconds=8)
    late = wide.after([("e", t1)], timedelta(seconds=8))  # a late commit inside the window
    assert (late.since, late.last_id, dict(late.seen)) == (t9, "d", {"b": t1, "d": t9, "e": t1})
    assert ChangeCursor().encode() is None
    assert ChangeCursor.decode(None) == ChangeCursor()
    for garbage in ("42", '{"v": 2}', '{"v": 1, "since": "yesterday", "id": "x"}', json.dumps({"v": 1, "since": t0})):
        with pytest.raises(PermanentError) as unreadable:
            ChangeCursor.decode(garbage)
        assert unreadable.value.category == ErrorCategory.UNEXPECTED

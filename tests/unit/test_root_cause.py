"""Root causes: dead letters that one act fixes share a key; the key reads back in plain words."""

from __future__ import annotations

from typing import Any

import pytest

from sync_core.domain.root_cause import MAX_LENGTH, describe, money_at_stake, parse, plain_words, root_cause


@pytest.mark.parametrize(
    ("category", "message", "details", "expected"),
    [
        # held orders: what the closed-won flow names
        ("mapping", "the ERP sells no product 'CUSTOM-7': remap it", {"missing_products": ["CUSTOM-7"]},
         "mapping:product:CUSTOM-7"),
        ("mapping", "…", {"missing_products": ["B-2", "A-1", "B-2"]}, "mapping:product:A-1,B-2"),
        ("validation", "Acme lacks billing data the ERP order needs: vat_number", {"missing_fields": ["vat_number"]},
         "validation:billing:vat_number"),
        ("approval_required", "prices differ",
         {"deviations": [{"code": "SKU-2", "unit_price": "1"}, {"code": "SKU-1"}], "digest": "ab"},
         "approval_required:price:SKU-1,SKU-2"),
        # mapping errors name the value, the owner, the missing mapping
        ("mapping", "hubspot deal field dealstage: value 'won_big' has no canonical value (known: 'a', 'b')", None,
         "mapping:value:hubspot.deal.dealstage=won_big"),
        ("mapping", "salesforce has no active user with email Ann@Example.com to own this record: add the user", None,
         "mapping:owner:ann@example.com"),
        ("mapping", "odoo has no country 'Atlantis'", None, "mapping:value:country=Atlantis"),
        ("mapping", "erp has no field mapping for invoice", None, "mapping:mapping:erp.invoice"),
        # validation names the fields, not the values
        ("validation", "contact email: 'broken-1.example.com' value is not a valid email address", None,
         "validation:field:contact.email"),
        ("validation", "contact email: 'x' bad; company name: is required and cannot be blank", None,
         "validation:field:company.name,contact.email"),
        # anything else: its message, without what differs per record
        ("validation", "FIELD_CUSTOM_VALIDATION_EXCEPTION: key accounts need an approved credit limit", None,
         "validation:message:FIELD_CUSTOM_VALIDATION_EXCEPTION: key accounts need an approved credit limit"),
        ("transient", "gave up after 8 attempts: HubSpot 503: 'Service Unavailable' for 0061x00000AbCdE", None,
         "transient:message:gave up after # attempts: HubSpot #: … for #"),
        (None, None, None, "uncategorised:message:no message"),
    ],
)
def test_root_cause_names_what_one_fix_repairs(
    category: str | None, message: str | None, details: dict[str, Any] | None, expected: str
) -> None:
    assert root_cause(category, message, details) == expected


def test_records_that_differ_only_in_their_values_share_a_root_cause() -> None:
    first = root_cause("transient", "gave up after 5 attempts: salesforce: UNABLE_TO_LOCK_ROW on 001A000001")
    second = root_cause("transient", "gave up after 7 attempts: salesforce: UNABLE_TO_LOCK_ROW on 001A0000FF")
    assert first == second
    other = root_cause("transient", "gave up after 5 attempts: salesforce: HTTP 503 ")
    assert other != first


def test_a_root_cause_fits_its_column() -> None:
    key = root_cause("mapping", "x", {"missing_products": [f"CODE-{n:04d}" for n in range(100)]})
    assert len(key) == MAX_LENGTH
    assert key.startswith("mapping:product:CODE-0000,CODE-0001")


def test_a_key_parses_and_reads_in_plain_words() -> None:
    cause = parse("mapping:product:CUSTOM-7")
    assert (cause.category, cause.kind, cause.subject) == ("mapping", "product", "CUSTOM-7")
    assert cause.fixable_by_product_remap
    assert describe("mapping:product:CUSTOM-7") == "The ERP sells no product CUSTOM-7: remap it to one it sells"
    assert describe("validation:billing:street,vat_number") == (
        "Accounts lack billing data an order needs: street, vat_number"
    )
    assert "'won_big'" in describe("mapping:value:hubspot.deal.dealstage=won_big")
    assert describe("validation:message:key accounts need a limit") == "Key accounts need a limit"


def test_plain_words_lead_with_the_kind_of_failure() -> None:
    assert plain_words("duplicate", "HubSpot 409: exists") == (
        "The target system already holds such a record: HubSpot 409: exists"
    )
    assert plain_words(None, None) == "The write failed."


@pytest.mark.parametrize(
    ("payload", "money"),
    [
        ({"lines": [{"unit_price": "100", "quantity": 2}, {"unit_price": 50.5, "quantity": "1"}]}, 250.5),
        ({"lines": [{"unit_price": "10"}]}, 10.0),  # no quantity: one
        ({"lines": [{"unit_price": None, "quantity": 3}]}, 0.0),
        ({"amount": "1500000.0"}, 1_500_000.0),
        ({"amount": "n/a"}, 0.0),
        ({"name": "Acme"}, 0.0),
    ],
)
def test_money_at_stake_is_the_lines_total_else_the_amount(payload: dict[str, Any], money: float) -> None:
    assert money_at_stake(payload) == money

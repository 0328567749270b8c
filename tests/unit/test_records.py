"""Canonical records and partial validation of their fields."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import pytest
from pydantic import ConfigDict, TypeAdapter, ValidationError

from sync_core.domain.errors import ErrorCategory, PermanentError
from sync_core.domain.records import RECORD_TYPES, Company, Contact, validate


def test_record_types_cover_the_canonical_objects() -> None:
    assert set(RECORD_TYPES) == {
        "company",
        "contact",
        "deal",
        "product",
        "price_entry",
        "order",
        "shipment",
        "invoice",
        "payment",
    }


def test_records_are_frozen_and_forbid_extra_fields() -> None:
    company = Company(name="Acme")
    with pytest.raises(ValidationError):
        company.name = "Other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Company(name="Acme", colour="red")  # type: ignore[call-arg]


def test_full_records_build() -> None:
    contact = Contact(email="a@b.co", lead_score=3)
    assert contact.first_name is None


@pytest.mark.parametrize(
    ("object_type", "values", "expected"),
    [
        ("contact", {"email": " Ann@Example.COM "}, {"email": "ann@example.com"}),
        ("contact", {"lead_score": "7", "phone": None}, {"lead_score": 7, "phone": None}),
        ("company", {"annual_revenue": Decimal("1.50"), "city": " Lyon "}, {"annual_revenue": "1.5", "city": "Lyon"}),
        (
            "deal",
            {"amount": "100.5", "currency": "eur", "close_date": date(2024, 6, 30)},
            {"amount": "100.5", "currency": "EUR", "close_date": "2024-06-30"},
        ),
        (
            "product",
            {"code": "SKU-1", "active": True, "list_price": 9},
            {"code": "SKU-1", "active": True, "list_price": "9"},
        ),
        (
            "order",
            {"number": "S001", "lines": [{"product_code": "SKU-1", "quantity": "2"}]},
            {
                "number": "S001",
                "lines": [{"product_code": "SKU-1", "description": None, "quantity": "2", "unit_price": None}],
            },
        ),
        ("payment", {"date": "2024-05-01", "amount": "10"}, {"date": "2024-05-01", "amount": "10"}),
        ("invoice", {}, {}),
    ],
)
def test_validate_normalises_only_present_fields(
    object_type: str, values: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert validate(object_type, values) == expected


@pytest.mark.parametrize(
    ("object_type", "values", "message"),
    [
        ("contact", {"email": "not-an-email"}, "contact email: 'not-an-email' is not a valid email address"),
        ("contact", {"email": "  "}, "contact email: is required and cannot be blank"),
        ("company", {"name": None}, "company name: is required and cannot be blank"),
        ("deal", {"amount": "lots"}, "deal amount: 'lots' is invalid: input should be a valid decimal"),
        ("deal", {"currency": "euro"}, "deal currency: 'euro' is not a three-letter ISO 4217 currency code"),
        ("order", {"lines": [{"quantity": "1"}]}, "order lines[0].product_code: is required"),
        (
            "contact",
            {"email": "x", "lead_score": 1.5},
            "contact email: 'x' is not a valid email address; "
            "contact lead_score: 1.5 is invalid: input should be a valid integer, got a number with a fractional part",
        ),
    ],
)
def test_validate_explains_invalid_values(object_type: str, values: dict[str, Any], message: str) -> None:
    with pytest.raises(PermanentError) as caught:
        validate(object_type, values)
    assert caught.value.category is ErrorCategory.VALIDATION
    assert caught.value.message == message


def test_unknown_field_is_a_mapping_error() -> None:
    with pytest.raises(PermanentError, match="contact has no field") as caught:
        validate("contact", {"email": "a@b.co", "colour": "red"})
    assert caught.value.category is ErrorCategory.MAPPING


def test_unknown_object_type_is_a_mapping_error() -> None:
    with pytest.raises(PermanentError, match="unknown object type 'widget'") as caught:
        validate("widget", {})
    assert caught.value.category is ErrorCategory.MAPPING


@pytest.mark.parametrize("spelling", ["1200", 1200, 1200.0, "1200.00", Decimal("1.2E+3")])
def test_one_amount_has_one_canonical_text_however_a_system_spells_it(spelling: Any) -> None:
    # HubSpot answers "1200", Salesforce 1200.0, Odoo 1200.00: the same value must not read as a change
    assert validate("deal", {"amount": spelling}) == {"amount": "1200"}
    assert validate("deal", {"amount": "-0.0"}) == {"amount": "0"}


def test_deal_lines_are_validated_line_by_line() -> None:
    lines = [{"product_code": " W-1 ", "quantity": 2.0, "unit_price": "99.90"}]
    assert validate("deal", {"lines": lines}) == {
        "lines": [{"product_code": "W-1", "description": None, "quantity": "2", "unit_price": "99.9"}]
    }
    with pytest.raises(PermanentError) as failed:
        validate("deal", {"lines": [{"quantity": 1}]})
    assert failed.value.category == ErrorCategory.VALIDATION
    assert "lines[0].product_code" in failed.value.message


SAMPLES: tuple[Any, ...] = (
    None, "", " ", "Acme", " Acme ", "Acme\t", "\u00a0Acme", "\x1cAcme", "ada@acme.example", "EUR", "12", "12.50",
    "2026-05-01", "2026-05-01T10:00:00Z", "true", True, False, 0, 1, 12.5, Decimal("12.50"), date(2026, 5, 1),
    ("b", "a"), ["a"],
)  # fmt: skip


@pytest.mark.parametrize("object_type", sorted(RECORD_TYPES))
def test_validate_gives_what_each_fields_validator_gives(object_type: str) -> None:
    """Values passed through without asking pydantic (already as it would leave them) come out as it gives them."""
    for name, info in RECORD_TYPES[object_type].model_fields.items():
        annotation: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        adapter: TypeAdapter[Any] = TypeAdapter(annotation, config=ConfigDict(str_strip_whitespace=True))
        for value in SAMPLES:
            try:
                expected = adapter.dump_python(adapter.validate_python(value), mode="json")
            except ValidationError:
                with pytest.raises(PermanentError):
                    validate(object_type, {name: value})
                continue
            got = validate(object_type, {name: value})[name]
            assert (got, type(got)) == (expected, type(expected)), (object_type, name, value)

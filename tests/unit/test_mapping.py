"""Vendor <-> canonical field and value mappings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sync_core.domain.errors import ErrorCategory, PermanentError
from sync_core.domain.mapping import (
    FieldMap,
    ObjectMapping,
    as_written,
    identity_mapping,
    times_to_canonical,
    to_canonical,
    to_vendor,
)

CONTACT = ObjectMapping(
    system="salesforce",
    object_type="contact",
    fields=(
        FieldMap("email", "Email"),
        FieldMap("last_name", "LastName"),
        FieldMap("lifecycle_stage", "Status", {"lead": "Open", "customer": "Closed", "active": "1"}),
    ),
)


def test_to_canonical_renames_translates_and_ignores_unmapped_fields() -> None:
    vendor = {"Email": "a@b.co", "LastName": "Lee", "Status": "Closed", "Id": "003x"}
    assert to_canonical(CONTACT, vendor) == {"email": "a@b.co", "last_name": "Lee", "lifecycle_stage": "customer"}


def test_to_vendor_renames_translates_and_ignores_unmapped_fields() -> None:
    canonical = {"email": "a@b.co", "lifecycle_stage": "lead", "lead_score": 4}
    assert to_vendor(CONTACT, canonical) == {"Email": "a@b.co", "Status": "Open"}


def test_only_present_fields_are_mapped() -> None:
    assert to_canonical(CONTACT, {"LastName": "Lee"}) == {"last_name": "Lee"}
    assert to_vendor(CONTACT, {}) == {}


@pytest.mark.parametrize("blank", [None, "", "  "])
def test_blank_values_pass_through_value_maps_as_none(blank: str | None) -> None:
    assert to_canonical(CONTACT, {"Status": blank}) == {"lifecycle_stage": None}
    assert to_vendor(CONTACT, {"lifecycle_stage": blank}) == {"Status": None}


def test_values_without_a_value_map_pass_unchanged() -> None:
    assert to_canonical(CONTACT, {"LastName": "", "Email": None}) == {"last_name": "", "email": None}


def test_value_maps_compare_as_strings() -> None:
    assert to_canonical(CONTACT, {"Status": 1}) == {"lifecycle_stage": "active"}


def test_unknown_vendor_value_is_a_mapping_error() -> None:
    with pytest.raises(PermanentError) as caught:
        to_canonical(CONTACT, {"Status": "Weird"})
    assert caught.value.category is ErrorCategory.MAPPING
    assert caught.value.message == (
        "salesforce contact field Status: value 'Weird' has no canonical value (known: '1', 'Closed', 'Open')"
    )


def test_unknown_canonical_value_is_a_mapping_error() -> None:
    with pytest.raises(PermanentError) as caught:
        to_vendor(CONTACT, {"lifecycle_stage": "evangelist"})
    assert caught.value.category is ErrorCategory.MAPPING
    assert caught.value.message == (
        "salesforce contact field lifecycle_stage: value 'evangelist' has no salesforce value"
        " (known: 'active', 'customer', 'lead')"
    )


def test_round_trip() -> None:
    canonical = {"email": "a@b.co", "last_name": "Lee", "lifecycle_stage": "customer"}
    assert to_canonical(CONTACT, to_vendor(CONTACT, canonical)) == canonical


def test_shared_vendor_value_reads_back_as_the_first_canonical_value() -> None:
    mapping = ObjectMapping("hubspot", "deal", (FieldMap("stage", "dealstage", {"won": "closed", "lost": "closed"}),))
    assert to_canonical(mapping, {"dealstage": "closed"}) == {"stage": "won"}


def test_times_to_canonical() -> None:
    when = datetime(2024, 5, 1, tzinfo=UTC)
    assert times_to_canonical(CONTACT, {"Status": when, "Id": when}) == {"lifecycle_stage": when}


def test_identity_mapping() -> None:
    mapping = identity_mapping("erp", "company", ["name", "city"])
    assert mapping == ObjectMapping("erp", "company", (FieldMap("name", "name"), FieldMap("city", "city")))
    assert to_vendor(mapping, {"name": "Acme", "x": 1}) == {"name": "Acme"}


ACCOUNT = ObjectMapping(
    system="salesforce",
    object_type="company",
    fields=(FieldMap("annual_revenue", "AnnualRevenue"), FieldMap("phone", "Phone"), FieldMap("name", "Name")),
)


@pytest.mark.parametrize(
    ("read", "written", "expected"),
    [
        # the system spells the number Revline wrote its own way: what it holds is what Revline wrote
        ({"annual_revenue": "1500000.0"}, {"annual_revenue": "1500000"}, {"annual_revenue": "1500000"}),
        ({"annual_revenue": "1.5"}, {"annual_revenue": "1.50"}, {"annual_revenue": "1.50"}),
        # another number is a change
        ({"annual_revenue": "1500001.0"}, {"annual_revenue": "1500000"}, {"annual_revenue": "1500001.0"}),
        # text is compared as text: a phone losing its leading zero is a change, not a spelling
        ({"phone": "123"}, {"phone": "0123"}, {"phone": "123"}),
        ({"name": "Acme"}, {"name": "acme"}, {"name": "Acme"}),
        # blank against a number is a change too
        ({"annual_revenue": None}, {"annual_revenue": "0"}, {"annual_revenue": None}),
    ],
)
def test_as_written_keeps_revlines_spelling_of_numbers_it_wrote(
    read: dict[str, object], written: dict[str, object], expected: dict[str, object]
) -> None:
    assert as_written(ACCOUNT, read, written) == expected

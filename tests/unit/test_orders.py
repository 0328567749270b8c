"""The closed-won decision: billing data, products, prices and approvals, in that order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from sync_core.domain.errors import ErrorCategory
from sync_core.domain.orders import CatalogItem, Hold, OrderRules, Place, decide, deviations_digest, missing_billing

CATALOG = {"W-1": CatalogItem("W-1", Decimal("100")), "G-2": CatalogItem("G-2", Decimal("50")),
           "OLD": CatalogItem("OLD", Decimal("10"), active=False)}  # fmt: skip
COMPANY = {"name": "Acme", "street": "1 Rue", "postal_code": "69001", "city": "Lyon", "country": "France",
           "vat_number": "FR123"}  # fmt: skip
RULES = OrderRules()


def _line(code: str, price: Any = "100", quantity: Any = "1") -> dict[str, Any]:
    return {"product_code": code, "quantity": quantity, "unit_price": price}


@pytest.mark.parametrize(
    ("company", "missing"),
    [
        (COMPANY, []),
        ({**COMPANY, "vat_number": None}, ["vat_number"]),  # France invoices with a VAT number
        ({**COMPANY, "country": "US", "vat_number": None}, []),  # the US does not
        ({**COMPANY, "street": " ", "postal_code": None}, ["street", "postal_code"]),
        ({"name": "Bare"}, ["street", "postal_code", "city", "country"]),
    ],
)
def test_billing_data_an_order_needs(company: dict[str, Any], missing: list[str]) -> None:
    assert missing_billing(company, RULES) == missing


def test_a_complete_order_is_placed_with_its_lines() -> None:
    decision = decide([_line("W-1"), _line("g-2", "50", "3")], COMPANY, CATALOG, {}, set(), RULES)
    assert isinstance(decision, Place)
    assert [line["product_code"] for line in decision.lines] == ["W-1", "G-2"]  # the ERP's own spelling
    assert decision.approved is None


def test_checks_run_in_order_and_name_what_blocks() -> None:
    no_vat = {**COMPANY, "vat_number": ""}
    first = decide([_line("NOPE")], no_vat, CATALOG, {}, set(), RULES)
    assert isinstance(first, Hold)
    assert first.category is ErrorCategory.VALIDATION
    assert first.details == {"missing_fields": ["vat_number"]}
    assert "vat_number" in first.message

    unknown = decide([_line("W-1"), _line("NOPE"), _line("OLD", "10")], COMPANY, CATALOG, {}, set(), RULES)
    assert isinstance(unknown, Hold)
    assert unknown.category is ErrorCategory.MAPPING
    assert unknown.details == {"missing_products": ["NOPE", "OLD"]}  # an archived product is not sold

    assert isinstance(decide([], COMPANY, CATALOG, {}, set(), RULES), Hold)
    no_account = decide([_line("W-1")], None, CATALOG, {}, set(), RULES)
    assert isinstance(no_account, Hold)
    assert no_account.category is ErrorCategory.MISSING_REFERENCE


def test_remaps_send_a_code_to_a_product_the_erp_sells() -> None:
    decision = decide([_line("NOPE", "50")], COMPANY, CATALOG, {"NOPE": "G-2"}, set(), RULES)
    assert isinstance(decision, Place)
    assert decision.lines[0]["product_code"] == "G-2"


@pytest.mark.parametrize(("price", "held"), [("102", False), ("98", False), ("102.01", True), ("97.99", True)])
def test_prices_beyond_the_tolerance_are_held(price: str, held: bool) -> None:
    decision = decide([_line("W-1", price)], COMPANY, CATALOG, {}, set(), RULES)
    assert isinstance(decision, Hold) is held
    if isinstance(decision, Hold):
        assert decision.category is ErrorCategory.APPROVAL_REQUIRED
        assert decision.details["deviations"] == [{"code": "W-1", "unit_price": price, "list_price": "100"}]


def test_an_approval_lets_through_exactly_the_prices_it_saw() -> None:
    held = decide([_line("W-1", "130")], COMPANY, CATALOG, {}, set(), RULES)
    assert isinstance(held, Hold)
    digest = held.details["digest"]
    approved = decide([_line("W-1", "130")], COMPANY, CATALOG, {}, {digest}, RULES)
    assert isinstance(approved, Place)
    assert approved.approved == digest
    changed = decide([_line("W-1", "140")], COMPANY, CATALOG, {}, {digest}, RULES)
    assert isinstance(changed, Hold)
    assert changed.details["digest"] != digest
    assert deviations_digest([]) != digest

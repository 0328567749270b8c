"""Whether a won deal can become an ERP order, and with which lines: a pure decision.

Before an order is placed the closed-won flow checks three things, in this order, and the
first that fails holds the deal in the repair queue with a reason a person can act on:

1. the customer's billing data: street, postal code, city and country, and a VAT number
   where the country requires one (validation);
2. every product: each line's code, after the aliases an operator set, is sold by the ERP
   (mapping: remap the product, and the deal goes on);
3. every price: a line priced further from the ERP's list price than the tolerance is held
   for approval (approval_required); an approval covers exactly the deviations it saw.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sync_core.domain.errors import ErrorCategory
from sync_core.domain.ownership import is_blank

# Countries whose companies are invoiced with a VAT number (the EU's, by name and ISO code).
VAT_COUNTRIES = frozenset(
    name.casefold()
    for name in (
        "Austria", "AT", "Belgium", "BE", "Bulgaria", "BG", "Croatia", "HR", "Cyprus", "CY", "Czechia", "CZ",
        "Czech Republic", "Denmark", "DK", "Estonia", "EE", "Finland", "FI", "France", "FR", "Germany", "DE",
        "Greece", "GR", "Hungary", "HU", "Ireland", "IE", "Italy", "IT", "Latvia", "LV", "Lithuania", "LT",
        "Luxembourg", "LU", "Malta", "MT", "Netherlands", "NL", "Poland", "PL", "Portugal", "PT", "Romania", "RO",
        "Slovakia", "SK", "Slovenia", "SI", "Spain", "ES", "Sweden", "SE",
    )
)  # fmt: skip
BILLING_FIELDS = ("street", "postal_code", "city", "country")


@dataclass(frozen=True)
class OrderRules:
    """What the closed-won flow enforces; `price_tolerance` is relative (0.02: 2% either way)."""

    price_tolerance: Decimal = Decimal("0.02")
    vat_countries: frozenset[str] = VAT_COUNTRIES


@dataclass(frozen=True)
class CatalogItem:
    """A product as the ERP sells it."""

    code: str
    list_price: Decimal | None
    active: bool = True


@dataclass(frozen=True)
class Deviation:
    """A line priced away from the ERP's list price."""

    code: str
    unit_price: Decimal
    list_price: Decimal

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "unit_price": str(self.unit_price), "list_price": str(self.list_price)}


@dataclass(frozen=True)
class Place:
    """Place the order: the lines as the ERP will receive them."""

    lines: tuple[dict[str, Any], ...]
    approved: str | None = None  # the approval that let deviating prices through


@dataclass(frozen=True)
class Hold:
    """Do not place it: why, for a person, and what exactly blocks it."""

    category: ErrorCategory
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def missing_billing(company: Mapping[str, Any], rules: OrderRules) -> list[str]:
    """The billing fields `company` lacks (canonical names)."""
    missing = [name for name in BILLING_FIELDS if is_blank(company.get(name))]
    country = company.get("country")
    vat_country = isinstance(country, str) and country.strip().casefold() in rules.vat_countries
    if vat_country and is_blank(company.get("vat_number")):
        missing.append("vat_number")
    return missing


def deviations_digest(deviations: Sequence[Deviation]) -> str:
    """What an approval is bound to: these lines at these prices against these list prices."""
    text = json.dumps(sorted((d.code, str(d.unit_price), str(d.list_price)) for d in deviations))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def decide(
    lines: Sequence[Mapping[str, Any]] | None,
    company: Mapping[str, Any] | None,
    catalog: Mapping[str, CatalogItem],
    aliases: Mapping[str, str],
    approvals: Collection[str],
    rules: OrderRules,
) -> Place | Hold:
    """Place or hold the order of a won deal with `lines`, sold to `company`.

    `catalog` holds the ERP's products by code, `aliases` the operator's remaps (deal code ->
    ERP code), `approvals` the deviation digests a person approved for this deal.
    """
    if company is None:
        return Hold(ErrorCategory.MISSING_REFERENCE, "the won deal has no account: an ERP order needs a customer")
    missing = missing_billing(company, rules)
    if missing:
        name = company.get("name") or "the account"
        return Hold(
            ErrorCategory.VALIDATION,
            f"{name} lacks billing data the ERP order needs: {', '.join(missing)}",
            {"missing_fields": missing},
        )
    if not lines:
        return Hold(ErrorCategory.VALIDATION, "the won deal has no products: there is nothing to order")
    placed: list[dict[str, Any]] = []
    unknown: list[str] = []
    deviations: list[Deviation] = []
    for line in lines:
        asked = str(line.get("product_code") or "").strip()
        code = aliases.get(asked, asked)
        item = catalog.get(code.upper())
        if not code or item is None or not item.active:
            unknown.append(asked or "(no product code)")
            continue
        placed.append({**line, "product_code": item.code})
        price = _decimal(line.get("unit_price"))
        if price is not None and item.list_price is not None:
            allowed = abs(item.list_price) * rules.price_tolerance
            if abs(price - item.list_price) > allowed:
                deviations.append(Deviation(item.code, price, item.list_price))
    if unknown:
        return Hold(
            ErrorCategory.MAPPING,
            f"the ERP sells no product {', '.join(repr(c) for c in unknown)}: remap it to one it sells",
            {"missing_products": unknown},
        )
    if deviations:
        digest = deviations_digest(deviations)
        if digest not in approvals:
            shown = "; ".join(f"{d.code} at {d.unit_price} (list {d.list_price})" for d in deviations)
            percent = rules.price_tolerance * 100
            return Hold(
                ErrorCategory.APPROVAL_REQUIRED,
                f"prices differ from the ERP pricelist by more than {percent.normalize():f}%: {shown}",
                {"deviations": [d.as_json() for d in deviations], "digest": digest},
            )
        return Place(tuple(placed), approved=digest)
    return Place(tuple(placed))

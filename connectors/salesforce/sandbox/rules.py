"""What Salesforce itself computes or enforces per object: names, stages, price books, line items and roll-ups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.salesforce.sandbox.api_errors import SfError
from connectors.salesforce.sandbox.schema import STAGES
from connectors.salesforce.sandbox.store import Record, Store

Changes = dict[str, dict[str, Any]]  # record id -> fields another record's write changes on it


def derive(
    sobject: str, merged: dict[str, Any], given: Mapping[str, Any], previous: Record | None, store: Store
) -> list[SfError]:
    """Fill the computed fields of `merged` in place; the errors of the object's own rules."""
    if sobject in ("Contact", "Lead", "User"):
        merged["Name"] = " ".join(str(p) for p in (merged.get("FirstName"), merged.get("LastName")) if p)
    if sobject == "Opportunity":
        _opportunity(merged, given, previous)
    if sobject == "PricebookEntry" and previous is None:
        return _price_book_entry(merged, store)
    if sobject == "OpportunityLineItem":
        return _line_item(merged, previous, store)
    return []


def _opportunity(merged: dict[str, Any], given: Mapping[str, Any], previous: Record | None) -> None:
    stage = merged.get("StageName")
    merged["IsClosed"] = stage in ("Closed Won", "Closed Lost")
    merged["IsWon"] = stage == "Closed Won"
    stage_changed = previous is None or previous.values.get("StageName") != stage
    if stage_changed and "Probability" not in given and stage in STAGES:
        merged["Probability"] = STAGES[stage]


def standard_price_book(store: Store) -> Record | None:
    return next((r for r in store.rows("Pricebook2") if r.values.get("IsStandard")), None)


def _price_book_entry(merged: dict[str, Any], store: Store) -> list[SfError]:
    product = store.get(str(merged.get("Product2Id") or ""))
    book = store.get(str(merged.get("Pricebook2Id") or ""))
    if product is None or book is None:
        return []  # the lookup checks already reported it
    merged["Name"] = product.values.get("Name")
    merged["ProductCode"] = product.values.get("ProductCode")
    entries = store.find("PricebookEntry", "Product2Id", product.id)
    if any(e.values.get("Pricebook2Id") == book.id for e in entries):
        return [SfError("DUPLICATE_VALUE", "This price definition already exists in this price book", ())]
    standard = standard_price_book(store)
    if not book.values.get("IsStandard") and not any(
        standard is not None and e.values.get("Pricebook2Id") == standard.id for e in entries
    ):
        return [SfError("STANDARD_PRICE_NOT_DEFINED", "No standard price defined for this product", ())]
    return []


def _line_item(merged: dict[str, Any], previous: Record | None, store: Store) -> list[SfError]:
    opportunity = store.get(str(merged.get("OpportunityId") or ""))
    if opportunity is None:
        return []  # the lookup checks already reported it
    entry = store.get(str(merged.get("PricebookEntryId") or ""))
    book = opportunity.values.get("Pricebook2Id") or _standard_id(store)
    if entry is None and merged.get("Product2Id"):
        candidates = store.find("PricebookEntry", "Product2Id", str(merged["Product2Id"]))
        entry = next((e for e in candidates if e.values.get("Pricebook2Id") == book), None)
    if entry is None:
        return [
            SfError("REQUIRED_FIELD_MISSING", "Required fields are missing: [PricebookEntryId]", ("PricebookEntryId",))
        ]
    if entry.values.get("Pricebook2Id") != book:
        return [
            SfError(
                "FIELD_INTEGRITY_EXCEPTION",
                "field integrity exception: PricebookEntryId (pricebook entry is in a different pricebook than the"
                " one assigned to the opportunity)",
                ("PricebookEntryId",),
            )
        ]
    product = store.get(str(entry.values["Product2Id"]))
    merged["PricebookEntryId"] = entry.id
    merged["Product2Id"] = entry.values["Product2Id"]
    merged["ProductCode"] = entry.values.get("ProductCode")
    merged["ListPrice"] = entry.values.get("UnitPrice")
    merged["Name"] = f"{opportunity.values.get('Name')} {product.values.get('Name') if product else ''}".strip()
    if merged.get("UnitPrice") is None:
        merged["UnitPrice"] = merged["ListPrice"]
    discount = float(merged.get("Discount") or 0.0)
    merged["TotalPrice"] = round(
        float(merged["Quantity"]) * float(merged["UnitPrice"] or 0.0) * (1 - discount / 100), 2
    )
    return []


def _standard_id(store: Store) -> str | None:
    book = standard_price_book(store)
    return book.id if book else None


def after_write(record: Record, store: Store) -> Changes:
    """Changes a write makes on other records: a line item rolls up into its opportunity's amount."""
    if record.sobject != "OpportunityLineItem":
        return {}
    opportunity = store.get(str(record.values["OpportunityId"]), include_deleted=True)
    if opportunity is None or opportunity.deleted:
        return {}
    lines = store.find("OpportunityLineItem", "OpportunityId", opportunity.id)
    changes: dict[str, Any] = {"Amount": round(sum(float(line.values.get("TotalPrice") or 0.0) for line in lines), 2)}
    entry = store.get(str(record.values.get("PricebookEntryId") or ""))
    if not opportunity.values.get("Pricebook2Id") and entry is not None:
        changes["Pricebook2Id"] = entry.values["Pricebook2Id"]
    return {opportunity.id: changes}

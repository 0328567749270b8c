"""Why a dead letter is dead, as a key records can be grouped by: a pure function of its error.

A root cause is the error category plus what the error names: the product the ERP does not
sell, the value a mapping lacks, the field that failed validation, the billing data an account
misses. Records with one root cause are fixed by one act ("map CUSTOM-7 to SKU-001 once, retry
everything it blocked"), so the repair queue lists them as one group.

    mapping:product:CUSTOM-7              an order line's product the ERP does not sell
    mapping:value:hubspot.deal.dealstage=Won   a value with no counterpart in a value map
    mapping:owner:ann@example.com         an owner with no user in the target system
    validation:billing:vat_number         an account without the billing data an order needs
    validation:field:contact.email        a field the canonical record refuses
    approval_required:price:SKU-001       an order priced off the ERP's list
    validation:message:FIELD_CUSTOM_VALIDATION_EXCEPTION: key accounts need …   anything else: its message,
                                          with the values that differ per record taken out
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_LENGTH = 160  # the column's width
UNCATEGORISED = "uncategorised"

_VALUE = re.compile(r"^(?P<system>\S+) (?P<object>\S+) field (?P<field>\S+): value (?P<value>.+?) has no \w+ value")
_OWNER = re.compile(r"has no active user with email (?P<email>\S+)")
_COUNTRY = re.compile(r"has no country (?P<value>.+)$")
_NO_MAPPING = re.compile(r"^(?P<system>\S+) has no field mapping for (?P<object>\S+)")
_FIELD_PROBLEM = re.compile(r"^(?P<object>[a-z_]+) (?P<field>[a-z_]+)(?:[.\[][^:]*)?: ")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBERS = re.compile(r"\b[0-9A-Za-z]*\d[0-9A-Za-z\-_.]*\b")
_SPACES = re.compile(r"\s+")


def _clip(key: str) -> str:
    return key if len(key) <= MAX_LENGTH else key[: MAX_LENGTH - 1] + "…"


def _unquote(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else text


def _codes(items: Any, key: str | None = None) -> list[str]:
    found = []
    for item in items or []:
        value = item.get(key) if key is not None and isinstance(item, Mapping) else item
        if value not in (None, ""):
            found.append(str(value))
    return sorted(set(found))


def message_pattern(message: str) -> str:
    """The message with what differs per record taken out: quoted values, ids and numbers become `…` and `#`."""
    text = _QUOTED.sub("…", message)
    text = _NUMBERS.sub("#", text)
    return _SPACES.sub(" ", text).strip()


def root_cause(category: str | None, message: str | None, details: Mapping[str, Any] | None = None) -> str:
    """The root-cause key of a dead letter with this error category, message and details.

    `details` is what the closed-won flow records when it holds an order (missing products,
    missing billing fields, price deviations); other dead letters have only their message.
    """
    category = category or UNCATEGORISED
    details = details or {}
    text = (message or "").strip()
    if details.get("missing_products"):
        return _clip(f"{category}:product:{','.join(_codes(details['missing_products']))}")
    if details.get("missing_fields"):
        return _clip(f"{category}:billing:{','.join(_codes(details['missing_fields']))}")
    if details.get("deviations"):
        return _clip(f"{category}:price:{','.join(_codes(details['deviations'], 'code'))}")
    found = _VALUE.search(text)
    if found:
        value = _unquote(found["value"])
        return _clip(f"{category}:value:{found['system']}.{found['object']}.{found['field']}={value}")
    found = _OWNER.search(text)
    if found:
        return _clip(f"{category}:owner:{found['email'].lower()}")
    found = _COUNTRY.search(text)
    if found:
        return _clip(f"{category}:value:country={_unquote(found['value'])}")
    found = _NO_MAPPING.search(text)
    if found:
        return _clip(f"{category}:mapping:{found['system']}.{found['object']}")
    fields = sorted({f"{m['object']}.{m['field']}" for part in text.split("; ") if (m := _FIELD_PROBLEM.match(part))})
    if fields and category == "validation":
        return _clip(f"{category}:field:{','.join(fields)}")
    return _clip(f"{category}:message:{message_pattern(text) or 'no message'}")


@dataclass(frozen=True)
class Cause:
    """A root-cause key taken apart: category, what kind of thing it names, and that thing."""

    category: str
    kind: str
    subject: str

    @property
    def fixable_by_product_remap(self) -> bool:
        return self.kind == "product"


def parse(key: str) -> Cause:
    category, _, rest = key.partition(":")
    kind, _, subject = rest.partition(":")
    return Cause(category, kind or "message", subject)


def describe(key: str) -> str:
    """The root cause in plain words, as a group's title."""
    cause = parse(key)
    subject = cause.subject
    if cause.kind == "product":
        names = ", ".join(subject.split(","))
        return f"The ERP sells no product {names}: remap it to one it sells"
    if cause.kind == "billing":
        return f"Accounts lack billing data an order needs: {subject.replace(',', ', ')}"
    if cause.kind == "price":
        return f"Prices off the ERP's list ({subject.replace(',', ', ')}): approve or reject"
    if cause.kind == "value":
        where, _, value = subject.rpartition("=")
        return f"The value {value!r} of {where or 'a field'} has no counterpart in the value map"
    if cause.kind == "owner":
        return f"No user {subject} in the target system to own the record"
    if cause.kind == "mapping":
        return f"No field mapping for {subject.replace('.', ' ')}"
    if cause.kind == "field":
        return f"Refused values of {subject.replace(',', ', ')}"
    return subject[:1].upper() + subject[1:] if subject else "No error message"


_PLAIN = {
    "validation": "The target system refused the values",
    "duplicate": "The target system already holds such a record",
    "missing_reference": "The record points at a record the target system does not hold",
    "permission": "Revline is not allowed to write this there",
    "mapping": "Revline does not know how to map this record",
    "conflict": "Several records in the target system match this one",
    "approval_required": "The order waits for a person to approve it",
    "transient": "The target system kept failing; Revline gave up retrying",
    "unexpected": "An error Revline did not expect",
    UNCATEGORISED: "The write failed",
}


def plain_words(category: str | None, message: str | None) -> str:
    """The error of one record for a person: what kind of failure, then the system's own words."""
    lead = _PLAIN.get(category or UNCATEGORISED, _PLAIN[UNCATEGORISED])
    return f"{lead}: {message}" if message else f"{lead}."


def _number(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def money_at_stake(payload: Mapping[str, Any]) -> float:
    """What a dead letter holds up: its order lines' total (quantity x unit price), else its amount, else 0."""
    lines = payload.get("lines")
    if isinstance(lines, list) and lines:
        total = Decimal(0)
        for line in lines:
            if isinstance(line, Mapping):
                price, quantity = _number(line.get("unit_price")), _number(line.get("quantity"))
                total += (price or 0) * (quantity if quantity is not None else 1)
        return float(total)
    amount = _number(payload.get("amount"))
    return float(amount) if amount is not None else 0.0

"""Matching keys: how a record found in a second system is recognised as one Revline already knows."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any


def new_canonical_id() -> str:
    """A fresh canonical id: a UUID in the time-ordered version 7 layout (RFC 9562).

    Ids made close in time sort close together, so the ledger's indexes on canonical ids (links,
    shadows, ops, spans) take a page's new records into a few adjacent index pages instead of
    one random page each; the 74 random bits keep ids unique across workers.
    """
    millis = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")  # 80 bits, 6 of them overwritten below
    value = (millis & 0xFFFF_FFFF_FFFF) << 80 | random
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 9562 variant
    text = f"{value:032x}"  # str(uuid.UUID(int=value)), without the checks a value built here never needs
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def normalise_domain(value: str) -> str | None:
    """`https://www.Acme.example/about` -> `acme.example`; None when nothing domain-like is left."""
    text = value.strip().lower()
    for prefix in ("https://", "http://"):
        text = text.removeprefix(prefix)
    text = text.removeprefix("www.").split("/", 1)[0].split("?", 1)[0].rstrip(".")
    return text if "." in text and " " not in text else None


def match_key(object_type: str, values: Mapping[str, Any]) -> str | None:
    """The key two systems' copies of one record share: a contact's email, a company's domain, a deal's
    opportunity id, a product's code."""
    if object_type == "contact":
        email = values.get("email")
        return email.strip().lower() if isinstance(email, str) and "@" in email else None
    if object_type == "company":
        domain = values.get("domain")
        return normalise_domain(domain) if isinstance(domain, str) else None
    if object_type == "deal":
        # An opportunity's id travels with its deal: HubSpot's copy and the ERP's order carry it.
        opportunity = values.get("salesforce_id")
        return f"opportunity:{opportunity.strip()}" if isinstance(opportunity, str) and opportunity.strip() else None
    if object_type == "product":
        code = values.get("code")
        return code.strip().upper() if isinstance(code, str) and code.strip() else None
    return None

"""Matching keys: how a record found in a second system is recognised as one Revline already knows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def normalise_domain(value: str) -> str | None:
    """`https://www.Acme.example/about` -> `acme.example`; None when nothing domain-like is left."""
    text = value.strip().lower()
    for prefix in ("https://", "http://"):
        text = text.removeprefix(prefix)
    text = text.removeprefix("www.").split("/", 1)[0].split("?", 1)[0].rstrip(".")
    return text if "." in text and " " not in text else None


def match_key(object_type: str, values: Mapping[str, Any]) -> str | None:
    """The key two systems' copies of one record share: a contact's email, a company's domain, a product's code."""
    if object_type == "contact":
        email = values.get("email")
        return email.strip().lower() if isinstance(email, str) and "@" in email else None
    if object_type == "company":
        domain = values.get("domain")
        return normalise_domain(domain) if isinstance(domain, str) else None
    if object_type == "product":
        code = values.get("code")
        return code.strip().upper() if isinstance(code, str) and code.strip() else None
    return None

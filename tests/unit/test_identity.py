"""Matching keys: emails and domains normalised so two systems' copies of a record meet; fresh canonical ids."""

from __future__ import annotations

import time
import uuid

import pytest

from sync_core.domain.identity import match_key, new_canonical_id, normalise_domain


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("acme.example", "acme.example"),
        ("https://www.Acme.example/about?x=1", "acme.example"),
        ("http://acme.example.", "acme.example"),
        ("  WWW.ACME.EXAMPLE  ", "acme.example"),
        ("not a domain", None),
        ("localhost", None),
        ("", None),
    ],
)
def test_domains_are_normalised(raw: str, expected: str | None) -> None:
    assert normalise_domain(raw) == expected


def test_contacts_match_on_email_and_companies_on_domain() -> None:
    assert match_key("contact", {"email": " Ada@Example.COM "}) == "ada@example.com"
    assert match_key("contact", {"email": None}) is None
    # a deal is recognised by its opportunity's id, which HubSpot's copy and the ERP's order carry
    won = {"name": "Rollout", "salesforce_id": "0068d000000001nAAA"}
    assert match_key("deal", won) == "opportunity:0068d000000001nAAA"
    assert match_key("deal", {"name": "Rollout"}) is None
    assert match_key("contact", {"email": "no-at-sign"}) is None
    assert match_key("company", {"domain": "https://acme.example/"}) == "acme.example"
    assert match_key("company", {"name": "Acme"}) is None
    assert match_key("deal", {"name": "Big one"}) is None


def test_new_canonical_ids_are_version_7_uuids() -> None:
    value = uuid.UUID(new_canonical_id())
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_new_canonical_ids_carry_the_time_they_were_made_and_sort_by_it() -> None:
    before = time.time_ns() // 1_000_000
    first = new_canonical_id()
    time.sleep(0.002)
    second = new_canonical_id()
    after = time.time_ns() // 1_000_000
    assert before <= uuid.UUID(first).int >> 80 <= after
    assert first < second


def test_new_canonical_ids_are_unique() -> None:
    ids = [new_canonical_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)

"""Matching keys: emails and domains normalised so two systems' copies of a record meet."""

from __future__ import annotations

import pytest

from sync_core.domain.identity import match_key, normalise_domain


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
    assert match_key("contact", {"email": "no-at-sign"}) is None
    assert match_key("company", {"domain": "https://acme.example/"}) == "acme.example"
    assert match_key("company", {"name": "Acme"}) is None
    assert match_key("deal", {"name": "Big one"}) is None

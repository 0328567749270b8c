"""The user directory owners are translated through: lookups by id and email, reloads on a miss."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sync_core.domain.errors import ErrorCategory, PermanentError
from sync_core.domain.people import Directory, Person
from sync_core.testing import FrozenClock


def test_ids_and_emails_translate_both_ways_and_misses_reload_once() -> None:
    clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    users = [Person("005B", "Ana@Sales.example"), Person("005A", "old@sales.example", active=False)]
    loads: list[int] = []

    def load() -> list[Person]:
        loads.append(1)
        return list(users)

    people = Directory("salesforce", load, clock.now)
    assert people.email_of("005B") == "ana@sales.example"
    assert people.email_of("005A") == "old@sales.example"  # inactive users still own their records
    assert people.id_for(" ANA@sales.example") == "005B"
    assert people.id_for("old@sales.example") is None  # nothing can be given to an inactive user
    assert len(loads) == 2  # the first load, and one reload for the miss

    users.append(Person("005C", "ben@sales.example"))  # added since: found at once
    assert people.id_for("ben@sales.example") == "005C"
    assert people.email_of("00G-queue") is None
    before = len(loads)
    assert people.email_of("00G-queue") is None  # a known miss costs no reload ...
    assert len(loads) == before
    clock.advance(120)
    assert people.email_of("00G-queue") is None  # ... until a minute has passed
    assert len(loads) == before + 1
    with pytest.raises(PermanentError, match=r"no active user with email pat@agency\.example") as refused:
        people.require_id("Pat@Agency.example")
    assert refused.value.category is ErrorCategory.MAPPING


def test_the_active_user_with_the_lowest_id_holds_a_shared_address() -> None:
    users = [Person("005Z", "ops@sales.example"), Person("005M", "ops@sales.example"),
             Person("005A", "ops@sales.example", active=False)]  # fmt: skip
    people = Directory("salesforce", lambda: users, lambda: datetime(2026, 1, 1, tzinfo=UTC))
    assert people.id_for("ops@sales.example") == "005M"

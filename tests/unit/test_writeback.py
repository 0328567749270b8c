"""What a record's creation tells the other systems: a table of decisions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sync_core.domain.ownership import FieldRule, Rule, SystemState
from sync_core.domain.writeback import after_create, owned_unknown

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RULES = (
    FieldRule("hubspot_id", Rule.ALWAYS_OWNER, "hubspot"),
    FieldRule("salesforce_id", Rule.ALWAYS_OWNER, "salesforce"),
    FieldRule("email", Rule.TWO_WAY),
    FieldRule("industry", Rule.OWNER_UNLESS_BLANK, "salesforce"),
    FieldRule("lifecycle_stage", Rule.ALWAYS_OWNER, "hubspot"),
    FieldRule("notes", Rule.DONT_SYNC),
)
SALESFORCE_FIELDS = frozenset({"salesforce_id", "hubspot_id", "email", "industry"})
HUBSPOT_FIELDS = frozenset({"hubspot_id", "salesforce_id", "email", "lifecycle_stage"})


def held(**values: Any) -> SystemState:
    return SystemState(values=values, field_times=dict.fromkeys(values, AT))


@pytest.mark.parametrize(
    ("target", "fields", "written", "filled", "others", "writes", "unknown"),
    [
        # Salesforce created the record from HubSpot with all it owns written: its Id goes to HubSpot at once
        ("salesforce", SALESFORCE_FIELDS, {"hubspot_id", "email", "industry"}, {"salesforce_id": "003A"},
         {"hubspot": held(hubspot_id="1", email="a@x.example")}, {"hubspot": {"salesforce_id": "003A"}}, set()),
        # a field Salesforce owns was left blank by Revline: only reading the record tells what Salesforce put there
        ("salesforce", SALESFORCE_FIELDS, {"hubspot_id", "email"}, {"salesforce_id": "003A"},
         {"hubspot": held(hubspot_id="1")}, {}, {"industry"}),
        # HubSpot owns the lifecycle stage, which Revline never writes there: the new contact must be read
        ("hubspot", HUBSPOT_FIELDS, {"salesforce_id", "email"}, {"hubspot_id": "7"},
         {"salesforce": held(salesforce_id="003A")}, {}, {"lifecycle_stage"}),
        # a system that does not hold the record yet gets the id when it is created, not as an update now
        ("salesforce", SALESFORCE_FIELDS, {"hubspot_id", "email", "industry"}, {"salesforce_id": "003A"},
         {"hubspot": held(hubspot_id="1"), "erp": None}, {"hubspot": {"salesforce_id": "003A"}}, set()),
        # a system already holding the same id needs nothing
        ("salesforce", SALESFORCE_FIELDS, {"hubspot_id", "email", "industry"}, {"salesforce_id": "003A"},
         {"hubspot": held(hubspot_id="1", salesforce_id="003A")}, {}, set()),
        # a write result that reports nothing plans nothing (and the owned fields were all written)
        ("salesforce", SALESFORCE_FIELDS, {"salesforce_id", "hubspot_id", "email", "industry"}, {},
         {"hubspot": held(hubspot_id="1")}, {}, set()),
    ],
)
def test_after_create(
    target: str,
    fields: frozenset[str],
    written: set[str],
    filled: dict[str, Any],
    others: dict[str, SystemState | None],
    writes: dict[str, dict[str, Any]],
    unknown: set[str],
) -> None:
    states: dict[str, SystemState | None] = {**others, target: held(**dict.fromkeys(written, "v"))}
    decision = after_create(RULES, target, fields, states, written, filled, AT)
    assert decision.writes == writes
    assert decision.unknown == unknown
    # the target's own state now holds what it filled in, changed at the moment of the write
    for name, value in filled.items():
        assert decision.state.values[name] == value
        assert decision.state.field_times[name] == AT


def test_only_owned_and_mapped_fields_can_be_unknown() -> None:
    assert owned_unknown(RULES, "salesforce", {"industry", "email"}, set()) == {"industry"}
    assert owned_unknown(RULES, "salesforce", {"email"}, set()) == frozenset()  # not mapped there
    assert owned_unknown(RULES, "salesforce", {"industry"}, {"industry"}) == frozenset()  # written
    assert owned_unknown(RULES, "erp", {"industry", "notes"}, set()) == frozenset()  # owns nothing

"""What a change of policy changes: rule and value-map diffs, the overwrites a preview counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sync_core.domain.ownership import FieldRule, Rule, SystemState, apply, plan
from sync_core.domain.policy_change import (
    EXAMPLES,
    Overwrite,
    RuleChange,
    Tally,
    ValueChange,
    by_target,
    check,
    diff_rules,
    diff_values,
    overwrites,
    respellings,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MAPPED = {"marketing": frozenset({"phone", "email", "title"}), "sales": frozenset({"phone", "email"})}


def held(minutes: int, **values: Any) -> SystemState:
    return SystemState(values=values, field_times={k: T0 + timedelta(minutes=minutes) for k in values})


TWO_WAY = [FieldRule("phone", Rule.TWO_WAY), FieldRule("email", Rule.ALWAYS_OWNER, "marketing")]
SALES_PHONE = [FieldRule("phone", Rule.ALWAYS_OWNER, "sales"), FieldRule("email", Rule.ALWAYS_OWNER, "marketing")]


def test_diff_names_the_fields_whose_rule_or_owner_changed() -> None:
    before = [*TWO_WAY, FieldRule("title", Rule.DONT_SYNC)]
    after = [
        FieldRule("phone", Rule.ALWAYS_OWNER, "sales"),
        FieldRule("email", Rule.ALWAYS_OWNER, "sales"),
        FieldRule("title", Rule.DONT_SYNC),
        FieldRule("city", Rule.TWO_WAY),
    ]
    changes = diff_rules(before, after)
    assert [c.field for c in changes] == ["city", "email", "phone"]
    assert [c.describe() for c in changes] == [
        "city: no rule -> two_way",
        "email: always_owner (marketing) -> always_owner (sales)",
        "phone: two_way -> always_owner (sales)",
    ]


def test_an_owner_on_a_rule_that_has_none_is_no_change() -> None:
    assert diff_rules([FieldRule("phone", Rule.TWO_WAY)], [FieldRule("phone", Rule.TWO_WAY, "sales")]) == []
    assert diff_rules(TWO_WAY, list(reversed(TWO_WAY))) == []
    assert diff_rules(TWO_WAY, [*TWO_WAY, FieldRule("title", Rule.DONT_SYNC)]) == []  # not synced either way


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([FieldRule("phone", Rule.TWO_WAY), FieldRule("phone", Rule.DONT_SYNC)], "two rules"),
        ([FieldRule("phone", Rule.ALWAYS_OWNER)], "needs an owner"),
        ([FieldRule("phone", Rule.OWNER_UNLESS_BLANK, "erp")], "not one of marketing, sales"),
    ],
)
def test_check_refuses_rules_a_policy_cannot_hold(rules: list[FieldRule], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check(rules, ["marketing", "sales"])


def test_a_new_owner_overwrites_the_other_systems_differing_values() -> None:
    # marketing changed the phone last, so two_way left it to marketing; sales owning it reverses that
    states = {"marketing": held(10, phone="+1 555 0100", email="a@x.io"), "sales": held(5, phone="+1 555 0199")}
    found = overwrites("c1", TWO_WAY, SALES_PHONE, states, MAPPED)
    assert found == [Overwrite("c1", "marketing", "phone", "+1 555 0100", "+1 555 0199")]


def test_values_that_already_agree_or_the_old_rules_wrote_anyway_are_not_overwrites() -> None:
    agreeing = {"marketing": held(10, phone="1"), "sales": held(5, phone="1")}
    assert overwrites("c1", TWO_WAY, SALES_PHONE, agreeing, MAPPED) == []
    # sales changed last: two_way would write sales' value to marketing already, the change adds nothing
    pending = {"marketing": held(5, phone="1"), "sales": held(10, phone="2")}
    assert overwrites("c1", TWO_WAY, SALES_PHONE, pending, MAPPED) == []


def test_only_changed_fields_and_mapped_targets_count() -> None:
    # email differs but its rule is unchanged; title is not mapped in sales, so marketing's owner rule
    # has nowhere to write it
    states = {"marketing": held(10, email="a@x.io", title="CTO"), "sales": held(5, email="b@x.io")}
    rules_after = [*TWO_WAY, FieldRule("title", Rule.ALWAYS_OWNER, "marketing")]
    assert overwrites("c1", TWO_WAY, rules_after, states, MAPPED) == []


def test_a_record_in_one_system_only_is_never_overwritten() -> None:
    assert overwrites("c1", TWO_WAY, SALES_PHONE, {"sales": held(5, phone="2")}, MAPPED) == []


def test_dont_sync_overwrites_nothing_and_two_way_takes_the_latest() -> None:
    states = {"marketing": held(10, phone="new"), "sales": held(5, phone="old")}
    assert overwrites("c1", SALES_PHONE, [FieldRule("phone", Rule.DONT_SYNC)], states, MAPPED) == []
    back = overwrites("c1", SALES_PHONE, TWO_WAY, states, MAPPED)
    assert back == [Overwrite("c1", "sales", "phone", "old", "new")]


def test_overwrites_are_what_the_planner_then_writes() -> None:
    """Applying the overwrites and planning again under the new rules leaves nothing to write."""
    states = {"marketing": held(10, phone="1", email="a"), "sales": held(5, phone="2", email="a")}
    found = overwrites("c1", TWO_WAY, SALES_PHONE, states, MAPPED)
    writes = by_target(found)
    assert writes == {"marketing": {"phone": "2"}}
    after = apply(dict(states), writes)
    assert plan(SALES_PHONE, dict(after), {}) == {}


def test_value_map_diff_and_respellings() -> None:
    before = {"finance": "Finance", "retail": "Retail", "tech": "Technology"}
    after = {"finance": "Financial Services", "retail": "Retail", "health": "Healthcare"}
    changes = diff_values(before, after)
    assert changes == [
        ValueChange("finance", "Finance", "Financial Services"),
        ValueChange("health", None, "Healthcare"),
        ValueChange("tech", "Technology", None),
    ]
    assert changes[0].describe() == "finance: Finance -> Financial Services"
    assert changes[2].describe() == "tech: Technology -> (none)"
    finance = SystemState(values={"industry": "finance"})
    assert respellings("c1", "sales", "industry", changes, finance) == [
        Overwrite("c1", "sales", "industry", "finance", "finance")
    ]
    # retail's spelling is unchanged; tech left the map (not written: its read-back fails loudly instead)
    for value in ("retail", "tech", None):
        assert respellings("c1", "sales", "industry", changes, SystemState(values={"industry": value})) == []
    assert respellings("c1", "sales", "industry", changes, None) == []


def test_tally_counts_records_per_system_and_keeps_a_few_examples() -> None:
    tally = Tally()
    for n in range(EXAMPLES + 5):
        tally.add([
            Overwrite(f"c{n}", "marketing", "phone", "1", "2"), Overwrite(f"c{n}", "marketing", "email", "a", "b")
        ])
    tally.add([Overwrite("s1", "sales", "phone", "1", "2")])
    tally.add([])
    assert tally.records == {"marketing": EXAMPLES + 5, "sales": 1}
    assert tally.values == {"marketing.phone": EXAMPLES + 5, "marketing.email": EXAMPLES + 5, "sales.phone": 1}
    assert tally.total == EXAMPLES + 6
    assert tally.scanned == EXAMPLES + 7
    assert len(tally.examples) == EXAMPLES


def test_rule_change_describes_a_removed_rule() -> None:
    assert RuleChange("fax", FieldRule("fax", Rule.TWO_WAY), None).describe() == "fax: two_way -> no rule"

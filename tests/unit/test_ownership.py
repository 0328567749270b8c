"""Ownership rules: table tests per rule and properties of the planner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_core.domain.ownership import (
    FieldRule,
    Plan,
    Rule,
    SystemState,
    apply,
    is_blank,
    observe,
    plan,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SYSTEMS = ("erp", "hubspot", "salesforce")


def t(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def state(value: Any, minutes: int, name: str = "f") -> SystemState:
    return SystemState(values={name: value}, field_times={name: t(minutes)})


States = dict[str, SystemState | None]


@pytest.mark.parametrize(
    ("value", "blank"),
    [(None, True), ("", True), ("  \t", True), ("x", False), (0, False), (False, False), ([], False)],
)
def test_is_blank(value: Any, blank: bool) -> None:
    assert is_blank(value) is blank


ALWAYS = FieldRule("f", Rule.ALWAYS_OWNER, owner="erp")
UNLESS_BLANK = FieldRule("f", Rule.OWNER_UNLESS_BLANK, owner="erp")
TWO_WAY = FieldRule("f", Rule.TWO_WAY)
DONT = FieldRule("f", Rule.DONT_SYNC)


@pytest.mark.parametrize(
    ("rule", "states", "expected"),
    [
        pytest.param(
            ALWAYS,
            {"erp": state("a", 0), "hubspot": state("b", 9), "salesforce": state("a", 1)},
            {"hubspot": {"f": "a"}},
            id="always_owner: owner wins over a later edit",
        ),
        pytest.param(
            ALWAYS,
            {"erp": state("", 0), "hubspot": state("b", 9)},
            {"hubspot": {"f": ""}},
            id="always_owner: a blank owner is pushed",
        ),
        pytest.param(
            ALWAYS,
            {"erp": SystemState(), "hubspot": state("b", 9)},
            {},
            id="always_owner: an owner that has not reported the field, nothing",
        ),
        pytest.param(
            ALWAYS,
            {"erp": None, "hubspot": state("b", 9)},
            {},
            id="always_owner: no record in the owner, nothing",
        ),
        pytest.param(
            ALWAYS,
            {"hubspot": state("b", 9)},
            {},
            id="always_owner: owner not known, nothing",
        ),
        pytest.param(
            ALWAYS,
            {"erp": state("a", 0), "hubspot": None},
            {"hubspot": {"f": "a"}},
            id="always_owner: a missing record is created",
        ),
        pytest.param(
            ALWAYS,
            {"erp": state(None, 0), "hubspot": None, "salesforce": state("", 3)},
            {},
            id="always_owner: blanks agree, and no empty record is created",
        ),
        pytest.param(
            UNLESS_BLANK,
            {"erp": state("a", 0), "hubspot": state("b", 9)},
            {"hubspot": {"f": "a"}},
            id="owner_unless_blank: a non-blank owner wins",
        ),
        pytest.param(
            UNLESS_BLANK,
            {"erp": state(" ", 9), "hubspot": state("b", 1), "salesforce": state("c", 2)},
            {"erp": {"f": "c"}, "hubspot": {"f": "c"}},
            id="owner_unless_blank: a blank owner is filled with the latest non-blank value",
        ),
        pytest.param(
            UNLESS_BLANK,
            {"erp": SystemState(), "hubspot": state("b", 1), "salesforce": state(None, 5)},
            {"erp": {"f": "b"}, "salesforce": {"f": "b"}},
            id="owner_unless_blank: an owner without the field is filled; later blanks do not count",
        ),
        pytest.param(
            UNLESS_BLANK,
            {"erp": None, "hubspot": state("b", 1)},
            {"erp": {"f": "b"}},
            id="owner_unless_blank: a missing owner record is created with the fill",
        ),
        pytest.param(
            UNLESS_BLANK,
            {"erp": state(None, 0), "hubspot": state("", 1), "salesforce": None},
            {},
            id="owner_unless_blank: nobody has a value, nothing",
        ),
        pytest.param(
            UNLESS_BLANK,
            {"erp": state("", 0), "hubspot": state("b", 4), "salesforce": state("c", 4)},
            {"erp": {"f": "b"}, "salesforce": {"f": "b"}},
            id="owner_unless_blank: equal times break by system name",
        ),
        pytest.param(
            TWO_WAY,
            {"erp": state("a", 0), "hubspot": state("b", 9), "salesforce": state("c", 5)},
            {"erp": {"f": "b"}, "salesforce": {"f": "b"}},
            id="two_way: the latest change wins",
        ),
        pytest.param(
            TWO_WAY,
            {"erp": state("a", 0), "hubspot": state("", 9), "salesforce": state(None, 5)},
            {"erp": {"f": ""}},
            id="two_way: clearing a value propagates",
        ),
        pytest.param(
            TWO_WAY,
            {"erp": state("a", 3), "hubspot": state("b", 3)},
            {"hubspot": {"f": "a"}},
            id="two_way: equal times break by system name",
        ),
        pytest.param(
            TWO_WAY,
            {"erp": state("a", 3), "hubspot": SystemState(values={"g": 1}), "salesforce": None},
            {"hubspot": {"f": "a"}, "salesforce": {"f": "a"}},
            id="two_way: systems without the field or the record get it",
        ),
        pytest.param(
            TWO_WAY,
            {"erp": SystemState(values={"f": "a"}), "hubspot": state("b", 0)},
            {"erp": {"f": "b"}},
            id="two_way: a value without a time loses to one with a time",
        ),
        pytest.param(
            TWO_WAY,
            {"erp": SystemState(), "hubspot": None},
            {},
            id="two_way: nobody has the field, nothing",
        ),
        pytest.param(
            DONT,
            {"erp": state("a", 0), "hubspot": state("b", 9), "salesforce": None},
            {},
            id="dont_sync: nothing moves",
        ),
    ],
)
def test_plan_table(rule: FieldRule, states: States, expected: Plan) -> None:
    assert plan([rule], states, {}) == expected


def test_plan_merges_fields_per_system() -> None:
    rules = [FieldRule("name", Rule.ALWAYS_OWNER, owner="erp"), FieldRule("phone", Rule.TWO_WAY)]
    states: States = {
        "erp": SystemState({"name": "Acme", "phone": "1"}, {"name": t(0), "phone": t(0)}),
        "hubspot": SystemState({"name": "ACME", "phone": "2"}, {"name": t(1), "phone": t(1)}),
        "salesforce": None,
    }
    assert plan(rules, states, {}) == {
        "erp": {"phone": "2"},
        "hubspot": {"name": "Acme"},
        "salesforce": {"name": "Acme", "phone": "2"},
    }


def test_rule_needing_an_owner_without_one_is_refused() -> None:
    with pytest.raises(ValueError, match="needs an owner"):
        plan([FieldRule("f", Rule.ALWAYS_OWNER)], {"erp": state("a", 0)}, {})


def test_apply_takes_the_winning_time_and_creates_missing_records() -> None:
    states: States = {"erp": state("a", 0), "hubspot": state("b", 9), "salesforce": None}
    after = apply(states, {"erp": {"f": "b"}, "salesforce": {"f": "b"}})
    assert after == {
        "erp": state("b", 9),
        "hubspot": state("b", 9),
        "salesforce": state("b", 9),
    }


def test_apply_without_a_source_keeps_the_previous_time() -> None:
    states: States = {"erp": SystemState(), "hubspot": state("b", 9)}
    after = apply(states, {"hubspot": {"f": None}})
    assert after["hubspot"] == state(None, 9)


def test_apply_leaves_absent_records_out() -> None:
    assert apply({"erp": state("a", 0), "hubspot": None}, {}) == {"erp": state("a", 0)}


def test_observe_first_read_takes_field_times_then_modified_at() -> None:
    seen = observe(None, {"f": "a", "g": "b"}, t(5), {"g": t(2)}, {})
    assert seen == SystemState({"f": "a", "g": "b"}, {"f": t(5), "g": t(2)})


def test_observe_keeps_the_time_of_unchanged_fields_and_fields_not_read() -> None:
    previous = SystemState({"f": "a", "g": "b", "h": "c"}, {"f": t(0), "g": t(0), "h": t(0)})
    seen = observe(previous, {"f": "a", "g": "B"}, t(5), {}, {})
    assert seen == SystemState({"f": "a", "g": "B", "h": "c"}, {"f": t(0), "g": t(5), "h": t(0)})


def test_observe_new_field_on_known_record_takes_its_time() -> None:
    seen = observe(state("a", 0), {"g": "x"}, t(5), {}, {})
    assert seen.field_times == {"f": t(0), "g": t(5)}


def test_observe_an_echo_is_not_a_change() -> None:
    seen = observe(state("a", 0), {"f": "b"}, t(5), {}, {"f": "b"})
    assert seen == state("b", 0)


def test_observe_writing_none_is_an_echo_but_not_writing_is_not() -> None:
    assert observe(state("a", 0), {"f": None}, t(5), {}, {"f": None}) == state(None, 0)
    assert observe(state("a", 0), {"f": None}, t(5), {}, {}) == state(None, 5)


def test_observe_a_blank_read_back_as_another_blank_is_unchanged() -> None:
    assert observe(state(None, 0), {"f": ""}, t(5), {}, {}).field_times == {"f": t(0)}


def test_observe_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        observe(None, {"f": "a"}, datetime(2024, 1, 1), {}, {})  # noqa: DTZ001


def test_echo_does_not_make_a_system_the_latest_for_two_way() -> None:
    # HubSpot changes the name; Revline writes it to Salesforce; before Salesforce's
    # echo is read, HubSpot changes it again. The echo, stamped later, must not win.
    rules = [TWO_WAY]
    states: States = {"hubspot": state("new", 10), "salesforce": state("old", 1)}
    writes = plan(rules, states, {})
    assert writes == {"salesforce": {"f": "new"}}
    written = writes["salesforce"]
    states["hubspot"] = observe(states["hubspot"], {"f": "newer"}, t(11), {}, {})
    states["salesforce"] = observe(states["salesforce"], {"f": "new"}, t(12), {}, written)
    assert plan(rules, states, {"salesforce": written}) == {"salesforce": {"f": "newer"}}


# Properties ---------------------------------------------------------------------------

VALUES = st.sampled_from([None, "", "  ", "a", "b", "c"])
TIMES = st.integers(min_value=0, max_value=5).map(t)
FIELDS = ("f", "g", "h")


@st.composite
def system_states(draw: st.DrawFn) -> SystemState | None:
    if draw(st.booleans()) and draw(st.booleans()):
        return None
    names = draw(st.lists(st.sampled_from(FIELDS), unique=True))
    values = {name: draw(VALUES) for name in names}
    times = {name: draw(TIMES) for name in names if draw(st.integers(0, 9)) > 0}
    return SystemState(values, times)


STATES = st.fixed_dictionaries({name: system_states() for name in SYSTEMS}).map(dict)


@st.composite
def rule_sets(draw: st.DrawFn) -> list[FieldRule]:
    rules = []
    for name in FIELDS:
        kind = draw(st.sampled_from(list(Rule)))
        owner = draw(st.sampled_from(SYSTEMS)) if kind in (Rule.ALWAYS_OWNER, Rule.OWNER_UNLESS_BLANK) else None
        rules.append(FieldRule(name, kind, owner))
    return rules


def agree(a: Any, b: Any) -> bool:
    return (is_blank(a) and is_blank(b)) or a == b


@given(rules=rule_sets(), states=STATES)
def test_plan_apply_plan_plans_nothing(rules: list[FieldRule], states: States) -> None:
    after = apply(states, plan(rules, states, {}))
    assert plan(rules, after, {}) == {}


@given(rules=rule_sets(), states=STATES)
def test_plan_is_stable_on_unchanged_input(rules: list[FieldRule], states: States) -> None:
    assert plan(rules, states, {}) == plan(rules, states, {})


@given(rules=rule_sets(), states=STATES)
def test_always_owner_never_writes_to_the_owner(rules: list[FieldRule], states: States) -> None:
    writes = plan(rules, states, {})
    for rule in rules:
        if rule.rule is Rule.ALWAYS_OWNER:
            assert rule.field not in writes.get(str(rule.owner), {})


@given(states=STATES, owner=st.sampled_from(SYSTEMS))
def test_owner_unless_blank_fills_a_blank_owner(states: States, owner: str) -> None:
    rule = FieldRule("f", Rule.OWNER_UNLESS_BLANK, owner)
    current = states[owner]
    owner_value = current.values.get("f") if current is not None else None
    others = [s.values["f"] for name, s in states.items() if name != owner and s is not None and "f" in s.values]
    after = apply(states, plan([rule], states, {}))
    if not is_blank(owner_value):
        assert after[owner].values["f"] == owner_value
    elif any(not is_blank(v) for v in others):
        filled = after[owner].values["f"]
        assert not is_blank(filled)
        assert filled in others
    else:
        assert after.get(owner) == current


@given(
    values=st.fixed_dictionaries({name: st.one_of(st.none(), VALUES) for name in SYSTEMS}),
    times=st.lists(TIMES, min_size=3, max_size=3, unique=True),
)
def test_two_way_converges_to_the_latest_value(values: dict[str, Any], times: list[datetime]) -> None:
    # A system whose value drew None here has no record at all.
    states: States = {
        name: SystemState({"f": value}, {"f": when}) if value is not None else None
        for (name, value), when in zip(values.items(), times, strict=True)
    }
    holders = {name: s for name, s in states.items() if s is not None}
    after = apply(states, plan([TWO_WAY], states, {}))
    if not holders:
        assert after == {}
        return
    latest = max(holders.values(), key=lambda s: s.field_times["f"]).values["f"]
    for name, s in after.items():
        assert agree(s.values.get("f"), latest), name
    if not is_blank(latest):
        assert set(after) == set(SYSTEMS)

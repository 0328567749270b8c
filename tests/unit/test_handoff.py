"""Lead handoff rules: qualification by stage or score, round robin and territory assignment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sync_core.domain.handoff import Assignment, HandoffRules, assign, qualifies


@pytest.mark.parametrize(
    ("contact", "threshold", "expected"),
    [
        ({"lifecycle_stage": "mql"}, None, True),
        ({"lifecycle_stage": "lead", "lead_score": 99}, None, False),  # no threshold: the stage decides
        ({"lifecycle_stage": "lead", "lead_score": "60"}, 60, True),
        ({"lifecycle_stage": "lead", "lead_score": 59.9}, 60, False),
        ({"lifecycle_stage": "lead", "lead_score": ""}, 60, False),
        ({"lifecycle_stage": "lead", "lead_score": "n/a"}, 60, False),
        ({}, 0, False),
    ],
)
def test_qualification(contact: dict[str, object], threshold: int | None, expected: bool) -> None:
    assert qualifies(contact, HandoffRules(score_threshold=threshold)) is expected


def test_round_robin_takes_turns() -> None:
    rule = Assignment(owners=("a@sales.example", "b@sales.example", "c@sales.example"))
    assert [assign({}, rule, turn) for turn in range(5)] == [
        "a@sales.example", "b@sales.example", "c@sales.example", "a@sales.example", "b@sales.example",
    ]


def test_territories_match_without_case_and_fall_back() -> None:
    rule = Assignment(mode="territory", field="country",
                      territories={"France": "fr@sales.example", "Germany": "de@sales.example"},
                      default_owner="rest@sales.example")  # fmt: skip
    assert assign({"country": " france "}, rule, 0) == "fr@sales.example"
    assert assign({"country": "Spain"}, rule, 0) == "rest@sales.example"
    assert assign({}, rule, 0) == "rest@sales.example"


def test_incomplete_rules_are_refused() -> None:
    with pytest.raises(ValidationError, match="at least one owner"):
        Assignment(owners=())
    with pytest.raises(ValidationError, match="territories or a default"):
        Assignment(mode="territory")


def test_owners_are_people_named_by_email() -> None:
    # The canonical owner is the person's email: each CRM connector finds its own user by it.
    rule = Assignment(owners=(" Ana.Lopez@Sales.Example ",), territories={"France": "FR@sales.example"})
    assert rule.owners == ("ana.lopez@sales.example",)
    assert rule.territories == {"France": "fr@sales.example"}
    with pytest.raises(ValidationError, match="not a valid email"):
        Assignment(owners=("005Qx000001",))  # a user id of one system means nothing in another
    with pytest.raises(ValidationError, match="not a valid email"):
        Assignment(mode="territory", default_owner="emea team")

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
    rule = Assignment(owners=("a", "b", "c"))
    assert [assign({}, rule, turn) for turn in range(5)] == ["a", "b", "c", "a", "b"]


def test_territories_match_without_case_and_fall_back() -> None:
    rule = Assignment(mode="territory", field="country", territories={"France": "fr", "Germany": "de"},
                      default_owner="rest")  # fmt: skip
    assert assign({"country": " france "}, rule, 0) == "fr"
    assert assign({"country": "Spain"}, rule, 0) == "rest"
    assert assign({}, rule, 0) == "rest"


def test_incomplete_rules_are_refused() -> None:
    with pytest.raises(ValidationError, match="at least one owner"):
        Assignment(owners=())
    with pytest.raises(ValidationError, match="territories or a default"):
        Assignment(mode="territory")

"""Lead handoff rules: when a marketing contact is qualified, and who in sales gets it. Pure.

A contact qualifies when its lifecycle stage is one of `stages` (canonical stages: "mql" is
HubSpot's marketingqualifiedlead) or, when a threshold is set, its lead score reaches it. Its
owner in sales comes from the assignment rule: round robin over a list of people, or by a
territory field (country, say) with a default for the rest. People are named by email address, the
owner's canonical identity: each connector finds the user (Salesforce) or owner (HubSpot) with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sync_core.domain.ownership import is_blank
from sync_core.domain.records import Email as Person


class Assignment(BaseModel):
    """Who gets a new lead."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["round_robin", "territory"] = "round_robin"
    owners: tuple[Person, ...] = ()  # round robin: the sales people's emails, in turn
    field: str = "country"  # territory: the contact's canonical field that names the territory
    territories: dict[str, Person] = Field(default_factory=dict)  # territory value -> owner's email
    default_owner: Person | None = None  # territory: for values no territory lists

    @model_validator(mode="after")
    def _complete(self) -> Assignment:
        if self.mode == "round_robin" and not self.owners:
            raise ValueError("round robin needs at least one owner")
        if self.mode == "territory" and not (self.territories or self.default_owner):
            raise ValueError("territory assignment needs territories or a default owner")
        return self


class HandoffRules(BaseModel):
    """What the lead handoff flow does, as an admin configures it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stages: tuple[str, ...] = ("mql", "sql")
    score_threshold: int | None = None
    assignment: Assignment | None = None  # None: sales assigns leads itself
    converted_stage: str = "opportunity"  # the marketing lifecycle stage once sales converts the lead


def qualifies(contact: Mapping[str, Any], rules: HandoffRules) -> bool:
    """Whether marketing hands this contact over to sales."""
    if contact.get("lifecycle_stage") in rules.stages:
        return True
    score = contact.get("lead_score")
    if rules.score_threshold is None or is_blank(score):
        return False
    try:
        return float(str(score)) >= rules.score_threshold
    except (TypeError, ValueError):
        return False


def assign(contact: Mapping[str, Any], assignment: Assignment, turn: int) -> str | None:
    """The owner of a new lead; `turn` counts the round robin's earlier assignments."""
    if assignment.mode == "round_robin":
        return assignment.owners[turn % len(assignment.owners)]
    value = contact.get(assignment.field)
    key = str(value).strip().casefold() if not is_blank(value) else ""
    for territory, owner in assignment.territories.items():
        if territory.strip().casefold() == key:
            return owner
    return assignment.default_owner

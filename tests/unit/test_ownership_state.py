"""The Field ownership page's draft: editing rules and owners in the tab, before any preview or save."""

from __future__ import annotations

from typing import Any

from reflex.state import State

import console.console  # noqa: F401  (defines every page and its state)
from console.state.ownership import NO_OWNER, OwnershipState, _row


def _tab() -> Any:
    state = State(_reflex_internal_init=True)._get_state_from_cache(OwnershipState)
    state.systems = ["marketing", "sales"]
    state.rows = [
        _row("email", ["email", "Email"], "always_owner", "marketing", "always_owner", "marketing"),
        _row("phone", ["phone", "Phone"], "two_way", NO_OWNER, "two_way", NO_OWNER),
    ]
    return state


def _call(state: Any, name: str, *args: Any) -> Any:
    return OwnershipState.event_handlers[name].fn(state, *args)


def test_a_rule_that_takes_an_owner_gets_one_and_the_row_counts_as_edited() -> None:
    state = _tab()
    _call(state, "set_rule", "phone", "always_owner")
    phone = state.rows[1]
    assert (phone.rule, phone.owner, phone.owned, phone.changed) == ("always_owner", "marketing", True, True)
    _call(state, "set_owner", "phone", "sales")
    assert state.rows[1].owner == "sales"
    assert state.edited == 1
    assert [(r.field, r.rule.value, r.owner) for r in state._draft_rules()] == [
        ("email", "always_owner", "marketing"), ("phone", "always_owner", "sales"),
    ]  # fmt: skip


def test_a_rule_without_owner_drops_it_and_unknown_values_change_nothing() -> None:
    state = _tab()
    _call(state, "set_rule", "email", "two_way")
    assert (state.rows[0].owner, state.rows[0].owned) == (NO_OWNER, False)
    _call(state, "set_rule", "phone", "no_such_rule")
    _call(state, "set_owner", "email", "erp")  # not a system of this object: ignored while two_way
    assert state.rows[1].rule == "two_way"
    assert state.edited == 1
    _call(state, "discard_edits")
    assert state.edited == 0
    assert state.rows[0].owner == "marketing"

"""Reconciliation's pure judgements: drift under the rules, won without order, what may heal itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sync_core.domain import findings, quota
from sync_core.domain.findings import Kind
from sync_core.domain.ownership import FieldRule, Rule, SystemState

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
RULES = [
    FieldRule("payment_terms", Rule.ALWAYS_OWNER, "erp"),
    FieldRule("name", Rule.TWO_WAY),
    FieldRule("order_status", Rule.ALWAYS_OWNER, "erp"),
    FieldRule("amount", Rule.ALWAYS_OWNER, "salesforce"),
    FieldRule("note", Rule.DONT_SYNC),
]
FIELDS = frozenset({"payment_terms", "name", "order_status", "amount", "note"})
MAPPED = dict.fromkeys(("erp", "salesforce", "hubspot"), FIELDS)


def _state(values: dict[str, object], at: datetime = T0) -> SystemState:
    return SystemState(values=values, field_times=dict.fromkeys(values, at))


def test_agreeing_systems_have_no_drift() -> None:
    same = {"payment_terms": "30 days", "name": "Acme", "amount": Decimal("10"), "note": "x"}
    states = {"erp": _state(same), "salesforce": _state(same | {"note": "y"})}  # dont_sync fields may differ
    assert findings.drift("company", "c1", RULES, states, MAPPED, {}) == []


def test_a_non_owner_edit_is_field_drift_with_the_owner_value_expected() -> None:
    states = {
        "erp": _state({"payment_terms": "30 days", "open_invoice_amount": "1200.50"}),
        "salesforce": _state({"payment_terms": "immediate"}, T0 + timedelta(hours=1)),  # later, but not the owner
    }
    (drift,) = findings.drift("company", "c1", RULES, states, MAPPED, {"erp": "7", "salesforce": "001A"})
    assert (drift.kind, drift.field, drift.target) == (Kind.FIELD_DRIFT, "payment_terms", "salesforce")
    assert drift.values == {"erp": "30 days", "salesforce": "immediate", "expected": "30 days"}
    assert drift.money == Decimal("1200.50")  # a company's open invoices are at stake
    assert drift.key == "field_drift:company:c1:salesforce:payment_terms"
    assert "owner erp" in drift.summary


def test_a_deal_order_state_in_a_crm_is_status_drift_and_unmapped_fields_are_not_asked() -> None:
    states = {
        "erp": _state({"order_status": "confirmed", "amount": Decimal("500")}),
        "hubspot": _state({"order_status": "cancelled", "amount": Decimal("500")}),
        "salesforce": _state({"amount": Decimal("500")}),
    }
    mapped = MAPPED | {"salesforce": frozenset({"amount"})}  # salesforce has nowhere to keep the order state
    (drift,) = findings.drift("deal", "d1", RULES, states, mapped, {})
    assert (drift.kind, drift.target, drift.money) == (Kind.STATUS_DRIFT, "hubspot", Decimal("500"))


def test_two_way_drift_expects_the_latest_change() -> None:
    states = {"erp": _state({"name": "Acme"}), "hubspot": _state({"name": "Acme Inc"}, T0 + timedelta(minutes=5))}
    (drift,) = findings.drift("company", "c1", RULES, states, MAPPED, {})
    assert (drift.target, drift.values["expected"]) == ("erp", "Acme Inc")
    assert "latest change" in drift.summary


def test_won_without_order_waits_for_the_sla() -> None:
    won = SystemState({"stage": "closed_won", "amount": Decimal("900"), "name": "Big deal"}, {"stage": T0})
    sla = timedelta(hours=1)
    assert findings.won_without_order("d1", "salesforce", won, False, T0 + timedelta(minutes=30), sla, {}) is None
    later = T0 + timedelta(hours=2)
    late = findings.won_without_order("d1", "salesforce", won, False, later, sla, {"salesforce": "006"})
    assert late is not None
    assert (late.kind, late.money) == (Kind.WON_WITHOUT_ORDER, Decimal("900"))
    assert findings.won_without_order("d1", "salesforce", won, True, T0 + timedelta(hours=2), sla, {}) is None
    open_deal = SystemState({"stage": "proposal"}, {"stage": T0})
    assert findings.won_without_order("d1", "salesforce", open_deal, False, T0 + timedelta(days=9), sla, {}) is None


def test_safe_kinds_heal_by_default_and_the_admin_decides() -> None:
    assert findings.heals("field_drift", {})
    assert findings.heals("won_without_order", {})
    assert not findings.heals("duplicate", {})
    assert not findings.heals("order_without_won", {})
    assert not findings.heals("field_drift", {"field_drift": "hold"})
    assert findings.heals("duplicate", {"duplicate": "heal"})


def test_background_work_leaves_the_quota_to_live_sync() -> None:
    assert quota.leaves_room(None)
    assert quota.leaves_room(quota.ApiUsage(window_limit=100, window_remaining=60))
    assert not quota.leaves_room(quota.ApiUsage(window_limit=100, window_remaining=20))
    assert not quota.leaves_room(quota.ApiUsage(daily_limit=1000, daily_remaining=100))


def test_one_number_spelt_two_ways_is_no_drift() -> None:
    rules = [FieldRule("amount_invoiced", Rule.ALWAYS_OWNER, "erp")]
    states = {"erp": _state({"amount_invoiced": "0"}), "hubspot": _state({"amount_invoiced": 0.0})}
    mapped = {"erp": frozenset({"amount_invoiced"}), "hubspot": frozenset({"amount_invoiced"})}
    assert findings.drift("deal", "d1", rules, states, mapped, {}) == []
    states["hubspot"] = _state({"amount_invoiced": 10.5})
    (drift,) = findings.drift("deal", "d1", rules, states, mapped, {})
    assert (drift.kind, drift.values["expected"]) == (Kind.STATUS_DRIFT, "0")


def test_agreeing_values_need_no_planning_and_any_difference_asks_for_it() -> None:
    synced = findings.synced_fields(RULES, MAPPED)
    assert "note" not in dict(synced.fields)  # dont_sync fields are never compared
    held = {"erp": {"payment_terms": "30 days", "name": "Acme", "note": "x"},
            "salesforce": {"payment_terms": "30 days", "name": "Acme", "note": "y"}}  # fmt: skip
    assert findings.agree(synced, held)
    assert findings.agree(synced, {"erp": {"name": ""}, "salesforce": {"name": None}})  # blanks are one value
    assert not findings.agree(synced, {"erp": {"name": "Acme"}, "salesforce": {"name": "Acme Inc"}})
    # a field a system does not map is not asked of it
    narrow = findings.synced_fields(RULES, MAPPED | {"salesforce": frozenset({"name"})})
    assert findings.agree(narrow, {"erp": {"name": "A", "amount": "5"}, "salesforce": {"name": "A"}})


def test_agreement_holds_across_every_pair_of_systems() -> None:
    synced = findings.synced_fields(RULES, MAPPED)
    same = {"payment_terms": "30 days", "name": "Acme"}
    assert findings.agree(synced, {"erp": same, "salesforce": same, "hubspot": same})
    # two agree, the third differs from both
    assert not findings.agree(synced, {"erp": same, "salesforce": same, "hubspot": {**same, "name": "Acme Inc"}})
    # blanks spelt three ways are one value, also when the rest differs nowhere
    blanks = {"erp": {**same, "name": ""}, "salesforce": {**same, "name": None}, "hubspot": {**same, "name": "  "}}
    assert findings.agree(synced, blanks)
    assert not findings.agree(synced, {**blanks, "hubspot": {**same, "name": "Acme"}})
    # a field only two systems map is asked of those two only
    narrow = findings.synced_fields(RULES, MAPPED | {"erp": frozenset({"payment_terms"})})
    assert findings.agree(narrow, {"erp": {"payment_terms": "30 days", "name": "Other"},
                                   "salesforce": same, "hubspot": same})  # fmt: skip
    assert not findings.agree(narrow, {"erp": {"payment_terms": "60 days"}, "salesforce": same, "hubspot": same})
    # a system holding nothing is left out
    assert findings.agree(synced, {"erp": same, "hubspot": same})

"""Reconciliation's judgements: what counts as a mismatch, what is at stake, what may heal itself.

Pure functions over what the systems hold now (canonical values per system, as read by a pass)
and the ownership rules. The reconciliation loop (sync_core/reconcile.py) gathers the inputs and
records the answers as findings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sync_core.domain.ownership import FieldRule, Rule, SystemState, plan
from sync_core.domain.records import FULFILMENT_FIELDS, WON, same_number


class Kind(StrEnum):
    """The kinds of mismatch a pass looks for."""

    WON_WITHOUT_ORDER = "won_without_order"
    ORDER_WITHOUT_WON = "order_without_won"
    MISSING_CUSTOMER = "missing_customer"
    FIELD_DRIFT = "field_drift"
    STATUS_DRIFT = "status_drift"
    DUPLICATE = "duplicate"
    ORPHAN = "orphan"


HEAL = "heal"
HOLD = "hold"

# Heals that cannot lose information: the owner's value pushed again; the closed-won flow run again
# (idempotent on the opportunity, so never a second order); a link moved to the record its key finds.
DEFAULT_HEALING: dict[str, str] = {kind.value: HOLD for kind in Kind} | {
    Kind.FIELD_DRIFT.value: HEAL,
    Kind.WON_WITHOUT_ORDER.value: HEAL,
    Kind.ORPHAN.value: HEAL,
}


def heals(kind: str, healing: Mapping[str, str]) -> bool:
    """Whether a finding of `kind` heals on its own under the admin's choices (defaults where silent)."""
    return healing.get(kind, DEFAULT_HEALING.get(kind, HOLD)) == HEAL


@dataclass(frozen=True)
class Mismatch:
    """One thing that is not as it should be, with everything a person needs to judge it."""

    kind: Kind
    object_type: str
    canonical_id: str
    summary: str
    systems: tuple[str, ...]
    records: Mapping[str, str]  # system -> the record's id there
    values: Mapping[str, Any] = field(default_factory=dict)  # system -> value; "expected" -> what it should be
    field: str | None = None
    target: str | None = None  # the system a heal writes to
    money: Decimal = Decimal(0)
    currency: str | None = None

    @property
    def key(self) -> str:
        """The same mismatch gets the same key in every pass."""
        return ":".join((self.kind.value, self.object_type, self.canonical_id, self.target or "", self.field or ""))


def at_stake(object_type: str, values: Mapping[str, Any]) -> tuple[Decimal, str | None]:
    """The money a mismatch puts at risk: a deal's amount, a company's open invoices."""
    name = {"deal": "amount", "company": "open_invoice_amount"}.get(object_type)
    amount = values.get(name) if name else None
    try:
        money = Decimal(str(amount)) if amount not in (None, "") else Decimal(0)
    except ArithmeticError:
        money = Decimal(0)
    return money, values.get("currency")


def drift(
    object_type: str,
    canonical_id: str,
    rules: Sequence[FieldRule],
    states: Mapping[str, SystemState],
    mapped: Mapping[str, frozenset[str]],
    records: Mapping[str, str],
) -> list[Mismatch]:
    """Fields whose value in some system differs from what the rules say it should be.

    `states` holds what each system that has the record holds now; a system is only asked for
    the fields it maps. A deal's order, delivery, invoice and payment fields are status drift
    (the CRM disagrees with the ERP), every other field is field drift.
    """
    writes = plan(rules, states, {})
    merged: dict[str, Any] = {}
    for state in states.values():
        merged.update({k: v for k, v in state.values.items() if v not in (None, "")})
    money, currency = at_stake(object_type, merged)
    owners = {rule.field: rule.owner for rule in rules}
    found = []
    for target, fields in sorted(writes.items()):
        for name, expected in sorted(fields.items()):
            current = states[target].values.get(name)
            if name not in mapped.get(target, frozenset()) or same_number(object_type, name, current, expected):
                continue  # nowhere to keep it there, or one number spelt two ways ("0" and 0.0)
            status = object_type == "deal" and name in FULFILMENT_FIELDS
            values = {s: jsonable(state.values.get(name)) for s, state in sorted(states.items())}
            owner = owners.get(name)
            found.append(Mismatch(
                kind=Kind.STATUS_DRIFT if status else Kind.FIELD_DRIFT,
                object_type=object_type, canonical_id=canonical_id, field=name, target=target,
                summary=f"{object_type} {name} in {target} is {_shown(values.get(target))}, "
                        f"{'the owner ' + owner if owner else 'the latest change'} says {_shown(jsonable(expected))}",
                systems=tuple(sorted(states)), records=dict(records),
                values=values | {"expected": jsonable(expected)}, money=money, currency=currency,
            ))  # fmt: skip
    return found


@dataclass(frozen=True)
class Synced:
    """The fields the rules keep in step, worked out once per policy for `agree`."""

    fields: tuple[tuple[str, tuple[str, ...]], ...]  # each synced field, with the systems that map it
    pairs: tuple[tuple[str, str, tuple[str, ...]], ...]  # each two systems, with the synced fields both map


def synced_fields(rules: Sequence[FieldRule], mapped: Mapping[str, frozenset[str]]) -> Synced:
    """Each field a rule keeps in step, with the systems that map it (what `agree` compares, once per policy)."""
    fields = tuple(
        (rule.field, tuple(s for s in sorted(mapped) if rule.field in mapped[s]))
        for rule in rules if rule.rule is not Rule.DONT_SYNC
    )  # fmt: skip
    systems = sorted(mapped)
    pairs = tuple(
        (a, b, names)
        for i, a in enumerate(systems) for b in systems[i + 1:]
        if (names := tuple(name for name, holders in fields if a in holders and b in holders))
    )  # fmt: skip
    return Synced(fields, pairs)


def agree(synced: Synced, values: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether every system holds one value for every synced field it maps (`synced_fields`; blanks are one
    value): then no rule asks any of them for a write, and `drift` would find nothing. A quick test that
    needs no change times, run for every record a pass reads; False does not mean drift, only that `drift`
    has to look."""
    # Most records agree to the letter: two systems' fields side by side, compared as lists, settle it.
    # Only when some pair differs do blanks need telling apart ("" and None are one value).
    for a, b, names in synced.pairs:
        first, second = values.get(a), values.get(b)
        if first is not None and second is not None and list(map(first.get, names)) != list(map(second.get, names)):
            return _agree_field_by_field(synced.fields, values)
    return True


def _agree_field_by_field(
    fields: Sequence[tuple[str, Sequence[str]]], values: Mapping[str, Mapping[str, Any]]
) -> bool:
    for name, systems in fields:
        first: Any = _UNSEEN
        for system in systems:
            held = values.get(system)
            if held is None:
                continue
            value = held.get(name)
            if value is not None and isinstance(value, str) and not value.strip():
                value = None
            if first is _UNSEEN:
                first = value
            elif value != first:
                return False
    return True


_UNSEEN = object()


def won_without_order(
    canonical_id: str,
    sales: str,
    deal: SystemState,
    order_placed: bool,
    now: datetime,
    sla: timedelta,
    records: Mapping[str, str],
) -> Mismatch | None:
    """A deal won in the sales system longer than the order SLA ago with no confirmed ERP order."""
    if deal.values.get("stage") != WON or order_placed:
        return None
    won_at = deal.field_times.get("stage")
    if won_at is not None and now - won_at < sla:
        return None  # the closed-won flow still has time
    money, currency = at_stake("deal", deal.values)
    name = deal.values.get("name") or canonical_id
    return Mismatch(
        kind=Kind.WON_WITHOUT_ORDER, object_type="deal", canonical_id=canonical_id, target=None,
        summary=f"deal {name!s} is won in {sales} and has no confirmed order",
        systems=(sales,), records=dict(records), values={sales: WON, "expected": "confirmed order"},
        money=money, currency=currency,
    )  # fmt: skip


def jsonable(value: Any) -> Any:
    """A value as JSON can hold it (decimals and dates as text, tuples as lists)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump())
    return str(value)


def _shown(value: Any) -> str:
    return "blank" if value in (None, "") else repr(value)

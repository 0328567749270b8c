"""State of the Field ownership page: each field's rule and owner, value maps, preview, save, history."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import reflex as rx
from reflex_base.event import EventSpec
from sqlalchemy.exc import SQLAlchemyError

from console.state.session import GuardedState, requires, tab_only
from console.state.views import ago, iso, ledger_error
from sync_core.domain.access import Role
from sync_core.domain.ownership import FieldRule, Rule
from sync_core.domain.policy_change import Tally
from sync_core.services import ledger_engine, policy

RULES = [rule.value for rule in Rule]
OWNED = (Rule.ALWAYS_OWNER.value, Rule.OWNER_UNLESS_BLANK.value)
NO_OWNER = "-"  # an owner select's value while the rule takes none (a select cannot hold "")
RULE_HINTS = {
    "always_owner": "the owner's value wins and is pushed to the others",
    "owner_unless_blank": "the owner's value wins; while it is blank another system's fills it",
    "two_way": "the latest change wins, wherever it was made",
    "dont_sync": "each system keeps its own value",
}
HISTORY_SIZE = 10
ACTIONS = {
    policy.RULES_SAVED: "rules saved",
    policy.RULES_ROLLED_BACK: "rules rolled back",
    policy.VALUES_SAVED: "values saved",
    policy.VALUES_ROLLED_BACK: "values rolled back",
}


@dataclass(frozen=True)
class FieldRow:
    """One canonical field: each system's field name, its rule and owner as edited, and as saved."""

    field: str
    vendors: list[str]  # per system of the page, "—" where the system does not map it
    rule: str
    owner: str
    saved_rule: str
    saved_owner: str
    changed: bool
    owned: bool  # the rule takes an owner


@dataclass(frozen=True)
class ValueEntry:
    canonical: str
    vendor: str
    changed: bool


@dataclass(frozen=True)
class ExampleView:
    record: str
    label: str
    system: str
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class HistoryView:
    id: int
    version: str
    when: str
    at: str
    actor: str
    action: str
    what: str
    changes: str
    writes: str
    latest: bool  # the entry whose version is in force: nothing to roll back to


def _shown(value: Any) -> str:
    return "(blank)" if value is None or value == "" else str(value)


def _writes(writes: dict[str, int]) -> str:
    return ", ".join(f"{n} in {system}" for system, n in sorted(writes.items())) or "none"


def _row(field: str, vendors: list[str], rule: str, owner: str, saved_rule: str, saved_owner: str) -> FieldRow:
    owned = rule in OWNED
    owner = owner if owned else NO_OWNER
    return FieldRow(field, vendors, rule, owner, saved_rule, saved_owner,
                    (rule, owner) != (saved_rule, saved_owner), owned)  # fmt: skip


class OwnershipState(GuardedState):
    """The object on screen, its field table as edited, the value map open beside it, the preview."""

    objects: rx.Field[list[str]] = rx.field(default_factory=list)
    object_type: rx.Field[str] = rx.field("")
    systems: rx.Field[list[str]] = rx.field(default_factory=list)
    rows: rx.Field[list[FieldRow]] = rx.field(default_factory=list)
    rule_version: rx.Field[int] = rx.field(0)
    mapping_version: rx.Field[int] = rx.field(0)
    error: rx.Field[str] = rx.field("")
    # value maps: "system.field" keys of the object's mapped fields that translate values
    value_maps: rx.Field[list[str]] = rx.field(default_factory=list)
    value_map: rx.Field[str] = rx.field("")
    entries: rx.Field[list[ValueEntry]] = rx.field(default_factory=list)
    saved_entries: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    new_canonical: rx.Field[str] = rx.field("")
    new_vendor: rx.Field[str] = rx.field("")
    # the preview of what saving (or rolling back) would do
    preview_open: rx.Field[bool] = rx.field(False)
    preview_kind: rx.Field[str] = rx.field("")  # "rules", "values" or "restore"
    preview_title: rx.Field[str] = rx.field("")
    preview_changes: rx.Field[list[str]] = rx.field(default_factory=list)
    preview_counts: rx.Field[list[str]] = rx.field(default_factory=list)
    preview_total: rx.Field[int] = rx.field(0)
    preview_scanned: rx.Field[int] = rx.field(0)
    preview_examples: rx.Field[list[ExampleView]] = rx.field(default_factory=list)
    restore_id: rx.Field[int] = rx.field(0)
    # the history of the object's policy
    history: rx.Field[list[HistoryView]] = rx.field(default_factory=list)
    history_page: rx.Field[int] = rx.field(1)
    history_pages: rx.Field[int] = rx.field(1)
    history_total: rx.Field[int] = rx.field(0)

    @rx.var
    def edited(self) -> int:
        """How many fields differ from the saved version."""
        return sum(1 for row in self.rows if row.changed)

    @rx.var
    def values_edited(self) -> bool:
        return {e.canonical: e.vendor for e in self.entries} != self.saved_entries

    @rx.var
    def history_has_prev(self) -> bool:
        return self.history_page > 1

    @rx.var
    def history_has_next(self) -> bool:
        return self.history_page < self.history_pages

    # -- reading ----------------------------------------------------------------------------------

    async def _fetch(self) -> None:
        engine = ledger_engine()
        try:
            self.objects = await asyncio.to_thread(policy.object_types, engine)
            if self.object_type not in self.objects:
                self.object_type = self.objects[0] if self.objects else ""
            current, rule_version, mapping_version = await asyncio.to_thread(policy.current, engine, self.object_type)
        except SQLAlchemyError as exc:
            self.error = ledger_error(exc)
            return
        self.error = ""
        self.rule_version, self.mapping_version = rule_version or 0, mapping_version or 0
        self.systems = list(current.systems)
        vendors = {
            (system, f.canonical): f.vendor for system, m in current.mappings.items() for f in m.fields
        }  # fmt: skip
        rules = {rule.field: rule for rule in current.rules}
        names = sorted(set(rules) | {name for _, name in vendors})
        rows = []
        for name in names:
            rule = rules.get(name)
            saved_rule = rule.rule.value if rule else Rule.DONT_SYNC.value
            saved_owner = (rule.owner or NO_OWNER) if rule and rule.rule.value in OWNED else NO_OWNER
            row_vendors = [vendors.get((system, name), "—") for system in self.systems]
            rows.append(_row(name, row_vendors, saved_rule, saved_owner, saved_rule, saved_owner))
        self.rows = rows
        self.value_maps = [
            f"{system}.{f.canonical}" for system, m in sorted(current.mappings.items()) for f in m.fields if f.values
        ]
        if self.value_map not in self.value_maps:
            self.value_map = self.value_maps[0] if self.value_maps else ""
        self._open_value_map(current)
        await self._fetch_history()

    def _open_value_map(self, current: policy.ObjectPolicy) -> None:
        saved: dict[str, str] = {}
        if self.value_map:
            system, name = self.value_map.split(".", 1)
            mapping = current.mappings.get(system)
            found = next((f for f in mapping.fields if f.canonical == name), None) if mapping else None
            saved = dict(found.values) if found else {}
        self.saved_entries = dict(sorted(saved.items()))
        self.entries = [ValueEntry(k, v, False) for k, v in sorted(saved.items())]
        self.new_canonical = self.new_vendor = ""

    async def _fetch_history(self) -> None:
        try:
            listing = await asyncio.to_thread(
                policy.history, ledger_engine(), self.object_type, self.history_page, HISTORY_SIZE
            )
        except SQLAlchemyError as exc:
            self.error = ledger_error(exc)
            return
        now = datetime.now(UTC)
        # The newest entry of the rules (and of each value map) is the version in force.
        in_force: set[tuple[str, str]] = set() if listing.page == 1 else {(e.kind, e.what) for e in listing.items}
        history = []
        for e in listing.items:
            latest = (e.kind, e.what) not in in_force
            in_force.add((e.kind, e.what))
            history.append(HistoryView(
                id=e.id, version=f"{e.kind} v{e.version}" if e.version is not None else e.kind, when=ago(e.at, now),
                at=iso(e.at), actor=e.actor, action=ACTIONS.get(e.action, e.action), what=e.what,
                changes="; ".join(e.changes) or "(no change)", writes=_writes(e.writes), latest=latest,
            ))  # fmt: skip
        self.history = history
        self.history_total, self.history_pages = listing.total, listing.pages

    @rx.event
    @requires(Role.VIEWER)
    async def on_load(self) -> None:
        wanted = str(self.router.url.query_parameters.get("object", "") or "")
        if wanted:
            self.object_type = wanted
        self.history_page, self.preview_open = 1, False
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def refresh(self) -> None:
        """Live refresh: the history, and the table while nothing is being edited (another admin may save)."""
        typing = bool(self.new_canonical or self.new_vendor)
        if self.edited or self.values_edited or self.preview_open or typing:
            await self._fetch_history()
        else:
            await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def set_object(self, object_type: str) -> None:
        self.object_type, self.history_page, self.value_map = object_type, 1, ""
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def open_value_map(self, key: str) -> None:
        self.value_map = key
        try:
            current, _, _ = await asyncio.to_thread(policy.current, ledger_engine(), self.object_type)
        except SQLAlchemyError as exc:
            self.error = ledger_error(exc)
            return
        self._open_value_map(current)

    @rx.event
    @requires(Role.VIEWER)
    async def history_next(self) -> None:
        if self.history_page < self.history_pages:
            self.history_page += 1
            await self._fetch_history()

    @rx.event
    @requires(Role.VIEWER)
    async def history_prev(self) -> None:
        if self.history_page > 1:
            self.history_page -= 1
            await self._fetch_history()

    # -- editing this tab's draft -----------------------------------------------------------------

    def _edit(self, field: str, rule: str | None = None, owner: str | None = None) -> None:
        rows = []
        for row in self.rows:
            if row.field == field:
                new_rule = rule if rule in RULES else row.rule
                new_owner = owner if owner is not None else row.owner
                if new_rule in OWNED and new_owner not in self.systems:
                    new_owner = row.saved_owner if row.saved_owner in self.systems else self.systems[0]
                row = _row(row.field, row.vendors, str(new_rule), new_owner, row.saved_rule, row.saved_owner)
            rows.append(row)
        self.rows = rows

    @rx.event
    @tab_only
    def set_rule(self, field: str, rule: str) -> None:
        self._edit(field, rule=rule)

    @rx.event
    @tab_only
    def set_owner(self, field: str, owner: str) -> None:
        self._edit(field, owner=owner)

    @rx.event
    @tab_only
    def discard_edits(self) -> None:
        self.rows = [_row(r.field, r.vendors, r.saved_rule, r.saved_owner, r.saved_rule, r.saved_owner)
                     for r in self.rows]  # fmt: skip
        self.entries = [ValueEntry(k, v, False) for k, v in self.saved_entries.items()]

    @rx.event
    @tab_only
    def set_entry(self, canonical: str, vendor: str) -> None:
        self.entries = [
            ValueEntry(e.canonical, vendor, vendor != self.saved_entries.get(e.canonical)) if e.canonical == canonical
            else e for e in self.entries
        ]  # fmt: skip

    @rx.event
    @tab_only
    def remove_entry(self, canonical: str) -> None:
        self.entries = [e for e in self.entries if e.canonical != canonical]

    @rx.event
    @tab_only
    def set_new_canonical(self, value: str) -> None:
        self.new_canonical = value

    @rx.event
    @tab_only
    def set_new_vendor(self, value: str) -> None:
        self.new_vendor = value

    @rx.event
    @tab_only
    def add_entry(self) -> EventSpec | None:
        canonical, vendor = self.new_canonical.strip(), self.new_vendor.strip()
        if not canonical or not vendor:
            return rx.toast.error("A value map entry needs both values: Revline's and the system's.")
        kept = [e for e in self.entries if e.canonical != canonical]
        self.entries = sorted([*kept, ValueEntry(canonical, vendor, True)], key=lambda e: e.canonical)
        self.new_canonical = self.new_vendor = ""
        return None

    @rx.event
    @tab_only
    def set_preview_open(self, open_: bool) -> None:
        self.preview_open = bool(open_) and self.preview_open

    # -- preview, save, roll back (admins) --------------------------------------------------------

    def _draft_rules(self) -> list[FieldRule]:
        return [
            FieldRule(row.field, Rule(row.rule), row.owner if row.rule in OWNED else None)
            for row in self.rows
        ]  # fmt: skip

    def _show(
        self, kind: str, title: str, changes: list[str], tally: Tally,
        spelling: dict[str, tuple[str, str]] | None = None,
    ) -> None:  # fmt: skip
        """Open the preview; `spelling` (value maps): canonical value -> its old and new spelling, shown instead."""
        self.preview_kind, self.preview_title, self.preview_changes = kind, title, changes
        self.preview_counts = [
            f"{system}: {n} record{'s' if n != 1 else ''}" for system, n in sorted(tally.records.items())
        ]
        self.preview_total, self.preview_scanned = tally.total, tally.scanned
        shown = [
            spelling.get(str(e.after), (_shown(e.before), _shown(e.after))) if spelling else
            (_shown(e.before), _shown(e.after)) for e in tally.examples
        ]  # fmt: skip
        self.preview_examples = [
            ExampleView(e.canonical_id, e.label or e.canonical_id, e.system, e.field, before, after)
            for e, (before, after) in zip(tally.examples, shown, strict=True)
        ]
        self.preview_open = True

    @rx.event
    @requires(Role.ADMIN)
    async def preview(self) -> EventSpec | None:
        """Show what saving the edited rules would overwrite, before anything is saved."""
        if not self.edited:
            return rx.toast.info("No rule is edited: change a rule or an owner first.")
        try:
            found = await asyncio.to_thread(policy.preview_rules, ledger_engine(), self.object_type,
                                            self._draft_rules())  # fmt: skip
        except ValueError as exc:
            return rx.toast.error(str(exc))
        except SQLAlchemyError as exc:
            return rx.toast.error(ledger_error(exc))
        self._show("rules", f"Save the {self.object_type} rules as v{self.rule_version + 1}?",
                   [c.describe() for c in found.changes], found.tally)  # fmt: skip
        return None

    @rx.event
    @requires(Role.ADMIN)
    async def preview_values(self) -> EventSpec | None:
        """Show which records saving the edited value map writes again, before anything is saved."""
        if not self.value_map or not self.values_edited:
            return rx.toast.info("No value is edited.")
        system, name = self.value_map.split(".", 1)
        values = {e.canonical: e.vendor for e in self.entries}
        try:
            found = await asyncio.to_thread(policy.preview_values, ledger_engine(), system, self.object_type, name,
                                            values)  # fmt: skip
        except ValueError as exc:
            return rx.toast.error(str(exc))
        except SQLAlchemyError as exc:
            return rx.toast.error(ledger_error(exc))
        spelling = {c.value: (c.before or "(none)", c.after or "(none)") for c in found.changes}
        self._show("values", f"Save the {system} values of {self.object_type} {name}?",
                   [c.describe() for c in found.changes], found.tally, spelling)  # fmt: skip
        return None

    @rx.event
    @requires(Role.ADMIN)
    async def preview_restore(self, change_id: int) -> EventSpec | None:
        """Show what rolling back to the version a history entry saved would change."""
        try:
            entry, changes, tally = await asyncio.to_thread(policy.preview_roll_back, ledger_engine(), int(change_id))
        except ValueError as exc:
            return rx.toast.error(str(exc))
        except SQLAlchemyError as exc:
            return rx.toast.error(ledger_error(exc))
        self.restore_id = int(change_id)
        self._show("restore", f"Roll the {self.object_type} {entry.kind} back to v{entry.version}?", changes, tally)
        return None

    @rx.event
    @requires(Role.ADMIN)
    async def confirm(self) -> EventSpec:
        """Save what the preview showed, as a new version (audited); the workers follow it at once."""
        engine, actor = ledger_engine(), self._acting_user
        try:
            if self.preview_kind == "rules":
                version, tally = await asyncio.to_thread(policy.change_rules, engine, self.object_type,
                                                         self._draft_rules(), actor)  # fmt: skip
                message = f"Saved the {self.object_type} rules as v{version}"
            elif self.preview_kind == "values":
                system, name = self.value_map.split(".", 1)
                values = {e.canonical: e.vendor for e in self.entries}
                version, tally = await asyncio.to_thread(policy.save_values, engine, system, self.object_type, name,
                                                         values, actor)  # fmt: skip
                message = f"Saved the {system} values of {name} as mapping v{version}"
            elif self.preview_kind == "restore":
                entry, version, tally = await asyncio.to_thread(policy.roll_back, engine, self.restore_id, actor)
                message = f"Rolled the {entry.kind} back to v{entry.version}, saved as v{version}"
            else:
                return rx.toast.error("Nothing to save: preview a change first.")
        except ValueError as exc:
            return rx.toast.error(str(exc))
        except SQLAlchemyError as exc:
            return rx.toast.error(ledger_error(exc))
        self.preview_open, self.preview_kind, self.history_page = False, "", 1
        await self._fetch()
        written = _writes(tally.records)
        tail = "nothing to overwrite" if not tally.records else f"{tally.total} writes queued ({written})"
        return rx.toast.success(f"{message}: {tail}; the workers follow it from their next run.")

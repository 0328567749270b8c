"""State of the Connections page: each system's address, settings, which secrets are set, health; admins
test a connection and edit it (a blank secret keeps the stored one; stored secrets never reach the page)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import reflex as rx
from reflex_base.event import EventSpec
from sqlalchemy.exc import SQLAlchemyError

from connectors import FORM_FIELDS, build_one
from console.state.session import GuardedState, requires, tab_only
from console.state.views import ago, iso, ledger_error, quota_text
from sync_core.domain.access import Role
from sync_core.domain.connections import FAILING, HEALTHY, health
from sync_core.services import connections, ledger_engine

ADDRESS_SETTINGS = ("base_url", "url", "login_url", "address")  # the one shown as the connection's address
HEALTH_COLORS = {HEALTHY: "green", FAILING: "red"}


@dataclass(frozen=True)
class SettingView:
    key: str
    value: str


@dataclass(frozen=True)
class ConnectionView:
    """One row of the Connections table: never a secret's value."""

    name: str
    kind: str
    address: str
    settings: list[SettingView]
    secrets: list[str]  # names of the secrets set
    secrets_note: str
    health: str
    health_color: str
    check_ok: bool
    check_message: str
    checked: str
    checked_at: str
    lanes: str
    last_success: str
    last_success_at: str
    calls: str
    window: str
    daily: str


@dataclass(frozen=True)
class FormField:
    """One field of the edit dialog; a secret's value is only ever what the person typed in this dialog."""

    key: str
    value: str
    secret: bool
    is_set: bool


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _view(row: connections.ConnectionStatus, now: datetime) -> ConnectionView:
    address = next((str(row.settings[key]) for key in ADDRESS_SETTINGS if row.settings.get(key)), "")
    state = health(row.check_ok, row.lanes_failing, row.last_success_at)
    usage = row.usage
    lanes = f"{row.lanes} lanes" + (f", {row.lanes_failing} failing" if row.lanes_failing else "")
    return ConnectionView(
        name=row.name, kind=row.kind, address=address,
        settings=[SettingView(k, _text(v)) for k, v in sorted(row.settings.items())],
        secrets=list(row.secret_names),
        secrets_note="set, but this console has no key to name them" if row.secrets_unreadable else "",
        health=state, health_color=HEALTH_COLORS.get(state, "gray"), check_ok=bool(row.check_ok),
        check_message=row.check_message or "Not tested yet.",
        checked=f"{ago(row.checked_at, now)} by {row.checked_by}" if row.checked_at else "",
        checked_at=iso(row.checked_at), lanes=lanes,
        last_success=ago(row.last_success_at, now), last_success_at=iso(row.last_success_at),
        calls=f"{usage.calls:,}" if usage else "0",
        window=quota_text(usage.window_remaining, usage.window_limit, usage.window_seconds) if usage else "—",
        daily=quota_text(usage.daily_remaining, usage.daily_limit) if usage else "—",
    )  # fmt: skip


def _form(row: ConnectionView) -> list[FormField]:
    offered, secret_names = FORM_FIELDS.get(row.kind, ((), ()))
    values = {setting.key: setting.value for setting in row.settings}
    keys = list(dict.fromkeys([*offered, *sorted(values)]))
    secrets = list(dict.fromkeys([*secret_names, *row.secrets]))
    return [FormField(key, values.get(key, ""), False, key in values) for key in keys] + [
        FormField(name, "", True, name in row.secrets) for name in secrets
    ]


class ConnectionsState(GuardedState):
    """The connections (a handful: no paging needed) and the edit dialog's form."""

    rows: rx.Field[list[ConnectionView]] = rx.field(default_factory=list)
    error: rx.Field[str] = rx.field("")
    loaded: rx.Field[bool] = rx.field(False)
    editing: rx.Field[str] = rx.field("")
    form: rx.Field[list[FormField]] = rx.field(default_factory=list)
    form_error: rx.Field[str] = rx.field("")

    async def _fetch(self) -> None:
        try:
            found = await asyncio.to_thread(connections.list_connections, ledger_engine(), connections.secret_key())
        except SQLAlchemyError as exc:
            self.error = ledger_error(exc)
            return
        now = datetime.now(UTC)
        self.error, self.loaded = "", True
        self.rows = [_view(row, now) for row in found]

    @rx.event
    @requires(Role.VIEWER)
    async def on_load(self) -> None:
        self._close()
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def refresh(self) -> None:
        await self._fetch()

    @rx.event
    @requires(Role.ADMIN)
    async def test(self, name: str) -> EventSpec:
        """Run the connection's check (a call or two to the system) and say what it found."""
        name = str(name)
        try:
            result = await asyncio.to_thread(
                connections.test, ledger_engine(), name, connections.secret_key(), build_one, self._acting_user
            )
        except ValueError as exc:
            return rx.toast.error(str(exc), id="connection-test")
        except SQLAlchemyError as exc:
            return rx.toast.error(ledger_error(exc), id="connection-test")
        await self._fetch()
        if result.ok:
            return rx.toast.success(f"{name}: {result.message}", id="connection-test")
        return rx.toast.error(f"{name}: {result.message}", id="connection-test")

    @rx.event
    @tab_only
    def open_edit(self, name: str) -> None:
        row = next((row for row in self.rows if row.name == name), None)
        self.editing = row.name if row else ""
        self.form = _form(row) if row else []
        self.form_error = ""

    @rx.event
    @tab_only
    def set_field(self, key: str, value: str) -> None:
        self.form = [FormField(f.key, value, f.secret, f.is_set) if f.key == key else f for f in self.form]
        self.form_error = ""

    @rx.event
    @tab_only
    def set_dialog_open(self, is_open: bool) -> None:
        if not is_open:
            self._close()

    def _close(self) -> None:
        self.editing, self.form, self.form_error = "", [], ""  # typed secrets leave the tab's state too

    @rx.event
    @requires(Role.ADMIN)
    async def save(self) -> EventSpec | None:
        """Save the dialog: settings as typed, secrets only where something was typed."""
        name = self.editing
        settings = {f.key: f.value for f in self.form if not f.secret}
        secrets = {f.key: f.value for f in self.form if f.secret}
        try:
            edit = await asyncio.to_thread(
                connections.edit, ledger_engine(), name, settings, secrets, connections.secret_key(), self._acting_user
            )
        except ValueError as exc:
            self.form_error = str(exc)
            return None
        except SQLAlchemyError as exc:
            self.form_error = ledger_error(exc)
            return None
        self._close()
        await self._fetch()
        if not edit.changed:
            return rx.toast.info(f"{name}: nothing changed.", id="connection-saved")
        parts = []
        if edit.settings:
            parts.append("changed " + ", ".join(edit.settings))
        if edit.secrets:
            parts.append("replaced the secret " + ", ".join(edit.secrets))
        return rx.toast.success(
            f"Saved {name}: {'; '.join(parts)}. Workers use it from their next start; test it to be sure.",
            id="connection-saved",
        )

"""The Connections page (`/connections`): each system's address and settings, which secrets are set (never
their values), its health (last test, lanes, last successful run, API usage); admins test and edit."""

# Reflex's component packages ship no py.typed marker, so to mypy every rx.<component>(...) is Any.

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from console.components.layout import error_callout, page
from console.state.connections import ConnectionsState, ConnectionView, FormField, SettingView
from console.state.session import SessionState

REFRESH_MS = 5000
ADMINS_ONLY = "Only admins test and change connections"

COLUMNS = ("Connection", "Settings", "Secrets", "Health", "Last test", "Lanes", "API usage", "")


def _setting(setting: ObjectVar[SettingView]) -> rx.Component:
    return rx.text(rx.text.span(setting.key, color_scheme="gray"), " ", setting.value, size="1")


def _row(row: ObjectVar[ConnectionView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.text(row.name, weight="medium"),
            rx.badge(row.kind, variant="surface", size="1"),
            rx.text(row.address, size="1", color_scheme="gray", id=f"connection-address-{row.name}"),
        ),
        rx.table.cell(rx.vstack(rx.foreach(row.settings, _setting), spacing="0"), max_width="280px"),
        rx.table.cell(
            rx.flex(
                rx.foreach(row.secrets, lambda secret: rx.badge(rx.icon("lock", size=10), secret, " set",
                                                                 variant="soft", color_scheme="gray", size="1")),
                rx.cond((row.secrets.length() == 0) & (row.secrets_note == ""),
                        rx.text("none", size="1", color_scheme="gray")),
                rx.cond(row.secrets_note != "", rx.text(row.secrets_note, size="1", color_scheme="gray")),
                wrap="wrap",
                style={"gap": "4px"},
                id=f"connection-secrets-{row.name}",
            ),
        ),
        rx.table.cell(
            rx.badge(row.health, color_scheme=row.health_color, variant="soft", id=f"connection-health-{row.name}")
        ),
        rx.table.cell(
            rx.text(row.check_message, size="1", color_scheme=rx.cond(row.check_ok, "green", "gray"),
                    id=f"connection-check-{row.name}"),
            rx.text(row.checked, size="1", color_scheme="gray", title=row.checked_at),
            max_width="300px",
        ),
        rx.table.cell(
            rx.text(row.lanes, size="1", id=f"connection-lanes-{row.name}"),
            rx.text("last success ", row.last_success, size="1", color_scheme="gray", title=row.last_success_at,
                    id=f"connection-success-{row.name}"),
        ),
        rx.table.cell(
            rx.text(row.calls, " calls", size="1"),
            rx.text("window: ", row.window, size="1", color_scheme="gray"),
            rx.text("daily: ", row.daily, size="1", color_scheme="gray"),
        ),
        rx.table.cell(
            rx.hstack(
                rx.button(rx.icon("plug-zap", size=14), "Test", size="1",
                          on_click=ConnectionsState.test(row.name),  # type: ignore[operator]
                          disabled=~SessionState.can_admin, title=rx.cond(SessionState.can_admin, "", ADMINS_ONLY),
                          id=f"test-{row.name}"),
                rx.button(rx.icon("pencil", size=14), "Edit", size="1", variant="soft", color_scheme="gray",
                          on_click=ConnectionsState.open_edit(row.name),  # type: ignore[operator]
                          disabled=~SessionState.can_admin, title=rx.cond(SessionState.can_admin, "", ADMINS_ONLY),
                          id=f"edit-{row.name}"),
                spacing="2",
            )
        ),
        id=f"connection-row-{row.name}",
        align="center",
    )


def _field(field: ObjectVar[FormField]) -> rx.Component:
    return rx.vstack(
        rx.text(field.key, rx.cond(field.secret, " (secret)", ""), size="2", weight="medium"),
        rx.input(
            value=field.value,
            on_change=lambda value: ConnectionsState.set_field(field.key, value),  # type: ignore[operator]
            type=rx.cond(field.secret, "password", "text"),
            placeholder=rx.cond(
                field.secret, rx.cond(field.is_set, "set: leave blank to keep it", "not set"), "not set"
            ),
            auto_complete="off",
            width="100%",
            id=f"field-{field.key}",
        ),
        spacing="1",
        width="100%",
    )


def _edit_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Edit ", ConnectionsState.editing),
            rx.dialog.description(
                "Stored secrets are never shown: leave a secret blank to keep it, type one to replace it. A blank "
                "setting is removed. Saving is audited (secret names only).", size="2",
            ),
            rx.vstack(rx.foreach(ConnectionsState.form, _field), spacing="3", margin_top="12px", width="100%"),
            rx.cond(ConnectionsState.form_error != "",
                    rx.text(ConnectionsState.form_error, size="2", color_scheme="red", id="connection-form-error")),
            rx.hstack(
                rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.button("Save", on_click=ConnectionsState.save, id="connection-save"),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
        ),
        open=ConnectionsState.editing != "",
        on_open_change=ConnectionsState.set_dialog_open,
    )


def connections() -> rx.Component:
    return page(
        "connections",
        "Connections",
        error_callout(ConnectionsState.error),
        rx.table.root(
            rx.table.header(rx.table.row(*(rx.table.column_header_cell(name) for name in COLUMNS))),
            rx.table.body(rx.foreach(ConnectionsState.rows, _row)),
            variant="surface",
            size="1",
            width="100%",
            id="connections-table",
        ),
        rx.cond(
            ConnectionsState.loaded & (ConnectionsState.rows.length() == 0),
            rx.text("No connections are saved in the ledger.", color_scheme="gray", id="connections-empty"),
        ),
        _edit_dialog(),
        rx.moment(interval=REFRESH_MS, on_change=ConnectionsState.refresh, display="none"),
    )

"""The Schedules page (`/schedules`): every schedule's interval, next run, last run and outcome; admins
pause, resume, change the interval or run one now, and the running workers follow within seconds."""

# Reflex's component packages ship no py.typed marker, so to mypy every rx.<component>(...) is Any.

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from console.components.layout import ELLIPSIS, error_callout, page
from console.state.schedules import SchedulesState, ScheduleView
from console.state.session import SessionState

REFRESH_MS = 2000
ADMINS_ONLY = "Only admins change schedules"

COLUMNS = ("Schedule", "Interval", "State", "Next run", "Last run", "Outcome", "Last failure", "Changed", "")


def _pause(row: ObjectVar[ScheduleView]) -> rx.Component:
    """Pause, confirmed first: what stops until someone resumes it."""
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(rx.icon("pause", size=14), "Pause", size="1", variant="soft", color_scheme="amber",
                      disabled=~SessionState.can_admin,
                      title=rx.cond(SessionState.can_admin, "", ADMINS_ONLY), id=f"pause-{row.name}"),
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Pause ", row.name, "?"),
            rx.alert_dialog.description(
                rx.text(
                    "No worker fires ", rx.text.span(row.name, weight="bold"), " until someone resumes it: ",
                    row.about, " That stops within a few seconds on every worker; Run now still works.",
                )
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button("Pause", color_scheme="amber", on_click=SchedulesState.pause(row.name),  # type: ignore[operator]
                              id=f"pause-confirm-{row.name}"),
                ),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
        ),
    )


def _actions(row: ObjectVar[ScheduleView]) -> rx.Component:
    return rx.hstack(
        rx.cond(
            row.paused,
            rx.button(rx.icon("play", size=14), "Resume", size="1", color_scheme="green",
                      on_click=SchedulesState.resume(row.name),  # type: ignore[operator]
                      disabled=~SessionState.can_admin, title=rx.cond(SessionState.can_admin, "", ADMINS_ONLY),
                      id=f"resume-{row.name}"),
            _pause(row),
        ),
        rx.button(rx.icon("zap", size=14), "Run now", size="1", variant="soft",
                  on_click=SchedulesState.run_now(row.name),  # type: ignore[operator]
                  disabled=~SessionState.can_admin | (row.requested != ""),
                  title=rx.cond(SessionState.can_admin, "Fire once now, on one worker", ADMINS_ONLY),
                  id=f"run-now-{row.name}"),
        rx.button(rx.icon("timer", size=14), "Interval", size="1", variant="soft", color_scheme="gray",
                  on_click=SchedulesState.open_interval(row.name),  # type: ignore[operator]
                  disabled=~SessionState.can_admin, title=rx.cond(SessionState.can_admin, "", ADMINS_ONLY),
                  id=f"interval-{row.name}"),
        spacing="2",
    )


def _row(row: ObjectVar[ScheduleView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.text(row.name, weight="medium"),
            rx.text(row.about, size="1", color_scheme="gray"),
            rx.cond(row.requested != "", rx.text(row.requested, size="1", color_scheme="indigo",
                                                 id=f"schedule-requested-{row.name}")),
            max_width="260px",
        ),
        rx.table.cell(rx.text(row.interval, id=f"schedule-interval-{row.name}")),
        rx.table.cell(
            rx.badge(rx.cond(row.paused, "paused", "running"), color_scheme=rx.cond(row.paused, "amber", "green"),
                     variant="soft", id=f"schedule-state-{row.name}"),
        ),
        rx.table.cell(rx.text(row.next_run, title=row.next_run_at, id=f"schedule-next-{row.name}")),
        rx.table.cell(
            rx.text(row.last_run, title=row.last_run_at, id=f"schedule-last-{row.name}"),
            rx.text(row.last_how, size="1", color_scheme="gray", id=f"schedule-how-{row.name}"),
        ),
        rx.table.cell(
            rx.cond(
                row.last_outcome != "",
                rx.badge(row.last_outcome, color_scheme=rx.cond(row.last_outcome == "ok", "green", "red"),
                         variant="soft", id=f"schedule-outcome-{row.name}"),
                rx.text("not run yet", size="1", color_scheme="gray", id=f"schedule-outcome-{row.name}"),
            ),
            rx.cond(row.last_error != "", rx.text(row.last_error, size="1", color_scheme="red", title=row.last_error,
                                                  style=ELLIPSIS)),
            max_width="220px",
        ),
        rx.table.cell(
            rx.text(row.last_failure, size="1", id=f"schedule-failure-{row.name}"),
            rx.cond(row.last_failure_error != "", rx.text(row.last_failure_error, size="1", color_scheme="red",
                                                          title=row.last_failure_error, style=ELLIPSIS)),
            max_width="220px",
        ),
        rx.table.cell(rx.text(row.updated, size="1", color_scheme="gray")),
        rx.table.cell(_actions(row)),
        id=f"schedule-row-{row.name}",
        align="center",
    )


def _interval_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Interval of ", SchedulesState.editing),
            rx.dialog.description(
                "Seconds, or a number with s, m, h or d (90, 5m, 2h, 1d). Every worker fires it on the new "
                "interval from its next look at the table, within seconds.", size="2",
            ),
            rx.vstack(
                rx.input(value=SchedulesState.interval_input, on_change=SchedulesState.set_interval_input,
                         placeholder="e.g. 5m", id="interval-input", width="200px"),
                rx.text(SchedulesState.interval_preview, size="1", color_scheme="gray", id="interval-preview"),
                rx.cond(SchedulesState.interval_error != "",
                        rx.text(SchedulesState.interval_error, size="2", color_scheme="red", id="interval-error")),
                spacing="2",
                margin_top="12px",
            ),
            rx.hstack(
                rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.button("Save interval", on_click=SchedulesState.save_interval, id="interval-save"),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
        ),
        open=SchedulesState.editing != "",
        on_open_change=SchedulesState.set_dialog_open,
    )


def schedules() -> rx.Component:
    return page(
        "schedules",
        "Schedules",
        error_callout(SchedulesState.error),
        rx.text(
            "Every worker runs these schedules and fires each once across all workers. Changes here reach the "
            "running workers within seconds.", size="2", color_scheme="gray",
        ),
        rx.table.root(
            rx.table.header(rx.table.row(*(rx.table.column_header_cell(name) for name in COLUMNS))),
            rx.table.body(rx.foreach(SchedulesState.rows, _row)),
            variant="surface",
            size="1",
            width="100%",
            id="schedules-table",
        ),
        rx.cond(
            SchedulesState.loaded & (SchedulesState.rows.length() == 0),
            rx.text("No schedules yet: they appear when a worker starts.", color_scheme="gray", id="schedules-empty"),
        ),
        _interval_dialog(),
        rx.moment(interval=REFRESH_MS, on_change=SchedulesState.refresh, display="none"),
    )

"""The Runs page (`/runs`): sync runs newest first, 25 a page, paged in SQL."""

# Reflex's component packages ship no py.typed marker, so to mypy every rx.<component>(...) is Any.

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from console.components.layout import ELLIPSIS, error_callout, page
from console.components.pager import pager
from console.state.runs import RunsState
from console.state.views import PassView, RunView

REFRESH_MS = 5000

COLUMNS = (
    "Run",
    "Lane",
    "Status",
    "Started",
    "Duration",
    "Read",
    "Planned",
    "Done",
    "Retried",
    "Dead",
    "API",
)


def status_badge(status: rx.Var[str]) -> rx.Component:
    color = rx.match(
        status, ("ok", "green"), ("done", "green"), ("running", "blue"), ("failed", "red"), ("fenced", "amber"), "gray"
    )
    return rx.badge(status, color_scheme=color, variant="soft")


def _run_row(run: ObjectVar[RunView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text("#", run.id.to_string(), size="1", color_scheme="gray")),
        rx.table.cell(rx.text(run.lane, weight="medium"), rx.text(run.worker, size="1", color_scheme="gray")),
        rx.table.cell(status_badge(run.status)),
        rx.table.cell(rx.text(run.started, title=run.started_at)),
        rx.table.cell(run.duration),
        rx.table.cell(run.records_read),
        rx.table.cell(run.ops_planned),
        rx.table.cell(run.ops_done),
        rx.table.cell(run.ops_retried),
        rx.table.cell(run.ops_dead),
        rx.table.cell(run.api_calls),
        rx.table.cell(
            rx.text(run.error, size="1", color_scheme="red", title=run.error, style=ELLIPSIS),
            max_width="280px",
        ),
        id=f"run-row-{run.id}",
    )


PASS_COLUMNS = ("Pass", "Mode", "Status", "Started", "Duration", "Lanes", "Read", "Opened", "Closed", "Heals", "API")


def _pass_row(run: ObjectVar[PassView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text("#", run.id.to_string(), size="1", color_scheme="gray")),
        rx.table.cell(rx.text(run.mode, weight="medium"), rx.text(run.started_by, size="1", color_scheme="gray")),
        rx.table.cell(status_badge(run.status)),
        rx.table.cell(rx.text(run.started, title=run.started_at)),
        rx.table.cell(run.duration),
        rx.table.cell(run.lanes),
        rx.table.cell(run.records_read),
        rx.table.cell(run.opened),
        rx.table.cell(run.closed),
        rx.table.cell(run.heals),
        rx.table.cell(run.api_calls),
        id=f"pass-row-{run.id}",
    )


def runs() -> rx.Component:
    return page(
        "runs",
        "Sync runs",
        error_callout(RunsState.error),
        rx.cond(
            RunsState.lane_id > 0,
            rx.hstack(
                rx.badge("Lane #", RunsState.lane_id.to_string(), variant="surface"),
                rx.button(
                    "All lanes", on_click=RunsState.all_lanes, size="1", variant="ghost", id="runs-all-lanes"
                ),
                align="center",
            ),
        ),
        rx.table.root(
            rx.table.header(
                rx.table.row(*(rx.table.column_header_cell(name) for name in (*COLUMNS, "Error")))
            ),
            rx.table.body(rx.foreach(RunsState.rows, _run_row)),
            variant="surface",
            size="1",
            width="100%",
            id="runs-table",
        ),
        rx.cond(
            RunsState.loaded & (RunsState.total == 0),
            rx.text("No runs yet.", color_scheme="gray", id="runs-empty"),
        ),
        pager(
            "runs",
            RunsState.page,
            RunsState.pages,
            RunsState.total,
            RunsState.has_prev,
            RunsState.has_next,
            RunsState.prev_page,
            RunsState.next_page,
            noun="runs",
        ),
        rx.heading("Reconciliation passes", size="4"),
        rx.table.root(
            rx.table.header(rx.table.row(*(rx.table.column_header_cell(name) for name in PASS_COLUMNS))),
            rx.table.body(rx.foreach(RunsState.passes, _pass_row)),
            variant="surface",
            size="1",
            width="100%",
            id="passes-table",
        ),
        rx.cond(
            RunsState.loaded & (RunsState.passes.length() == 0),
            rx.text("No reconciliation pass yet.", color_scheme="gray", id="passes-empty"),
        ),
        rx.moment(interval=REFRESH_MS, on_change=RunsState.refresh, display="none"),
    )

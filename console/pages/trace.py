"""The Trace page (`/trace`): one deal's way from a HubSpot contact to cash, hop by hop."""

# Reflex's component packages ship no py.typed marker, so to mypy every rx.<component>(...) is Any.

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from console.components.layout import error_callout, page
from console.state.trace import HopView, KeyView, StepView, TraceState

REFRESH_MS = 5000


def _search() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(
                placeholder="Email, company, Salesforce or HubSpot id, order or invoice number, correlation id",
                value=TraceState.query,
                on_change=TraceState.set_query,
                width="520px",
                id="trace-query",
            ),
            rx.button(rx.icon("search", size=14), "Find", type="submit", id="trace-find"),
            spacing="2",
        ),
        on_submit=lambda _: TraceState.search,
    )


def _match(correlation_id: rx.Var[str]) -> rx.Component:
    chosen = TraceState.chosen == correlation_id
    return rx.button(
        rx.code(correlation_id, variant="ghost"),
        on_click=TraceState.choose(correlation_id),  # type: ignore[operator]
        variant=rx.cond(chosen, "solid", "soft"),
        color_scheme=rx.cond(chosen, "indigo", "gray"),
        size="1",
    )


def _step(step: ObjectVar[StepView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(step.at, title=step.at_iso, size="1")),
        rx.table.cell(rx.text(step.label, weight="medium"), rx.text(step.name, size="1", color_scheme="gray")),
        rx.table.cell(rx.badge(step.system, variant="surface")),
        rx.table.cell(rx.badge(step.status, color_scheme=step.color, variant="soft", class_name="step-status")),
        rx.table.cell(rx.text(step.error, size="2", title=step.error), max_width="360px"),
        rx.table.cell(
            rx.cond(
                step.dead_letter_href != "",
                rx.link("Repair #", step.dead_letter.to_string(), href=step.dead_letter_href, size="2"),
            )
        ),
        class_name="trace-step",
        data_name=step.name,
        align="center",
    )


def _hop(hop: ObjectVar[HopView]) -> rx.Component:
    return rx.card(
        rx.text(hop.label, size="1", color_scheme="gray"),
        rx.heading(hop.seconds, size="5"),
        class_name="trace-hop",
    )


def _key(key: ObjectVar[KeyView]) -> rx.Component:
    return rx.hstack(rx.text(key.kind, size="1", color_scheme="gray", width="110px"), rx.text(key.text, size="2"))


def trace_page() -> rx.Component:
    return page(
        "trace",
        "Trace",
        error_callout(TraceState.error),
        _search(),
        rx.cond(
            TraceState.matches.length() > 1,
            rx.flex(rx.foreach(TraceState.matches, _match), wrap="wrap", style={"gap": "6px"}, id="trace-matches"),
        ),
        rx.cond(
            TraceState.chosen != "",
            rx.vstack(
                rx.hstack(rx.text("Correlation id", size="1", color_scheme="gray"),
                          rx.code(TraceState.chosen, id="trace-correlation")),
                rx.vstack(rx.foreach(TraceState.keys, _key), spacing="1"),
                rx.flex(rx.foreach(TraceState.hops, _hop), wrap="wrap", style={"gap": "12px"}, id="trace-hops"),
                rx.table.root(
                    rx.table.header(rx.table.row(*(rx.table.column_header_cell(n) for n in
                                                   ("When", "Step", "System", "Status", "Error", "")))),
                    rx.table.body(rx.foreach(TraceState.steps, _step)),
                    variant="surface", size="1", width="100%", id="trace-timeline",
                ),
                spacing="4",
                width="100%",
            ),
            rx.cond(
                TraceState.searched,
                rx.text("No deal matches that. Try an email, an order number or a record id.", color_scheme="gray",
                        id="trace-empty"),
            ),
        ),
        rx.moment(interval=REFRESH_MS, on_change=TraceState.refresh, display="none"),
    )

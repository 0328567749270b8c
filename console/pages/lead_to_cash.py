"""The Lead-to-cash page (`/lead-to-cash`): for executives, a period's funnel from contact to cash, how
long each hop took against its target, the revenue at risk now, and the trends by day."""

# Reflex's component packages ship no py.typed marker, so to mypy every rx.<component>(...) is Any.

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from console.components.layout import error_callout, page
from console.state.revenue import PERIODS, CycleView, LeadToCashState, StepView

REFRESH_MS = 30000
PLOT_CONFIG = {"displayModeBar": False, "responsive": True}


def _step_card(step: ObjectVar[StepView]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(step.label, size="2", color_scheme="gray"),
            rx.heading(step.count, size="7", id=f"funnel-{step.key}"),
            rx.text(step.rate, size="1", color_scheme="gray", id=f"funnel-rate-{step.key}"),
            spacing="1",
        ),
        min_width="150px",
        id=f"funnel-card-{step.key}",
    )


def _cycle_row(cycle: ObjectVar[CycleView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(cycle.label, weight="medium")),
        rx.table.cell(cycle.target),
        rx.table.cell(cycle.count),
        rx.table.cell(cycle.p50),
        rx.table.cell(cycle.p95),
        rx.table.cell(rx.badge(cycle.attainment, color_scheme=cycle.color, variant="soft", size="2",
                               id=f"attainment-{cycle.hop}")),
        id=f"cycle-row-{cycle.hop}",
    )  # fmt: skip


def _risk_card(label: str, hint: str, count: rx.Var[int], amount: rx.Var[str], key: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(label, size="2", weight="medium"),
            rx.heading(amount, size="7", color_scheme="red", id=f"risk-{key}-amount"),
            rx.text(rx.text.span(count, id=f"risk-{key}-count"), " ", hint, size="1", color_scheme="gray"),
            spacing="1",
        ),
        min_width="240px",
        id=f"risk-{key}",
    )


def _section(title: str, *children: rx.Component, **props: object) -> rx.Component:
    return rx.vstack(rx.heading(title, size="4"), *children, spacing="3", width="100%", **props)


def lead_to_cash() -> rx.Component:
    period = rx.select.root(
        rx.select.trigger(id="period-select"),
        rx.select.content(*(rx.select.item(label, value=key) for key, (label, _) in PERIODS.items())),
        value=LeadToCashState.period,
        on_change=LeadToCashState.set_period,
        size="2",
    )
    cycles = rx.table.root(
        rx.table.header(rx.table.row(*(rx.table.column_header_cell(c) for c in
                                       ("Hop", "Target", "Measured", "Median", "95th percentile", "Within target")))),
        rx.table.body(rx.foreach(LeadToCashState.cycles, _cycle_row)),
        width="100%",
        id="cycle-table",
    )  # fmt: skip
    return page(
        "lead-to-cash",
        "Lead to cash",
        error_callout(LeadToCashState.error),
        _section(
            "Funnel",
            rx.text("Records that reached each step in the period (", LeadToCashState.period_label, ")",
                    size="2", color_scheme="gray"),
            rx.flex(rx.foreach(LeadToCashState.steps, _step_card), wrap="wrap", style={"gap": "12px"},
                    id="funnel-cards"),
            rx.box(rx.plotly.cartesian(data=LeadToCashState.funnel_figure, config=PLOT_CONFIG), width="100%",
                   id="funnel-chart"),
        ),
        _section(
            "Revenue at risk now",
            rx.flex(
                _risk_card("Blocked in repair", "won deals whose order waits for a person", LeadToCashState.held_deals,
                           LeadToCashState.held_amount, "held"),
                _risk_card("Overdue invoices", "invoices past their due date in the ERP",
                           LeadToCashState.overdue_invoices, LeadToCashState.overdue_amount, "overdue"),
                wrap="wrap",
                style={"gap": "12px"},
            ),
            rx.link("Open the repair queue →", href="/repair", size="2"),
        ),
        _section("Cycle times against targets", cycles),
        _section(
            "Trends by day",
            rx.box(rx.plotly.cartesian(data=LeadToCashState.trend_figure, config=PLOT_CONFIG), width="100%",
                   id="trend-chart"),
            rx.cond(
                LeadToCashState.mismatch_at.length() > 0,
                rx.box(
                    rx.text("Open mismatches as each reconciliation pass left them", size="2", color_scheme="gray"),
                    rx.plotly.cartesian(data=LeadToCashState.mismatch_figure, config=PLOT_CONFIG),
                    width="100%",
                    id="mismatch-trend-l2c",
                ),
            ),
        ),
        rx.moment(interval=REFRESH_MS, on_change=LeadToCashState.refresh, display="none"),
        actions=period,
    )  # fmt: skip

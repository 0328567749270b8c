"""The Overview page (`/`): lanes, API budgets, ops by status, dead letters by category, throughput; live every 2 s."""

# Reflex's component packages ship no py.typed marker, so to mypy every rx.<component>(...) is Any.

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from console.components.cards import category_card, stat_card
from console.components.layout import ELLIPSIS, error_callout, page
from console.components.quota import quota_meter
from console.state.overview import AlertView, OverviewState
from console.state.views import ApiUsageView, LaneView

REFRESH_MS = 2000


def state_badge(state: rx.Var[str]) -> rx.Component:
    color = rx.match(
        state, ("running", "blue"), ("paused", "amber"), ("held", "orange"), ("failed", "red"), "gray"
    )
    return rx.badge(state, color_scheme=color, variant="soft")


def _lane_row(lane: ObjectVar[LaneView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.link(lane.label, href=f"/runs?lane={lane.id}", weight="medium", class_name="lane-label"),
        ),
        rx.table.cell(rx.box(state_badge(lane.state), class_name="lane-state")),
        rx.table.cell(rx.text(lane.last_run, title=lane.last_run_at, class_name="lane-last-run")),
        rx.table.cell(rx.text(lane.last_status, class_name="lane-last-status")),
        rx.table.cell(rx.text(lane.pending, class_name="lane-pending")),
        rx.table.cell(rx.text(lane.worker, size="1", color_scheme="gray")),
        rx.table.cell(
            rx.text(lane.last_error, size="1", color_scheme="red", title=lane.last_error, style=ELLIPSIS),
            max_width="320px",
        ),
        id=f"lane-row-{lane.id}",
        data_lane=lane.label,
        data_state=lane.state,
    )


def lane_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                *(
                    rx.table.column_header_cell(name)
                    for name in (
                        "Lane",
                        "State",
                        "Last run",
                        "Last status",
                        "Pending",
                        "Worker",
                        "Last error",
                    )
                )
            )
        ),
        rx.table.body(rx.foreach(OverviewState.lanes, _lane_row)),
        variant="surface",
        size="1",
        width="100%",
        id="lane-table",
    )


def _usage_row(usage: ObjectVar[ApiUsageView]) -> rx.Component:
    system = usage.system
    return rx.table.row(
        rx.table.cell(rx.text(system, weight="medium")),
        rx.table.cell(rx.text(usage.calls, id=f"api-calls-{system}")),
        rx.table.cell(
            quota_meter(
                usage.interval, usage.interval_percent, usage.interval_color, f"api-interval-remaining-{system}"
            )
        ),
        rx.table.cell(
            quota_meter(usage.daily, usage.daily_percent, usage.daily_color, f"api-daily-remaining-{system}")
        ),
        rx.table.cell(
            rx.cond(
                usage.held_until != "",
                rx.badge(
                    "held until ", usage.held_until, color_scheme="orange", variant="soft", title=usage.held_until_at
                ),
                rx.badge("available", color_scheme="green", variant="soft"),
            ),
            id=f"api-held-{system}",
        ),
        rx.table.cell(rx.text(usage.updated, title=usage.updated_at, size="1", color_scheme="gray")),
        id=f"api-usage-{system}",
        data_held=usage.held_until != "",
    )


def api_usage_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                *(
                    rx.table.column_header_cell(name)
                    for name in ("System", "Calls", "Interval quota", "Daily quota", "Quota", "Reported")
                )
            )
        ),
        rx.table.body(rx.foreach(OverviewState.api_usage, _usage_row)),
        variant="surface",
        size="1",
        width="100%",
        id="api-usage-table",
    )


def section(title: str, *children: rx.Component, **props: object) -> rx.Component:
    return rx.vstack(rx.heading(title, size="3"), *children, spacing="3", width="100%", **props)


def _alert(alert: ObjectVar[AlertView]) -> rx.Component:
    return rx.callout(
        alert.message,
        icon="triangle-alert",
        color_scheme=rx.cond(alert.severity == "error", "red", "amber"),
        width="100%",
        class_name="overview-alert",
        data_system=alert.system,
    )


def overview() -> rx.Component:
    return page(
        "overview",
        "Sync health",
        error_callout(OverviewState.error),
        rx.vstack(rx.foreach(OverviewState.alerts, _alert), spacing="2", width="100%", id="overview-alerts"),
        section(
            "Lanes",
            rx.cond(
                OverviewState.lanes.length() > 0,
                lane_table(),
                rx.text(
                    rx.cond(
                        OverviewState.loaded, "No lanes yet: connect a system to start syncing.", "Loading…"
                    ),
                    color_scheme="gray",
                    id="lanes-empty",
                ),
            ),
        ),
        section(
            "API budget",
            rx.cond(
                OverviewState.api_usage.length() > 0,
                api_usage_table(),
                rx.text(
                    rx.cond(OverviewState.loaded, "No API calls recorded yet.", "Loading…"),
                    color_scheme="gray",
                    id="api-usage-empty",
                ),
            ),
        ),
        section(
            "Outbound ops",
            rx.flex(
                rx.foreach(OverviewState.op_cards, lambda card: stat_card(card, "ops-")), gap="3", wrap="wrap"
            ),
        ),
        section(
            "Dead letters by category",
            rx.cond(
                OverviewState.dead_cards.length() > 0,
                rx.flex(rx.foreach(OverviewState.dead_cards, category_card), gap="3", wrap="wrap"),
                rx.text("No dead letters.", color_scheme="gray", id="dead-empty"),
            ),
        ),
        section(
            "Throughput, last hour",
            rx.text(
                rx.text.span(OverviewState.throughput_total, id="throughput-total"),
                " ops written (per minute, UTC)",
                size="2",
                color_scheme="gray",
            ),
            rx.box(
                rx.plotly.cartesian(
                    data=OverviewState.throughput_figure,
                    config={"displayModeBar": False, "responsive": True},
                ),
                width="100%",
                id="throughput-chart",
            ),
        ),
        rx.moment(interval=REFRESH_MS, on_change=OverviewState.refresh, display="none"),
        actions=rx.text(
            "As of ", rx.text.span(OverviewState.as_of, id="as-of"), size="1", color_scheme="gray"
        ),
    )

"""The Dead letters page (`/dead-letters`): failed writes by category, 25 a page, each retryable."""

# Reflex's component packages ship no py.typed marker, so to mypy every rx.<component>(...) is Any.

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from console.components.layout import ELLIPSIS, error_callout, page
from console.components.pager import pager
from console.state.dead_letters import ALL, DeadLettersState
from console.state.session import SessionState
from console.state.views import CountCard, DeadLetterView

REFRESH_MS = 3000


def _chip(key: str | rx.Var[str], label: rx.Var[str] | str, count: rx.Var[int]) -> rx.Component:
    selected = DeadLettersState.category == key
    return rx.button(
        label,
        rx.badge(count, variant="surface", radius="full"),
        on_click=DeadLettersState.set_category(key),  # type: ignore[operator]
        variant=rx.cond(selected, "solid", "soft"),
        color_scheme=rx.cond(selected, "indigo", "gray"),
        size="1",
        id=f"filter-{key}",
    )


def filters() -> rx.Component:
    return rx.flex(
        _chip(ALL, "All", DeadLettersState.all_total),
        rx.foreach(DeadLettersState.categories, lambda card: _category_chip(card)),
        wrap="wrap",
        id="category-filter",
        style={"gap": "8px"},
    )


def _category_chip(card: ObjectVar[CountCard]) -> rx.Component:
    return _chip(card.key, card.label, card.count)


def _row(row: ObjectVar[DeadLetterView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text("#", row.id.to_string(), size="1", color_scheme="gray")),
        rx.table.cell(
            rx.text(row.target, " ", row.object_type, weight="medium"),
            rx.text(row.operation, " from ", row.source, size="1", color_scheme="gray"),
        ),
        rx.table.cell(
            rx.badge(row.category_label, color_scheme="red", variant="soft", class_name="dl-category")
        ),
        rx.table.cell(
            rx.text(row.message, size="2", title=row.message, class_name="dl-message"),
            max_width="320px",
        ),
        rx.table.cell(
            rx.code(row.payload, size="1", variant="ghost", title=row.payload_full, style=ELLIPSIS),
            max_width="300px",
        ),
        rx.table.cell(rx.text(row.attempts, class_name="dl-attempts")),
        rx.table.cell(rx.text(row.updated, title=row.updated_at, size="1")),
        rx.table.cell(
            rx.button(
                rx.icon("rotate-ccw", size=14),
                "Retry",
                on_click=DeadLettersState.retry(row.id),  # type: ignore[operator]
                disabled=~SessionState.can_repair,
                title=rx.cond(SessionState.can_repair, "", "Operators and admins repair records"),
                size="1",
                id=f"retry-{row.id}",
            )
        ),
        id=f"dead-letter-row-{row.id}",
        data_category=row.category,
        align="center",
    )


def dead_letters() -> rx.Component:
    return page(
        "dead-letters",
        "Dead letters",
        error_callout(DeadLettersState.error),
        rx.callout(
            rx.text("The ", rx.link("repair queue", href="/repair", id="dead-letters-to-repair"),
                    " groups these by root cause, with the money at stake, and repairs a whole group at once."),
            icon="wrench", color_scheme="indigo", size="1",
        ),
        filters(),
        rx.heading(DeadLettersState.category_title, size="3", id="dead-letters-category"),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *(
                        rx.table.column_header_cell(name)
                        for name in ("Op", "Target", "Category", "Error", "Payload", "Attempts", "Failed", "")
                    )
                )
            ),
            rx.table.body(rx.foreach(DeadLettersState.rows, _row)),
            variant="surface",
            size="1",
            width="100%",
            id="dead-letter-table",
        ),
        rx.cond(
            DeadLettersState.loaded & (DeadLettersState.total == 0),
            rx.text("Nothing to repair here.", color_scheme="gray", id="dead-letters-empty"),
        ),
        pager(
            "dead-letters",
            DeadLettersState.page,
            DeadLettersState.pages,
            DeadLettersState.total,
            DeadLettersState.has_prev,
            DeadLettersState.has_next,
            DeadLettersState.prev_page,
            DeadLettersState.next_page,
            noun="dead letters",
        ),
        rx.moment(interval=REFRESH_MS, on_change=DeadLettersState.refresh, display="none"),
    )

"""Previous / next paging with the page number and the total, for SQL-paged tables."""

# Reflex's component packages ship no py.typed marker, so to mypy every rx.<component>(...) is Any.

from __future__ import annotations

from typing import Any

import reflex as rx


def pager(
    prefix: str,
    page: rx.Var[int],
    pages: rx.Var[int],
    total: rx.Var[int],
    has_prev: rx.Var[bool],
    has_next: rx.Var[bool],
    on_prev: Any,
    on_next: Any,
    noun: str = "rows",
) -> rx.Component:
    """Buttons `<prefix>-prev` / `<prefix>-next` around "page X of Y", and "N <noun>" (`<prefix>-total`)."""
    return rx.hstack(
        rx.text(rx.text.span(total, id=f"{prefix}-total"), f" {noun}", size="2", color_scheme="gray"),
        rx.spacer(),
        rx.button(
            rx.icon("chevron-left", size=16),
            "Prev",
            on_click=on_prev,
            disabled=~has_prev,
            variant="soft",
            id=f"{prefix}-prev",
        ),
        rx.text("Page ", page, " of ", pages, size="2", id=f"{prefix}-page"),
        rx.button(
            "Next",
            rx.icon("chevron-right", size=16),
            on_click=on_next,
            disabled=~has_next,
            variant="soft",
            id=f"{prefix}-next",
        ),
        align="center",
        width="100%",
        spacing="3",
    )

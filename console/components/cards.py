"""Count cards: ops by status and dead letters by category, the sync-health tiles of the overview."""

# Reflex's component packages ship no py.typed marker, so to mypy every rx.<component>(...) is Any.

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from console.state.views import CountCard

STATUS_COLORS: dict[str, str] = {
    "pending": "amber",
    "in_flight": "blue",
    "done": "green",
    "dead": "red",
    "discarded": "gray",
}


def stat_card(card: ObjectVar[CountCard], id_prefix: str) -> rx.Component:
    """A label over a big number (`100000+` when counted only that far); the number carries id
    `<id_prefix><key>` for tests and scrapers."""
    return rx.card(
        rx.vstack(
            rx.text(card.label, size="2", color_scheme="gray"),
            rx.heading(card.count, rx.cond(card.more, "+", ""), size="7", id=f"{id_prefix}{card.key}"),
            spacing="1",
        ),
        min_width="140px",
        id=f"{id_prefix}card-{card.key}",
    )


def category_card(card: ObjectVar[CountCard]) -> rx.Component:
    """One dead-letter category: its count and what it means, linking to the filtered list."""
    return rx.link(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.badge(card.label, color_scheme="red", variant="soft"),
                    rx.spacer(),
                    rx.heading(card.count, size="6", id=f"dead-count-{card.key}"),
                    align="center",
                    width="100%",
                ),
                rx.text(card.hint, size="1", color_scheme="gray"),
                rx.text("View records →", size="1", color_scheme="indigo", weight="medium"),
                spacing="2",
                width="100%",
            ),
            width="240px",
            _hover={"box_shadow": "0 2px 8px rgba(0,0,0,0.08)"},
        ),
        href=f"/dead-letters?category={card.key}",
        underline="none",
        id=f"dead-card-{card.key}",
    )

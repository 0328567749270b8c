"""A quota meter: what is left of an API quota as text over a bar (the bar only while the limit is known)."""

# Reflex's component packages ship no py.typed marker, so to mypy every rx.<component>(...) is Any.

from __future__ import annotations

import reflex as rx


def quota_meter(
    text: rx.Var[str], percent: rx.Var[int], color: rx.Var[str], text_id: rx.Var[str] | str
) -> rx.Component:
    """`text` (id `text_id`) over a bar `percent` full; no bar for a negative percent (no limit reported)."""
    return rx.vstack(
        rx.text(text, size="2", id=text_id),
        rx.cond(
            percent.to(int) >= 0,
            rx.progress(value=percent, max=100, color_scheme=color, size="1", width="140px"),
        ),
        spacing="1",
    )

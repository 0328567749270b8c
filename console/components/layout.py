"""The console's frame: a sidebar with the navigation, and the page title above its content."""

# Reflex's component packages ship no py.typed marker, so to mypy every rx.<component>(...) is Any.

from __future__ import annotations

import reflex as rx

from console.state.session import SessionState

NAV: tuple[tuple[str, str, str, str], ...] = (
    # (key, label, route, lucide icon)
    ("overview", "Overview", "/", "layout-dashboard"),
    ("lead-to-cash", "Lead to cash", "/lead-to-cash", "chart-no-axes-combined"),
    ("runs", "Runs", "/runs", "history"),
    # The repair queue supersedes the Dead letters page, which stays for the overview's cards and the trace.
    ("repair", "Repair queue", "/repair", "wrench"),
    ("mismatches", "Mismatches", "/mismatches", "git-compare-arrows"),
    ("trace", "Trace", "/trace", "route"),
    ("ownership", "Field ownership", "/ownership", "shield-check"),
    ("schedules", "Schedules", "/schedules", "calendar-clock"),
    ("connections", "Connections", "/connections", "plug"),
    ("audit", "Audit log", "/audit", "scroll-text"),
)

SIDEBAR_WIDTH = "220px"
# One line, cut with "…": for error messages and payloads in table cells (the full text is in `title`).
ELLIPSIS = {"display": "block", "white_space": "nowrap", "overflow": "hidden", "text_overflow": "ellipsis"}


def _nav_link(key: str, label: str, route: str, icon: str, current: str) -> rx.Component:
    active = key == current
    return rx.link(
        rx.hstack(rx.icon(icon, size=16), rx.text(label, size="2", weight="medium"), spacing="2", align="center"),
        href=route,
        id=f"nav-{key}",
        underline="none",
        color_scheme="gray" if not active else "indigo",
        high_contrast=active,
        padding_x="12px",
        padding_y="8px",
        border_radius="6px",
        width="100%",
        background_color=rx.color("indigo", 3) if active else "transparent",
        _hover={"background_color": rx.color("gray", 3)},
    )


def _signed_in_box() -> rx.Component:
    """Who is signed in, their role, and the way out."""
    return rx.vstack(
        rx.hstack(
            rx.icon("circle-user", size=16, color=rx.color("gray", 10)),
            rx.text(SessionState.user_name, size="2", weight="medium", id="signed-in-user"),
            rx.badge(SessionState.user_role, variant="soft", color_scheme="indigo", id="signed-in-role"),
            align="center",
            spacing="2",
        ),
        rx.button(
            rx.icon("log-out", size=14),
            "Sign out",
            on_click=SessionState.sign_out,
            variant="ghost",
            color_scheme="gray",
            size="1",
            id="sign-out",
        ),
        spacing="1",
        padding_x="12px",
    )


def sidebar(current: str) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.icon("waypoints", size=20, color=rx.color("indigo", 9)),
            rx.heading("Revline", size="4"),
            align="center",
            spacing="2",
            padding_x="12px",
            padding_bottom="16px",
        ),
        *(_nav_link(key, label, route, icon, current) for key, label, route, icon in NAV),
        rx.spacer(),
        _signed_in_box(),
        spacing="1",
        padding="16px 8px",
        height="100vh",
        width=SIDEBAR_WIDTH,
        min_width=SIDEBAR_WIDTH,
        position="sticky",
        top="0",
        border_right=f"1px solid {rx.color('gray', 5)}",
        background_color=rx.color("gray", 2),
        id="sidebar",
    )


def page(current: str, title: str, *children: rx.Component, actions: rx.Component | None = None) -> rx.Component:
    """A page of the console: sidebar on the left, `title` and `children` on the right."""
    header = rx.hstack(
        rx.heading(title, size="6", id="page-title"),
        rx.spacer(),
        actions if actions is not None else rx.fragment(),
        align="center",
        width="100%",
    )
    return rx.hstack(
        sidebar(current),
        rx.box(
            rx.vstack(header, *children, spacing="5", width="100%"),
            padding="24px 32px",
            width="100%",
            min_width="0",
        ),
        spacing="0",
        align="start",
        width="100%",
        min_height="100vh",
    )


def error_callout(message: rx.Var[str]) -> rx.Component:
    """A red banner while the ledger cannot be read; nothing otherwise."""
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle-alert", color_scheme="red", width="100%", id="ledger-error"),
    )

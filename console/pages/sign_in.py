"""The sign-in page (`/sign-in`): a name and a password; every other page sends a stranger here."""

# Reflex's component packages ship no py.typed marker, so to mypy every rx.<component>(...) is Any.

from __future__ import annotations

import reflex as rx

from console.state.session import SessionState


def sign_in_page() -> rx.Component:
    form = rx.form(
        rx.vstack(
            rx.text("Name", size="2", weight="medium"),
            rx.input(name="name", id="sign-in-name", placeholder="Your user name", auto_focus=True, width="100%"),
            rx.text("Password", size="2", weight="medium"),
            rx.input(name="password", id="sign-in-password", type="password", width="100%"),
            rx.cond(
                SessionState.sign_in_error != "",
                rx.callout(SessionState.sign_in_error, icon="triangle-alert", color_scheme="red", id="sign-in-error"),
            ),
            rx.button("Sign in", type="submit", id="sign-in-submit", width="100%"),
            spacing="2",
            width="100%",
        ),
        on_submit=SessionState.sign_in,
        reset_on_submit=False,
        width="100%",
    )
    return rx.center(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.icon("waypoints", size=22, color=rx.color("indigo", 9)),
                    rx.heading("Revline", size="5"),
                    align="center",
                    spacing="2",
                ),
                rx.text("Sign in to the lead-to-cash console.", size="2", color_scheme="gray"),
                form,
                spacing="4",
                width="100%",
            ),
            width="360px",
            padding="24px",
        ),
        min_height="100vh",
        background_color=rx.color("gray", 2),
    )

"""Reflex configuration of the Revline console; the ledger comes from REVLINE_DATABASE_URL, not here."""

import reflex as rx

config = rx.Config(
    app_name="console",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)

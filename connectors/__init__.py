"""Connectors to external systems, one folder per vendor, listed in REGISTRY."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sync_core.ports import Connector
from sync_core.testing import InMemoryConnector, connect_systems

ConnectorFactory = Callable[[str, Mapping[str, Any]], Connector]
"""Builds the connector of one connection from its name and settings."""


def _memory(name: str, settings: Mapping[str, Any]) -> Connector:
    """An in-memory system served by `revline demo` (or a test) at settings['address']."""
    host, port = str(settings["address"]).rsplit(":", 1)
    system = connect_systems((host, int(port)))(str(settings.get("system", name)))
    return InMemoryConnector(system, max_batch_size=int(settings.get("batch_size", 100)), name=name)


def _hubspot(name: str, settings: Mapping[str, Any]) -> Connector:
    from connectors.hubspot.config import from_settings

    return from_settings(name, settings)


def _salesforce(name: str, settings: Mapping[str, Any]) -> Connector:
    from connectors.salesforce import create_connector

    return create_connector(name, settings)


def _erp(name: str, settings: Mapping[str, Any]) -> Connector:
    from connectors.erp.config import from_settings

    return from_settings(name, settings)


REGISTRY: dict[str, ConnectorFactory] = {
    "memory": _memory,
    "hubspot": _hubspot,
    "salesforce": _salesforce,
    "erp": _erp,
}


FORM_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind -> (settings the console's form always offers, secrets the kind takes): other settings a
    # connection holds are offered too.
    "memory": (("address", "system"), ()),
    "hubspot": (("base_url",), ("token", "app_secret")),
    "salesforce": (("login_url", "client_id"), ("client_secret",)),
    "erp": (("url", "database", "login"), ("api_key",)),
}


def build_one(name: str, settings: Mapping[str, Any]) -> Connector:
    """The connector of one connection (its settings with its secrets), e.g. to test it."""
    return build({name: settings})[name]


def build(connections: Mapping[str, Mapping[str, Any]]) -> dict[str, Connector]:
    """One connector per configured connection: name -> {"kind": ..., settings...}."""
    built = {}
    for name, settings in connections.items():
        kind = str(settings.get("kind", ""))
        if kind not in REGISTRY:
            raise ValueError(f"connection {name!r}: unknown kind {kind!r} (known: {', '.join(sorted(REGISTRY))})")
        built[name] = REGISTRY[kind](name, settings)
    return built

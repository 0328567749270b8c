"""Connections as the console edits and tests them: secrets write-only, blank keeps, checks in plain words."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, select
from sqlmodel import col

from connectors import build
from sync_core.persistence.database import snapshot
from sync_core.persistence.tables import AuditLog, Connection
from sync_core.services import connections, ledger_engine
from sync_core.testing import serve_systems

KEY = Fernet.generate_key().decode()
TOKEN, APP_SECRET = "pat-na1-very-secret", "app-secret-value"


def _factory(name: str, config: object) -> object:
    return build({name: config})[name]  # type: ignore[dict-item]


@pytest.fixture
def engine(ledger_url: str) -> Engine:
    engine = ledger_engine(ledger_url)
    connections.save(
        engine, "hubspot", "hubspot", {"base_url": f"http://127.0.0.1:{_closed_port()}", "index_lag_seconds": 1},
        {"token": TOKEN, "app_secret": APP_SECRET}, KEY, "setup",
    )  # fmt: skip
    return engine


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _audits(engine: Engine, action: str) -> list[AuditLog]:
    with snapshot(engine) as session:
        return list(session.scalars(select(AuditLog).where(col(AuditLog.action) == action).order_by(col(AuditLog.id))))


def test_the_listing_names_the_secrets_set_but_never_their_values(engine: Engine) -> None:
    [hubspot] = connections.list_connections(engine, KEY)
    assert hubspot.secret_names == ("app_secret", "token")
    assert hubspot.settings == {"base_url": hubspot.settings["base_url"], "index_lag_seconds": 1}
    assert TOKEN not in repr(hubspot)
    assert APP_SECRET not in repr(hubspot)
    assert (hubspot.lanes, hubspot.lanes_failing, hubspot.last_success_at, hubspot.usage) == (0, 0, None, None)

    [unreadable] = connections.list_connections(engine, None)  # a console without the key still lists it
    assert unreadable.secret_names == ()
    assert unreadable.secrets_unreadable


def test_a_blank_secret_keeps_the_stored_one_and_the_audit_names_only_what_changed(engine: Engine) -> None:
    edit = connections.edit(
        engine, "hubspot", {"base_url": "http://hubspot.internal:8101", "index_lag_seconds": "3"},
        {"token": "", "app_secret": ""}, KEY, "ada",
    )  # fmt: skip
    assert edit.settings == ("base_url", "index_lag_seconds")
    assert edit.secrets == ()
    loaded = connections.load(engine, KEY)["hubspot"]
    assert loaded["token"] == TOKEN
    assert loaded["app_secret"] == APP_SECRET
    assert loaded["base_url"] == "http://hubspot.internal:8101"
    assert loaded["index_lag_seconds"] == 3

    edit = connections.edit(engine, "hubspot", {}, {"token": "pat-na1-new", "app_secret": ""}, KEY, "ada")
    assert edit.secrets == ("token",)
    loaded = connections.load(engine, KEY)["hubspot"]
    assert loaded["token"] == "pat-na1-new"
    assert loaded["app_secret"] == APP_SECRET

    assert not connections.edit(engine, "hubspot", {"index_lag_seconds": "3"}, {"token": ""}, KEY, "ada").changed
    saves = [a for a in _audits(engine, "connection.saved") if a.actor == "ada"]
    assert [a.details["secrets"] for a in saves] == [[], ["token"]]
    assert saves[0].details["settings"]["index_lag_seconds"] == {"before": 1, "after": 3}
    assert all(secret not in repr(a.details) for a in saves for secret in (TOKEN, APP_SECRET, "pat-na1-new"))
    with snapshot(engine) as session:
        row = session.get(Connection, "hubspot")
        assert row is not None
        assert row.secrets is not None
        assert "pat-na1-new" not in row.secrets


def test_an_edit_that_cannot_be_read_changes_nothing(engine: Engine) -> None:
    with pytest.raises(ValueError, match="index_lag_seconds: 'soon' is not a number"):
        connections.edit(engine, "hubspot", {"index_lag_seconds": "soon"}, {"token": "other"}, KEY, "ada")
    with pytest.raises(ValueError, match="no secret key"):
        connections.edit(engine, "hubspot", {}, {"token": "other"}, None, "ada")
    with pytest.raises(ValueError, match="no connection 'nope'"):
        connections.edit(engine, "nope", {}, {}, KEY, "ada")
    assert connections.load(engine, KEY)["hubspot"]["token"] == TOKEN
    assert [a.actor for a in _audits(engine, "connection.saved")] == ["setup"]


@pytest.fixture
def memory_address() -> Iterator[str]:
    manager = serve_systems()
    host, port = manager.address
    yield f"{host}:{port}"
    manager.shutdown()


def test_the_test_button_runs_the_connectors_check_and_keeps_the_result(engine: Engine, memory_address: str) -> None:
    failed = connections.test(engine, "hubspot", KEY, _factory, "ada")  # type: ignore[arg-type]
    assert not failed.ok
    assert failed.message.startswith("Could not reach the system")

    connections.save(engine, "crm", "memory", {"address": memory_address, "system": "crm"}, {}, KEY, "setup")
    passed = connections.test(engine, "crm", KEY, _factory, "ada")  # type: ignore[arg-type]
    assert passed.ok
    assert passed.message.startswith("Connected")

    status = {c.name: c for c in connections.list_connections(engine, KEY)}
    assert (status["hubspot"].check_ok, status["hubspot"].checked_by) == (False, "ada")
    assert status["hubspot"].check_message == failed.message
    assert status["crm"].check_ok
    assert status["crm"].checked_at is not None
    assert [(a.subject, a.details["ok"]) for a in _audits(engine, "connection.tested")] == [
        ("hubspot", False), ("crm", True)
    ]

    connections.save(engine, "erp", "erp", {"database": "revline"}, {}, KEY, "setup")
    incomplete = connections.test(engine, "erp", KEY, _factory, "ada")  # type: ignore[arg-type]
    assert not incomplete.ok
    assert incomplete.message.startswith("The settings are not complete: connection 'erp'")

"""Webhook notices are kept once and wake their lane; connection secrets are stored encrypted."""

from __future__ import annotations

from cryptography.fernet import Fernet
from sqlalchemy import select

from sync_core.domain.changes import ChangeNotice
from sync_core.persistence import lanes
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import AuditLog, Connection, InboxEvent, Lane
from sync_core.services import connections, inbox, ledger_engine


def test_redelivered_notices_are_stored_once_and_wake_the_inbound_lane(ledger_url: str) -> None:
    engine = ledger_engine(ledger_url)
    with transaction(engine) as session:
        lanes.ensure_lanes(session, "hubspot", "contact")
        session.execute(Lane.__table__.update().values(due_at=None))  # type: ignore[attr-defined]
    first = ChangeNotice("hubspot", "contact", "101", "contact:101:email:1700000000000")
    again = ChangeNotice("hubspot", "contact", "101", "contact:101:email:1700000000000", {"attempt": 2})
    other = ChangeNotice("hubspot", "contact", "101", "contact:101:firstname:1700000000000")

    assert inbox.store(engine, [first, other]) == 2
    assert inbox.store(engine, [again]) == 0

    with transaction(engine) as session:
        assert len(session.scalars(select(InboxEvent)).all()) == 2
        due = {lane.direction: lane.due_at for lane in session.scalars(select(Lane))}
    assert due["inbound"] is not None
    assert due["outbound"] is None


def test_connection_secrets_are_encrypted_at_rest_and_audited(ledger_url: str) -> None:
    engine = ledger_engine(ledger_url)
    key = Fernet.generate_key().decode()
    connections.save(
        engine, "hubspot", "hubspot", {"base_url": "http://127.0.0.1:8101"}, {"token": "pat-na1-secret"}, key, "admin"
    )
    with transaction(engine) as session:
        row = session.get(Connection, "hubspot")
        audit = session.scalars(select(AuditLog)).one()
    assert row is not None
    assert row.secrets is not None
    assert "pat-na1-secret" not in row.secrets
    assert "pat-na1-secret" not in str(audit.details)
    assert audit.details["secrets"] == ["token"]
    assert connections.load(engine, key) == {
        "hubspot": {"kind": "hubspot", "base_url": "http://127.0.0.1:8101", "token": "pat-na1-secret"}
    }

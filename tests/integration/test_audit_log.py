"""The audit log on SQLite and PostgreSQL: read newest first under filters; never changed or deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete, text, update
from sqlalchemy.exc import DBAPIError

from sync_core.persistence.database import transaction
from sync_core.persistence.tables import AuditLog
from sync_core.services import audit, ledger_engine

NOW = datetime.now(UTC)


@pytest.fixture
def engine(ledger_url: str) -> Engine:
    engine = ledger_engine(ledger_url)
    entries = [
        AuditLog(at=NOW - timedelta(days=3), actor="ada", action="ownership.saved", subject="deal v2",
                 details={"before": {"amount": "sales"}, "after": {"amount": "erp"}}),
        AuditLog(at=NOW - timedelta(hours=5), actor="olga", action="dead_letter.retry", subject="outbound_op:7",
                 details={}),
        AuditLog(at=NOW - timedelta(minutes=5), actor="olga", action="user.signed_in", subject="olga", details={}),
        AuditLog(at=NOW - timedelta(minutes=1), actor="ada", action="user.signed_in", subject="ada", details={}),
    ]  # fmt: skip
    with transaction(engine) as session:
        session.add_all(entries)
    return engine


def _actions(engine: Engine, which: audit.AuditFilter) -> list[tuple[str, str]]:
    return [(row.actor, row.action) for row in audit.list_entries(engine, 1, 50, which).items]


def test_entries_come_newest_first_under_each_filter(engine: Engine) -> None:
    assert _actions(engine, audit.AuditFilter()) == [
        ("ada", "user.signed_in"), ("olga", "user.signed_in"), ("olga", "dead_letter.retry"), ("ada", "ownership.saved")
    ]  # fmt: skip
    olga, signed_in = audit.AuditFilter(actor="olga"), audit.AuditFilter(action="user.")
    assert _actions(engine, olga) == [("olga", "user.signed_in"), ("olga", "dead_letter.retry")]
    assert _actions(engine, signed_in) == [("ada", "user.signed_in"), ("olga", "user.signed_in")]
    assert _actions(engine, audit.AuditFilter(action="ownership.saved")) == [("ada", "ownership.saved")]
    assert _actions(engine, audit.AuditFilter(subject="op:7")) == [("olga", "dead_letter.retry")]
    assert _actions(engine, audit.AuditFilter(subject="100%")) == []  # wildcards are plain text
    assert _actions(engine, audit.AuditFilter(since=NOW - timedelta(hours=1))) == [
        ("ada", "user.signed_in"), ("olga", "user.signed_in")
    ]  # fmt: skip
    listing = audit.list_entries(engine, 2, 3)
    assert (listing.total, listing.pages, [row.action for row in listing.items]) == (4, 2, ["ownership.saved"])
    assert audit.choices(engine) == (
        ["ada", "olga"], ["dead_letter.retry", "ownership.saved", "user.signed_in"]
    )  # fmt: skip


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditLog).values(actor="someone else"),
        delete(AuditLog),
    ],
    ids=["update", "delete"],
)
def test_the_database_refuses_to_change_or_delete_an_entry(engine: Engine, statement: object) -> None:
    with pytest.raises(DBAPIError, match="the audit log is append-only"), transaction(engine) as session:
        session.execute(statement)  # type: ignore[call-overload]
    assert len(audit.list_entries(engine).items) == 4


def test_postgresql_refuses_truncate_too(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    with pytest.raises(DBAPIError, match="the audit log is append-only"), transaction(engine) as session:
        session.execute(text("TRUNCATE audit_log"))

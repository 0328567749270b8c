"""Console users and sign-ins on SQLite and PostgreSQL: hashed passwords, fresh tokens, expiry, sign-out."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlmodel import col

from sync_core.domain.access import Role
from sync_core.persistence.database import snapshot
from sync_core.persistence.tables import AuditLog, UserAccount, UserSession
from sync_core.services import access, ledger_engine

PASSWORD = "correct horse battery"


@pytest.fixture
def engine(ledger_url: str) -> Engine:
    return ledger_engine(ledger_url)


def _audit(engine: Engine) -> list[tuple[str, str, str]]:
    with snapshot(engine) as session:
        rows = session.execute(select(AuditLog).order_by(col(AuditLog.id))).scalars().all()
        return [(row.actor, row.action, row.subject) for row in rows]


def test_a_user_signs_in_with_their_password_only(engine: Engine) -> None:
    access.add_user(engine, "olga", Role.OPERATOR, PASSWORD, actor="setup")
    with snapshot(engine) as session:
        stored = session.execute(select(UserAccount.password_hash)).scalar_one()
    assert PASSWORD not in stored
    assert stored.startswith("scrypt$")

    assert access.sign_in(engine, "olga", "wrong password!") is None
    assert access.sign_in(engine, "nobody", PASSWORD) is None
    token = access.sign_in(engine, "olga", PASSWORD)
    assert token is not None
    who = access.signed_in(engine, token)
    assert who is not None
    assert (who.name, who.role) == ("olga", Role.OPERATOR)
    with snapshot(engine) as session:  # the ledger holds the token's hash, never the token
        hashes = session.execute(select(UserSession.token_hash)).scalars().all()
    assert token not in hashes
    assert len(hashes) == 1
    assert _audit(engine) == [
        ("setup", "user.added", "olga"),
        ("olga", "user.sign_in_refused", "olga"),
        ("nobody", "user.sign_in_refused", "nobody"),
        ("olga", "user.signed_in", "olga"),
    ]


def test_every_sign_in_makes_a_new_token_and_sign_out_ends_one(engine: Engine) -> None:
    access.add_user(engine, "vic", Role.VIEWER, PASSWORD, actor="setup")
    first, second = access.sign_in(engine, "vic", PASSWORD), access.sign_in(engine, "vic", PASSWORD)
    assert first
    assert second
    assert first != second
    assert access.sign_out(engine, first) is True
    assert access.signed_in(engine, first) is None
    assert access.signed_in(engine, second) is not None
    assert access.sign_out(engine, first) is False  # already ended
    assert access.signed_in(engine, "made-up-token") is None
    assert access.signed_in(engine, "") is None


def test_an_expired_session_signs_nobody_in(engine: Engine) -> None:
    access.add_user(engine, "ada", Role.ADMIN, PASSWORD, actor="setup")
    token = access.sign_in(engine, "ada", PASSWORD, hours=-1 / 3600)
    assert token is not None
    assert access.signed_in(engine, token) is None


def test_a_new_password_ends_the_old_sessions(engine: Engine) -> None:
    access.add_user(engine, "ada", Role.ADMIN, PASSWORD, actor="setup")
    token = access.sign_in(engine, "ada", PASSWORD)
    access.set_password(engine, "ada", "another long password", actor="ada")
    assert access.signed_in(engine, token) is None
    assert access.sign_in(engine, "ada", PASSWORD) is None
    assert access.sign_in(engine, "ada", "another long password") is not None


@pytest.mark.parametrize(
    ("name", "role", "password", "error"),
    [
        ("olga", "operator", PASSWORD, "a user named 'olga' already exists"),
        ("root", "superuser", PASSWORD, "unknown role 'superuser': one of viewer, operator, admin"),
        ("bob", "viewer", "short", "a password needs at least 10 characters"),
        ("  ", "viewer", PASSWORD, "a user needs a name"),
    ],
)
def test_bad_users_are_refused_with_the_reason(engine: Engine, name: str, role: str, password: str, error: str) -> None:
    access.add_user(engine, "olga", Role.OPERATOR, PASSWORD, actor="setup")
    with pytest.raises(ValueError, match="^" + error.replace("(", r"\(").replace(")", r"\)") + "$"):
        access.add_user(engine, name, role, password, actor="setup")
    assert [user.name for user in access.list_users(engine)] == ["olga"]

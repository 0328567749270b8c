"""Console users and their sign-ins: scrypt-hashed passwords, session tokens with an expiry.

A session token is 32 random bytes handed to the browser once, at sign-in; the ledger keeps only its
SHA-256, so a copy of the database signs nobody in. Every sign-in makes a new token; signing out ends
the session at once, and an expired or ended token is worth nothing.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core.domain.access import Role, password_problem
from sync_core.persistence.database import snapshot, transaction
from sync_core.persistence.tables import AuditLog, UserAccount, UserSession

SESSION_HOURS = 12.0
# scrypt at N=2**14, r=8, p=1 (RFC 7914's interactive-login figures): ~50 ms and 16 MB per check.
_N, _R, _P, _DKLEN = 2**14, 8, 1, 32
_SCHEME = "scrypt"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$key`, salt and key in base64: what the ledger stores for a password."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_DKLEN)
    return "$".join((_SCHEME, str(_N), str(_R), str(_P), _b64(salt), _b64(key)))


def password_matches(password: str, stored: str) -> bool:
    """Whether `password` is the one `stored` was made from (compared in constant time)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != _SCHEME:
            return False
        expected = base64.b64decode(key)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the name is unknown, so an unknown name takes as long as a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """Who a session token belongs to, as the ledger says now."""

    name: str
    role: Role
    expires_at: datetime


@dataclass(frozen=True)
class UserRow:
    name: str
    role: str
    created_at: datetime
    created_by: str
    disabled: bool


def add_user(engine: Engine, name: str, role: Role | str, password: str, actor: str) -> None:
    """Create a console user, audited. Raises ValueError for a taken name, an unknown role or a weak password."""
    name = name.strip()
    if not name:
        raise ValueError("a user needs a name")
    try:
        role = Role(role)
    except ValueError:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(r.value for r in Role)}") from None
    problem = password_problem(password)
    if problem:
        raise ValueError(problem)
    hashed = hash_password(password)
    now = datetime.now(UTC)
    with transaction(engine) as session:
        if session.get(UserAccount, name) is not None:
            raise ValueError(f"a user named {name!r} already exists")
        session.add(UserAccount(name=name, role=role.value, password_hash=hashed, created_at=now, created_by=actor))
        session.add(AuditLog(at=now, actor=actor, action="user.added", subject=name, details={"role": role.value}))


def set_password(engine: Engine, name: str, password: str, actor: str) -> None:
    """Give `name` a new password and end their sessions, audited."""
    problem = password_problem(password)
    if problem:
        raise ValueError(problem)
    hashed = hash_password(password)
    now = datetime.now(UTC)
    with transaction(engine) as session:
        user = session.get(UserAccount, name)
        if user is None:
            raise ValueError(f"no user named {name!r}")
        user.password_hash = hashed
        _end_sessions(session, name, now)
        session.add(AuditLog(at=now, actor=actor, action="user.password_set", subject=name, details={}))


def _end_sessions(session: Session, name: str, now: datetime) -> None:
    session.execute(
        update(UserSession)
        .where(col(UserSession.user_name) == name, col(UserSession.ended_at).is_(None))
        .values(ended_at=now)
    )


def list_users(engine: Engine) -> list[UserRow]:
    with snapshot(engine) as session:
        users = session.execute(select(UserAccount).order_by(col(UserAccount.name))).scalars().all()
        return [UserRow(u.name, u.role, u.created_at, u.created_by, u.disabled_at is not None) for u in users]


def sign_in(engine: Engine, name: str, password: str, hours: float = SESSION_HOURS) -> str | None:
    """A new session token for `name` when the password is theirs (and the user is active), else None.

    Both outcomes are audited; a refusal does not say whether the name or the password was wrong.
    """
    name = name.strip()
    with snapshot(engine) as session:
        user = session.get(UserAccount, name)
        stored = user.password_hash if user is not None and user.disabled_at is None else None
    matches = password_matches(password, stored or _dummy_hash()) and stored is not None
    now = datetime.now(UTC)
    token = secrets.token_urlsafe(32) if matches else None
    with transaction(engine) as session:
        if token is not None:
            session.add(
                UserSession(
                    token_hash=_token_hash(token), user_name=name, created_at=now,
                    expires_at=now + timedelta(hours=hours),
                )
            )  # fmt: skip
            session.add(AuditLog(at=now, actor=name, action="user.signed_in", subject=name, details={}))
        else:
            refused = AuditLog(
                at=now, actor=name[:120] or "?", action="user.sign_in_refused", subject=name[:255], details={}
            )
            session.add(refused)
    return token


def signed_in(engine: Engine, token: str | None) -> SignedIn | None:
    """The user `token` signs in, while its session is neither ended nor expired and the user active."""
    if not token:
        return None
    now = datetime.now(UTC)
    query = (
        select(UserSession, UserAccount)
        .join(UserAccount, col(UserAccount.name) == col(UserSession.user_name))
        .where(
            col(UserSession.token_hash) == _token_hash(token),
            col(UserSession.ended_at).is_(None),
            col(UserSession.expires_at) > now,
            col(UserAccount.disabled_at).is_(None),
        )
    )
    with snapshot(engine) as session:
        row = session.execute(query).first()
        if row is None:
            return None
        user_session, user = row
        try:
            role = Role(user.role)
        except ValueError:
            return None
        return SignedIn(name=user.name, role=role, expires_at=user_session.expires_at)


def sign_out(engine: Engine, token: str | None) -> bool:
    """End the session of `token`; False when there was none to end."""
    if not token:
        return False
    now = datetime.now(UTC)
    with transaction(engine) as session:
        user_session = session.get(UserSession, _token_hash(token))
        if user_session is None or user_session.ended_at is not None:
            return False
        user_session.ended_at = now
        name = user_session.user_name
        session.add(AuditLog(at=now, actor=name, action="user.signed_out", subject=name, details={}))
    return True

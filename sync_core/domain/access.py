"""Who may do what in the console: three roles, each allowed what the one below it may do and more."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A console user's role: viewers read; operators also repair records; admins also change policy,
    connections and schedules."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}

WHAT_EACH_MAY = {
    Role.VIEWER: "read every page",
    Role.OPERATOR: "repair records",
    Role.ADMIN: "change policy, connections and schedules",
}


def allows(role: Role | str, needed: Role | str) -> bool:
    """Whether a user with `role` may take an action that needs `needed`; unknown roles may do nothing."""
    try:
        return Role(role).rank >= Role(needed).rank
    except ValueError:
        return False


def refusal(role: Role | str, needed: Role | str) -> str:
    """The plain-words reason an action is refused to a user with `role`."""
    need = Role(needed)
    who = "admins" if need == Role.ADMIN else f"{need.value}s and admins"
    return f"Your role ({role}) cannot do this: only {who} may {WHAT_EACH_MAY[need]}."


MIN_PASSWORD_LENGTH = 10


def password_problem(password: str) -> str | None:
    """Why `password` cannot be a console password, or None when it can."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if password.strip() != password:
        return "a password cannot start or end with spaces"
    return None

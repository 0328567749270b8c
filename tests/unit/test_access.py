"""Roles and what each may do; password rules."""

from __future__ import annotations

import pytest

from sync_core.domain.access import Role, allows, password_problem, refusal


@pytest.mark.parametrize(
    ("role", "needed", "allowed"),
    [
        (Role.VIEWER, Role.VIEWER, True),
        (Role.VIEWER, Role.OPERATOR, False),
        (Role.VIEWER, Role.ADMIN, False),
        (Role.OPERATOR, Role.VIEWER, True),
        (Role.OPERATOR, Role.OPERATOR, True),
        (Role.OPERATOR, Role.ADMIN, False),
        (Role.ADMIN, Role.VIEWER, True),
        (Role.ADMIN, Role.OPERATOR, True),
        (Role.ADMIN, Role.ADMIN, True),
        ("admin", "operator", True),
        ("", "viewer", False),
        ("superuser", "viewer", False),
    ],
)
def test_each_role_may_do_what_the_roles_below_it_may(role: str, needed: str, allowed: bool) -> None:
    assert allows(role, needed) is allowed


def test_a_refusal_names_the_role_and_who_may() -> None:
    assert refusal(Role.VIEWER, Role.OPERATOR) == (
        "Your role (viewer) cannot do this: only operators and admins may repair records."
    )
    assert refusal(Role.OPERATOR, Role.ADMIN) == (
        "Your role (operator) cannot do this: only admins may change policy, connections and schedules."
    )


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "a password needs at least 10 characters"),
        (" padded-password ", "a password cannot start or end with spaces"),
        ("long enough pass", None),
    ],
)
def test_password_rules(password: str, problem: str | None) -> None:
    assert password_problem(password) == problem

"""Every console event handler checks who is signed in, on the server, before it reads or changes anything.

The handlers are found by walking the console's states, so a new handler without a check fails here.
Each is called the way a crafted websocket message would call it (no button involved): nobody signed
in is sent to the sign-in page, a role that falls short is refused, and neither leaves a trace in the
ledger.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from reflex.state import State
from sqlalchemy import Engine, func, select

import console.console  # noqa: F401  (defines every page and its state)
from console.state.dead_letters import DeadLettersState
from console.state.session import REQUIRED_ROLE, GuardedState, SessionState
from sync_core.domain.access import Role
from sync_core.persistence.database import snapshot, transaction
from sync_core.persistence.tables import AuditLog, OutboundOp
from sync_core.services import access, dispose_engines, ledger_engine

PASSWORD = "a long enough password"
SIGN_IN_HANDLERS = {"open_sign_in", "sign_in", "sign_out"}  # how one signs in and out: open to all
_UNMARKED = object()


def _states() -> list[type[GuardedState]]:
    found: list[type[GuardedState]] = []
    todo = list(GuardedState.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: cls.__name__)


def _handlers() -> list[tuple[type[GuardedState], str]]:
    return [(cls, name) for cls in _states() for name in sorted(cls.event_handlers) if name != "setvar"]


HANDLERS = _handlers()


def _role(cls: type[GuardedState], name: str) -> Any:
    return getattr(cls.event_handlers[name].fn, REQUIRED_ROLE, _UNMARKED)


def _arguments(fn: Any) -> list[Any]:
    """Plausible arguments for a handler: what a crafted message could send."""
    values = {"int": 1, "str": "x", "dict[str, Any]": {"name": "x"}, "list[int]": [1]}
    parameters = list(inspect.signature(fn).parameters.values())[1:]
    return [values.get(str(p.annotation), "x") for p in parameters]


@pytest.fixture
def ledger(ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("REVLINE_DATABASE_URL", ledger_url)
    engine = ledger_engine(ledger_url)
    for role in Role:
        access.add_user(engine, role.value, role, PASSWORD, actor="setup")
    yield engine
    dispose_engines()


def _tab(engine: Engine, user: str | None) -> State:
    """A browser tab's state tree, signed in as `user` (or as nobody)."""
    root = State(_reflex_internal_init=True)
    if user is not None:
        session = root._get_state_from_cache(SessionState)
        session.token = access.sign_in(engine, user, PASSWORD) or ""
    return root


def _ledger_marks(engine: Engine) -> tuple[int, int]:
    with snapshot(engine) as session:
        audits = session.execute(select(func.count()).select_from(AuditLog)).scalar_one()
        ops = session.execute(select(func.count()).select_from(OutboundOp)).scalar_one()
    return int(audits), int(ops)


def _run(fn: Any, *args: Any) -> Any:
    """Run an async handler to its end on a loop of its own (in a thread: the browser tests of the same
    run may keep an event loop running in this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(fn(*args))).result()


def _call(root: State, cls: type[GuardedState], name: str) -> str:
    state = root._get_state_from_cache(cls)
    fn = cls.event_handlers[name].fn
    return repr(_run(fn, state, *_arguments(fn)))


def test_the_console_has_handlers_to_check() -> None:
    names = {f"{cls.__name__}.{name}" for cls, name in HANDLERS}
    assert {"DeadLettersState.retry", "MismatchesState.heal", "OverviewState.refresh"} <= names


@pytest.mark.parametrize(("cls", "name"), HANDLERS, ids=[f"{c.__name__}.{n}" for c, n in HANDLERS])
def test_every_handler_says_which_role_it_needs(cls: type[GuardedState], name: str) -> None:
    role = _role(cls, name)
    assert role is not _UNMARKED, f"{cls.__name__}.{name} neither `requires` a role nor is `tab_only`"
    assert role is None or isinstance(role, Role)


@pytest.mark.parametrize(("cls", "name"), HANDLERS, ids=[f"{c.__name__}.{n}" for c, n in HANDLERS])
def test_nobody_signed_in_is_sent_to_sign_in_and_changes_nothing(
    ledger: Engine, cls: type[GuardedState], name: str
) -> None:
    if _role(cls, name) is None:
        pytest.skip("changes only the tab's own form fields")
    before = _ledger_marks(ledger)
    answer = _call(_tab(ledger, None), cls, name)
    assert "/sign-in?next=" in answer
    assert _ledger_marks(ledger) == before


def _short_roles() -> list[tuple[type[GuardedState], str, Role]]:
    cases = []
    for cls, name in HANDLERS:
        needed = _role(cls, name)
        if isinstance(needed, Role):
            cases.extend((cls, name, role) for role in Role if role.rank < needed.rank)
    return cases


SHORT = _short_roles()


@pytest.mark.parametrize(
    ("cls", "name", "role"), SHORT, ids=[f"{c.__name__}.{n}-as-{r.value}" for c, n, r in SHORT]
)
def test_a_role_that_falls_short_is_refused_and_changes_nothing(
    ledger: Engine, cls: type[GuardedState], name: str, role: Role
) -> None:
    root = _tab(ledger, role.value)
    before = _ledger_marks(ledger)
    answer = _call(root, cls, name)
    assert f"Your role ({role.value}) cannot do this" in answer
    assert _ledger_marks(ledger) == before


def test_an_operator_retries_a_dead_letter_in_their_own_name(ledger: Engine) -> None:
    at = datetime.now(UTC)
    dead = OutboundOp(
        idempotency_key=uuid.uuid4().hex, target_system="erp", object_type="order", canonical_id="c-1",
        source_system="hubspot", source_id="42", source_version="1", payload={"name": "Acme"}, status="dead",
        error_category="validation", next_attempt_at=at, correlation_id=str(uuid.uuid4()), created_at=at,
        updated_at=at,
    )  # fmt: skip
    with transaction(ledger) as session:
        session.add(dead)
        session.flush()
        op_id = dead.id
    root = _tab(ledger, "operator")
    state = root._get_state_from_cache(DeadLettersState)
    answer = _run(DeadLettersState.event_handlers["retry"].fn, state, op_id)
    assert "is queued again" in repr(answer)
    with snapshot(ledger) as session:
        audit = session.execute(select(AuditLog).where(AuditLog.action == "dead_letter.retry")).scalars().all()
        status = session.get(OutboundOp, op_id)
        assert status is not None
        assert status.status == "pending"
    assert [row.actor for row in audit] == ["operator"]

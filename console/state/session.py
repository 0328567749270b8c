"""Who is signed in to this browser tab, and the check every event handler makes before it runs.

The token lives in the browser's localStorage; the ledger knows only its hash. Each guarded handler
asks the ledger afresh who the token belongs to and what their role allows, so a session ended or
expired elsewhere, or a role taken away, counts from the next click. Buttons a role may not use are
disabled on the page, but that is comfort: the check in the handler is what refuses.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import quote

import reflex as rx
from reflex_base.event import EventSpec

from sync_core.domain.access import Role, allows, refusal
from sync_core.services import access, ledger_engine

SIGN_IN = "/sign-in"
REQUIRED_ROLE = "revline_required_role"  # the attribute a guarded handler carries; None: this tab's own UI only

Handler = TypeVar("Handler", bound=Callable[..., Coroutine[Any, Any, Any]])


class SessionState(rx.State):
    """The signed-in user of this tab (name and role as the ledger said at the last check)."""

    token: str = rx.LocalStorage("", name="revline_session", sync=True)
    user_name: rx.Field[str] = rx.field("")
    user_role: rx.Field[str] = rx.field("")
    sign_in_error: rx.Field[str] = rx.field("")

    @rx.var
    def can_repair(self) -> bool:
        return allows(self.user_role, Role.OPERATOR)

    @rx.var
    def can_admin(self) -> bool:
        return allows(self.user_role, Role.ADMIN)

    async def check(self) -> access.SignedIn | None:
        """Ask the ledger who this tab's token signs in now, and remember it for the page."""
        found = await asyncio.to_thread(access.signed_in, ledger_engine(), self.token)
        self.user_name = found.name if found else ""
        self.user_role = found.role.value if found else ""
        return found

    @rx.event
    async def open_sign_in(self) -> EventSpec | None:
        """The sign-in page: a tab that is signed in already goes on to the console."""
        self.sign_in_error = ""
        if await self.check() is not None:
            return rx.redirect(_next_page(self.router.url.query_parameters.get("next")))
        return None

    @rx.event
    async def sign_in(self, form: dict[str, Any]) -> EventSpec | None:
        """Check the name and password; on success a new token replaces any this tab held."""
        name, password = str(form.get("name", "")), str(form.get("password", ""))
        engine = ledger_engine()
        if self.token:
            await asyncio.to_thread(access.sign_out, engine, self.token)
        token = await asyncio.to_thread(access.sign_in, engine, name, password)
        if token is None:
            self.token = ""
            self.sign_in_error = "That name and password do not match an active user."
            return None
        self.token, self.sign_in_error = token, ""
        await self.check()
        return rx.redirect(_next_page(self.router.url.query_parameters.get("next")))

    @rx.event
    async def sign_out(self) -> EventSpec:
        await asyncio.to_thread(access.sign_out, ledger_engine(), self.token)
        self.token, self.user_name, self.user_role = "", "", ""
        return rx.redirect(SIGN_IN)


def _next_page(wanted: Any) -> str:
    """Where to go after signing in: a path of this console only (never another site)."""
    path = str(wanted or "/")
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


async def signed_in_user(state: rx.State, needed: Role) -> tuple[access.SignedIn | None, EventSpec | None]:
    """The user of `state`'s tab when their role allows `needed`; else the event that answers instead
    (to the sign-in page when nobody is signed in, a refusal when the role falls short)."""
    session = await state.get_state(SessionState)
    assert isinstance(session, SessionState)
    user = await session.check()
    if user is None:
        return None, rx.redirect(f"{SIGN_IN}?next={quote(state.router.url.path or '/')}")
    if not allows(user.role, needed):
        return None, rx.toast.error(refusal(user.role, needed), id="refused")
    return user, None


class GuardedState(rx.State):
    """The base of every page's state: its handlers carry `requires` (or `tab_only`)."""

    _acting_user: str = ""  # who the current event's check found signed in (for the audit log)


def requires(needed: Role, background: bool = False) -> Callable[[Handler], Handler]:
    """Run the handler only for a signed-in user whose role allows `needed`.

    The handler finds the user's name (for the audit log) in `self._acting_user`, set by this check,
    in this same event, from the ledger. A background handler (`background=True`) is checked inside
    `async with self`.
    """

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(self: GuardedState, *args: Any, **kwargs: Any) -> Any:
            if background:
                async with self:
                    user, answer = await signed_in_user(self, needed)
                    self._acting_user = user.name if user else ""
            else:
                user, answer = await signed_in_user(self, needed)
                self._acting_user = user.name if user else ""
            if user is None:
                return answer
            return await handler(self, *args, **kwargs)

        setattr(guarded, REQUIRED_ROLE, needed)
        return guarded  # type: ignore[return-value]

    return wrap


Plain = TypeVar("Plain", bound=Callable[..., Any])


def tab_only(handler: Plain) -> Plain:
    """Mark a handler that changes only this tab's own form fields (a typed reason, say): no check."""
    setattr(handler, REQUIRED_ROLE, None)
    return handler

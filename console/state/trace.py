"""State of the Trace page: find a deal's story by anything a person knows of it, show its timeline."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import reflex as rx
from sqlalchemy.exc import SQLAlchemyError

from console.state.session import GuardedState, requires, tab_only
from console.state.views import ago, iso, ledger_error
from sync_core.domain.access import Role
from sync_core.services import ledger_engine, trace

MATCHES = 20
HOP_LABELS = {
    "lead_handoff": "Lead handoff", "lead_response": "Lead response", "order_creation": "Won to order",
    "time_to_invoice": "Time to invoice", "time_to_cash": "Time to cash",
}  # fmt: skip


@dataclass(frozen=True)
class StepView:
    """One row of the timeline."""

    key: str
    name: str
    label: str
    system: str
    at: str
    at_iso: str
    status: str
    color: str
    error: str
    record: str
    dead_letter: int  # 0: none
    dead_letter_href: str


@dataclass(frozen=True)
class HopView:
    label: str
    seconds: str


@dataclass(frozen=True)
class KeyView:
    kind: str
    text: str


def duration(seconds: float) -> str:
    """`0.8 s`, `42 s`, `3 min`, `5.2 h`, `3.1 d`: readable without hovering."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _label(name: str) -> str:
    return name.replace(".", " ").replace("_", " ").capitalize()


def _steps(story: trace.Story, now: datetime) -> list[StepView]:
    views = []
    for index, step in enumerate(story.steps):
        color = "green" if step.status == "ok" else ("amber" if step.status == "held" else "red")
        views.append(StepView(
            key=f"{index}", name=step.name, label=_label(step.name), system=step.system or "",
            at=ago(step.at, now), at_iso=iso(step.at), status=step.status, color=color, error=step.error or "",
            record=step.record or "", dead_letter=step.dead_letter or 0,
            dead_letter_href=f"/dead-letters?op={step.dead_letter}" if step.dead_letter else "",
        ))  # fmt: skip
    return views


def _load(query: str, chosen: str) -> tuple[list[str], trace.Story | None]:
    engine = ledger_engine()
    found = trace.search(engine, query, MATCHES) if query.strip() else []
    target = chosen if chosen in found else (found[0] if found else "")
    return found, (trace.story(engine, target) if target else None)


class TraceState(GuardedState):
    """The search box, the stories it matched, and the chosen story's timeline."""

    query: rx.Field[str] = rx.field("")
    matches: rx.Field[list[str]] = rx.field(default_factory=list)
    chosen: rx.Field[str] = rx.field("")
    steps: rx.Field[list[StepView]] = rx.field(default_factory=list)
    hops: rx.Field[list[HopView]] = rx.field(default_factory=list)
    keys: rx.Field[list[KeyView]] = rx.field(default_factory=list)
    searched: rx.Field[bool] = rx.field(False)
    error: rx.Field[str] = rx.field("")

    async def _fetch(self) -> None:
        try:
            found, story = await asyncio.to_thread(_load, self.query, self.chosen)
        except SQLAlchemyError as exc:
            self.error = ledger_error(exc)
            return
        self.error = ""
        self.matches = found
        self.chosen = story.correlation_id if story else ""
        now = datetime.now(UTC)
        self.steps = _steps(story, now) if story else []
        self.hops = [HopView(HOP_LABELS.get(h, h), duration(s)) for h, s in sorted(story.hops.items())] if story else []
        self.keys = [KeyView(kind, ", ".join(values)) for kind, values in story.keys.items()] if story else []

    @rx.event
    @requires(Role.VIEWER)
    async def on_load(self) -> None:
        """Open the story named by `?q=` (an email, id, order or invoice number, correlation id)."""
        self.query = self.router.url.query_parameters.get("q", "") or self.query
        self.chosen = ""
        self.searched = bool(self.query.strip())
        await self._fetch()

    @rx.event
    @tab_only
    def set_query(self, value: str) -> None:
        self.query = value

    @rx.event
    @requires(Role.VIEWER)
    async def search(self) -> None:
        self.chosen = ""
        self.searched = True
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def choose(self, correlation_id: str) -> None:
        self.chosen = correlation_id
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def refresh(self) -> None:
        if self.chosen:
            await self._fetch()

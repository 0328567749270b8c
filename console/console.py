"""The Revline console: the Reflex app, its pages and the extra HTTP routes."""

from __future__ import annotations

import reflex as rx

from console import api
from console.pages.audit import audit_page
from console.pages.connections import connections
from console.pages.dead_letters import dead_letters
from console.pages.lead_to_cash import lead_to_cash
from console.pages.mismatches import mismatches
from console.pages.overview import overview
from console.pages.ownership import ownership
from console.pages.repair import repair_page
from console.pages.runs import runs
from console.pages.schedules import schedules
from console.pages.sign_in import sign_in_page
from console.pages.trace import trace_page
from console.state.audit import AuditState
from console.state.connections import ConnectionsState
from console.state.dead_letters import DeadLettersState
from console.state.mismatches import MismatchesState
from console.state.overview import OverviewState
from console.state.ownership import OwnershipState
from console.state.repair import RepairState
from console.state.revenue import LeadToCashState
from console.state.runs import RunsState
from console.state.schedules import SchedulesState
from console.state.session import SessionState
from console.state.trace import TraceState

app = rx.App(api_transformer=api.routes())
app.add_page(overview, route="/", title="Overview · Revline", on_load=OverviewState.refresh)
app.add_page(sign_in_page, route="/sign-in", title="Sign in · Revline", on_load=SessionState.open_sign_in)
app.add_page(runs, route="/runs", title="Runs · Revline", on_load=RunsState.on_load)
app.add_page(
    dead_letters, route="/dead-letters", title="Dead letters · Revline", on_load=DeadLettersState.on_load
)
app.add_page(repair_page, route="/repair", title="Repair queue · Revline", on_load=RepairState.on_load)
app.add_page(trace_page, route="/trace", title="Trace · Revline", on_load=TraceState.on_load)
app.add_page(mismatches, route="/mismatches", title="Mismatches · Revline", on_load=MismatchesState.on_load)
app.add_page(audit_page, route="/audit", title="Audit log · Revline", on_load=AuditState.on_load)
app.add_page(lead_to_cash, route="/lead-to-cash", title="Lead to cash · Revline", on_load=LeadToCashState.on_load)
app.add_page(ownership, route="/ownership", title="Field ownership · Revline", on_load=OwnershipState.on_load)
app.add_page(schedules, route="/schedules", title="Schedules · Revline", on_load=SchedulesState.on_load)
app.add_page(connections, route="/connections", title="Connections · Revline", on_load=ConnectionsState.on_load)

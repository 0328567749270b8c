"""The control API under /__sandbox__/: reset, seed, faults, clock, request log, CA, acting as a person.

    POST   /__sandbox__/reset                      back to the seeded start: records, faults, allocation, log, clock
    POST   /__sandbox__/seed                       {"seed": 7, "records": 50}: reseed (0 records: users, price book)
    GET    /__sandbox__/faults                     the fault profile (see faults.py), allocation and usage
    POST   /__sandbox__/faults                     merge keys into the profile; "expire_sessions": true revokes tokens
    DELETE /__sandbox__/faults                     no faults
    GET    /__sandbox__/requests?limit=100         totals, counts per endpoint, latest entries
    DELETE /__sandbox__/requests                   empty the log
    GET    /__sandbox__/ca.pem                     the CA that signed the server certificate
    GET    /__sandbox__/users                      integration user and people (ids, usernames, emails)
    GET    /__sandbox__/clock                      {"now", "frozen"}
    POST   /__sandbox__/clock                      {"advance": seconds} | {"freeze": true | iso} | {"unfreeze": true}
    GET    /__sandbox__/records/{type}             every live record of a type (add ?deleted=true for all)
    GET    /__sandbox__/records/{type}/{id}        one record, deleted or not
    POST   /__sandbox__/records/{type}             {"fields": {...}, "user": id or username?}: create as a person
    PATCH  /__sandbox__/records/{type}/{id}        {"fields": {...}, "user"?}: update as a person
    DELETE /__sandbox__/records/{type}/{id}        delete as a person
    POST   /__sandbox__/leads/{id}/convert         {"user"?, "account_id"?, "opportunity": {...} | null}: convert

Writes "as a person" go through the same validation as the API but are made by a sales user, so
LastModifiedById is not the integration user; they are not logged and not counted as API calls.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.salesforce.sandbox.api_errors import ApiError, RecordRejectedError
from connectors.salesforce.sandbox.conversion import convert
from connectors.salesforce.sandbox.rest import record_body
from connectors.salesforce.sandbox.routing import json_response
from connectors.salesforce.sandbox.schema import SOBJECTS, sobject
from connectors.salesforce.sandbox.state import SandboxState
from connectors.salesforce.sandbox.values import CoercionError, parse_datetime
from connectors.salesforce.sandbox.writes import MultipleMatchesError


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _problem(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status)


def _users(state: SandboxState) -> dict[str, Any]:
    def describe(user_id: str) -> dict[str, Any]:
        record = state.store.get(user_id)
        values = record.values if record else {}
        return {"id": user_id, "username": values.get("Username"), "name": values.get("Name"),
                "email": values.get("Email")}

    return {
        "integration": describe(state.users.integration),
        "people": [describe(u) for u in state.users.people],
    }


async def reset(request: Request) -> Response:
    state = _state(request)
    state.reset()
    return json_response({"ok": True, "seed": state.seed_value, "records": state.records, "users": _users(state)})


async def reseed(request: Request) -> Response:
    state = _state(request)
    try:
        body = await _body(request)
        seed_value, records = int(body.get("seed", state.seed_value)), int(body.get("records", state.records))
    except (ValueError, TypeError) as error:
        return _problem(str(error))
    if records < 0:
        return _problem("records must be >= 0")
    state.reseed(seed_value, records)
    return json_response({"ok": True, "seed": seed_value, "records": records, "users": _users(state)})


def _fault_view(state: SandboxState) -> dict[str, Any]:
    view = state.faults.describe()
    view["daily_limit"] = state.allocation.maximum
    view["api_usage"] = {"used": state.allocation.used(), "max": state.allocation.maximum}
    return view


async def faults(request: Request) -> Response:
    state = _state(request)
    if request.method == "DELETE":
        state.faults.clear()
        state.sessions.ttl = None
        return json_response(_fault_view(state))
    if request.method == "POST":
        try:
            body = await _body(request)
            profile = {k: v for k, v in body.items() if k not in ("expire_sessions", "daily_limit")}
            state.faults.configure(profile)
            if "daily_limit" in body:
                limit = int(body["daily_limit"])
                if limit < 0:
                    raise ValueError("daily_limit must be >= 0")
                state.allocation.maximum = limit
        except (ValueError, TypeError) as error:
            return _problem(str(error))
        ttl = state.faults.profile.session_ttl_seconds
        state.sessions.ttl = None if ttl is None else timedelta(seconds=ttl)
        if body.get("expire_sessions"):
            state.sessions.expire_all()
    return json_response(_fault_view(state))


async def requests(request: Request) -> Response:
    state = _state(request)
    if request.method == "DELETE":
        state.log.clear()
        return Response(status_code=204)
    raw = request.query_params.get("limit", "100")
    return json_response(state.log.snapshot(int(raw) if raw.isdigit() else 100))


async def ca_pem(request: Request) -> Response:
    return Response(_state(request).certificates.ca_pem, media_type="application/x-pem-file")


async def users(request: Request) -> Response:
    return json_response(_users(_state(request)))


async def clock(request: Request) -> Response:
    state = _state(request)
    if request.method == "POST":
        try:
            body = await _body(request)
            if "advance" in body:
                state.clock.advance(float(body["advance"]))
            if body.get("unfreeze"):
                state.clock.unfreeze()
            frozen = body.get("freeze")
            if frozen is True:
                state.clock.freeze()
            elif isinstance(frozen, str):
                state.clock.freeze(parse_datetime(frozen))
        except (ValueError, TypeError) as error:
            return _problem(str(error))
    now: datetime = state.clock.now()
    return json_response({"now": now.isoformat(), "frozen": state.clock.frozen})


def _acting_user(state: SandboxState, wanted: Any) -> str | None:
    if wanted in (None, ""):
        return state.users.person
    record = state.store.get(str(wanted))
    if record is not None and record.sobject == "User":
        return record.id
    found = state.store.find("User", "Username", str(wanted))
    return found[0].id if found else None


async def records(request: Request) -> Response:
    state = _state(request)
    t = sobject(request.path_params["type"])
    if t is None:
        return _problem(f"unknown sObject {request.path_params['type']!r} (known: {', '.join(SOBJECTS)})", 404)
    record_id = request.path_params.get("id")
    if request.method == "GET":
        if record_id is None:
            everything = request.query_params.get("deleted", "").lower() == "true"
            rows = state.store.rows(t.name, include_deleted=everything)
            return json_response({"totalSize": len(rows), "records": [record_body(r, state.version) for r in rows]})
        found = state.store.get(record_id, include_deleted=True)
        if found is None:
            return _problem("no such record", 404)
        return json_response(record_body(found, state.version))
    try:
        body = await _body(request)
    except ValueError as error:
        return _problem(str(error))
    user = _acting_user(state, body.get("user"))
    if user is None:
        return _problem(f"no such user: {body.get('user')}")
    fields = body.get("fields", {})
    try:
        if request.method == "POST":
            created = state.writer.create(t, fields, user)
            return json_response({"id": created.id, "record": record_body(created, state.version)}, 201)
        if request.method == "PATCH":
            changed = state.writer.update(t, str(record_id), fields, user)
            return json_response({"id": changed.id, "record": record_body(changed, state.version)})
        state.writer.delete(t, str(record_id), user)
        return Response(status_code=204)
    except RecordRejectedError as errors:
        return json_response([e.rest() for e in errors.errors], errors.status)
    except ApiError as error:
        return json_response(error.body(), error.status)
    except (CoercionError, MultipleMatchesError) as error:
        return _problem(str(error))


async def convert_lead(request: Request) -> Response:
    state = _state(request)
    try:
        body = await _body(request)
    except ValueError as error:
        return _problem(str(error))
    user = _acting_user(state, body.get("user"))
    if user is None:
        return _problem(f"no such user: {body.get('user')}")
    wanted = body.get("opportunity", {})
    try:
        done = convert(state.writer, request.path_params["id"], user, body.get("account_id"),
                       None if wanted is None else dict(wanted))  # fmt: skip
    except RecordRejectedError as errors:
        return json_response([e.rest() for e in errors.errors], errors.status)
    except CoercionError as error:
        return _problem(str(error))
    return json_response({"lead": done.lead, "account": done.account, "contact": done.contact,
                          "opportunity": done.opportunity})  # fmt: skip


ROUTES = [
    Route("/__sandbox__/reset", reset, methods=["POST"]),
    Route("/__sandbox__/seed", reseed, methods=["POST"]),
    Route("/__sandbox__/faults", faults, methods=["GET", "POST", "DELETE"]),
    Route("/__sandbox__/requests", requests, methods=["GET", "DELETE"]),
    Route("/__sandbox__/ca.pem", ca_pem, methods=["GET"]),
    Route("/__sandbox__/users", users, methods=["GET"]),
    Route("/__sandbox__/clock", clock, methods=["GET", "POST"]),
    Route("/__sandbox__/records/{type}", records, methods=["GET", "POST"]),
    Route("/__sandbox__/records/{type}/{id}", records, methods=["GET", "PATCH", "DELETE"]),
    Route("/__sandbox__/leads/{id}/convert", convert_lead, methods=["POST"]),
]

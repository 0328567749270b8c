"""The control API under /__sandbox__/ (no auth): reset, seed, faults, request log, business clock, payers, records.

    GET    /__sandbox__                        version, database, login, API key, record counts
    POST   /__sandbox__/reset                  back to the seeded start: records, faults, log, clock (wall time);
                                               {"at": iso, "pace": 0} seeds as of that business time instead
    POST   /__sandbox__/seed                   {"seed": 7, "records": 30}: reseed (faults, log and clock stay)
    GET    /__sandbox__/faults                 the fault profile (see faults.py)
    POST   /__sandbox__/faults                 merge keys into the profile
    DELETE /__sandbox__/faults                 no faults
    GET    /__sandbox__/requests?limit=100     totals, counts per endpoint and per error, latest entries
    DELETE /__sandbox__/requests               empty the log
    GET    /__sandbox__/clock                  {"now", "today", "pace", "pending": [events]}
    POST   /__sandbox__/clock/step             {"days", "hours", "seconds"}: move business time on, apply what falls
                                               due (oldest first); answers the clock and the events applied
    POST   /__sandbox__/clock/pace             {"pace": 1440}: business seconds per real second (0 stops the clock)
    GET    /__sandbox__/payers                 customers whose payment habit was set
    POST   /__sandbox__/payers                 {"partner_id": 12, "behaviour": "on_time|partial|late|never"}
    GET    /__sandbox__/records/{model}        every record of a model, as read() answers (archived ones too)
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.erp.sandbox.business import BEHAVIOURS
from connectors.erp.sandbox.schema import MODELS
from connectors.erp.sandbox.state import OdooSandbox
from connectors.erp.sandbox.wire import json_response, stamp


def _sandbox(request: Request) -> OdooSandbox:
    sandbox: OdooSandbox = request.app.state.sandbox
    return sandbox


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


def _summary(sandbox: OdooSandbox) -> dict[str, Any]:
    with sandbox.store.lock:
        counts = {name: len(table) for name, table in sandbox.store.tables.items()}
    return {
        "version": sandbox.version, "database": sandbox.database, "login": sandbox.login, "api_key": sandbox.api_key,
        "seed": sandbox.seed_value, "records": sandbox.records, "counts": counts,
    }  # fmt: skip


def _clock(sandbox: OdooSandbox) -> dict[str, Any]:
    now = sandbox.clock.now()
    return {"now": now.isoformat(), "today": now.date().isoformat(), "pace": sandbox.clock.pace,
            "pending": sandbox.business.pending()}


async def summary(request: Request) -> Response:
    return json_response(_summary(_sandbox(request)))


async def reset(request: Request) -> Response:
    sandbox = _sandbox(request)
    try:
        body = await _body(request)
        at = datetime.fromisoformat(str(body["at"])) if body.get("at") else None
        if at is not None and at.tzinfo is None:
            raise ValueError("at needs a timezone")
        pace = float(body["pace"]) if "pace" in body else None
        if pace is not None and pace < 0:
            raise ValueError("pace must be >= 0")
    except (ValueError, TypeError) as error:
        return _problem(str(error))
    sandbox.reset(at, pace)
    return json_response({"ok": True, **_summary(sandbox)})


async def reseed(request: Request) -> Response:
    sandbox = _sandbox(request)
    try:
        body = await _body(request)
        seed_value, records = int(body.get("seed", sandbox.seed_value)), int(body.get("records", sandbox.records))
    except (ValueError, TypeError) as error:
        return _problem(str(error))
    if records < 0:
        return _problem("records must be >= 0")
    sandbox.reseed(seed_value, records)
    return json_response({"ok": True, **_summary(sandbox)})


async def faults(request: Request) -> Response:
    sandbox = _sandbox(request)
    if request.method == "DELETE":
        sandbox.faults.clear()
    elif request.method == "POST":
        try:
            sandbox.faults.configure(await _body(request))
        except (ValueError, TypeError) as error:
            return _problem(str(error))
    return json_response(sandbox.faults.describe())


async def requests(request: Request) -> Response:
    sandbox = _sandbox(request)
    if request.method == "DELETE":
        sandbox.log.clear()
        return Response(status_code=204)
    raw = request.query_params.get("limit", "100")
    return json_response(sandbox.log.snapshot(int(raw) if raw.isdigit() else 100))


async def clock(request: Request) -> Response:
    sandbox = _sandbox(request)
    sandbox.catch_up()
    return stamp(sandbox, json_response(_clock(sandbox)))


async def step(request: Request) -> Response:
    sandbox = _sandbox(request)
    try:
        body = await _body(request)
        seconds = float(body.get("days", 0)) * 86_400 + float(body.get("hours", 0)) * 3600 + float(
            body.get("seconds", 0)
        )
        sandbox.catch_up()
        applied = sandbox.business.step(seconds)
    except (ValueError, TypeError) as error:
        return _problem(str(error))
    return stamp(sandbox, json_response({**_clock(sandbox), "applied": applied}))


async def pace(request: Request) -> Response:
    sandbox = _sandbox(request)
    try:
        body = await _body(request)
        sandbox.catch_up()
        sandbox.clock.set_pace(float(body["pace"]))
    except (ValueError, TypeError, KeyError) as error:
        return _problem(f"pace: {error}")
    return stamp(sandbox, json_response(_clock(sandbox)))


async def payers(request: Request) -> Response:
    sandbox = _sandbox(request)
    if request.method == "POST":
        try:
            body = await _body(request)
            sandbox.business.set_behaviour(int(body["partner_id"]), str(body["behaviour"]))
        except (ValueError, TypeError, KeyError) as error:
            return _problem(f"{error} (behaviours: {', '.join(BEHAVIOURS)})")
    return json_response({str(k): v for k, v in sandbox.business.behaviours().items()})


async def records(request: Request) -> Response:
    sandbox = _sandbox(request)
    name = request.path_params["model"]
    if name not in MODELS:
        return _problem(f"unknown model {name!r} (known: {', '.join(sorted(MODELS))})", 404)
    with sandbox.env_at(sandbox.clock.now(), {"active_test": False}) as env:
        rows = env.read(name, env.search(name, []))
    return json_response({"total": len(rows), "records": rows})


ROUTES = [
    Route("/__sandbox__", summary, methods=["GET"]),
    Route("/__sandbox__/reset", reset, methods=["POST"]),
    Route("/__sandbox__/seed", reseed, methods=["POST"]),
    Route("/__sandbox__/faults", faults, methods=["GET", "POST", "DELETE"]),
    Route("/__sandbox__/requests", requests, methods=["GET", "DELETE"]),
    Route("/__sandbox__/clock", clock, methods=["GET"]),
    Route("/__sandbox__/clock/step", step, methods=["POST"]),
    Route("/__sandbox__/clock/pace", pace, methods=["POST"]),
    Route("/__sandbox__/payers", payers, methods=["GET", "POST"]),
    Route("/__sandbox__/records/{model}", records, methods=["GET"]),
]

"""The control API under /__sandbox__/: reset, seed, faults, the request log, user changes, owners and webhooks."""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.hubspot.sandbox.errors import ApiError
from connectors.hubspot.sandbox.faults import FaultProfile
from connectors.hubspot.sandbox.schema import OBJECT_TYPES, resolve_object_type
from connectors.hubspot.sandbox.state import Sandbox
from connectors.hubspot.sandbox.store import CRM_UI
from connectors.hubspot.sandbox.webhooks import WebhookSettings

PREFIX = "/__sandbox__"


def _sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


async def _json(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"the body is not JSON: {error}") from None


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "message": message}, 400)


async def overview(request: Request) -> Response:
    sandbox = _sandbox(request)
    return JSONResponse({
        "tier": sandbox.faults.profile.tier,
        "counts": {name: sandbox.store.count(name) for name in OBJECT_TYPES},
        "limits": sandbox.faults.profile.limits().__dict__,
        "webhooks": sandbox.webhooks.settings.to_json(),
    })


async def reset(request: Request) -> Response:
    _sandbox(request).reset()
    return JSONResponse({"status": "reset"})


async def seed(request: Request) -> Response:
    try:
        body = await _json(request)
        counts = _sandbox(request).seed(int(body.get("seed", 7)), int(body.get("records", 50)))
    except (ValueError, TypeError, AttributeError) as error:
        return _bad(str(error))
    return JSONResponse({"status": "seeded", "counts": counts})


async def faults(request: Request) -> Response:
    sandbox = _sandbox(request)
    if request.method == "POST":
        try:
            body = await _json(request)
            if not isinstance(body, dict):
                raise ValueError("the fault profile is a JSON object")
            sandbox.set_faults(FaultProfile.from_json(body))
        except (ValueError, TypeError) as error:
            return _bad(str(error))
    return JSONResponse(sandbox.faults.profile.to_json())


async def requests(request: Request) -> Response:
    sandbox = _sandbox(request)
    if request.method == "DELETE":
        sandbox.log.clear()
        return Response(status_code=204)
    try:
        limit = int(request.query_params.get("limit", "100"))
    except ValueError:
        return _bad("limit must be an integer")
    return JSONResponse(sandbox.log.to_json(limit))


async def user_changes(request: Request) -> Response:
    """Create, update or archive records as a person in HubSpot would (changeSource CRM_UI).

    Body: one change or {"changes": [...]}; a change is {"objectType", "properties"} to create,
    plus "id" (and optionally "idProperty") to update, or {"objectType", "id", "archive": true}.
    """
    sandbox = _sandbox(request)
    try:
        body = await _json(request)
    except ValueError as error:
        return _bad(str(error))
    changes = body.get("changes") if isinstance(body, dict) and "changes" in body else [body]
    if not isinstance(changes, list):
        return _bad("changes must be a list")
    results = []
    for change in changes:
        try:
            results.append(_apply_user_change(sandbox, change))
        except ApiError as error:
            results.append({"status": "error", "category": error.category, "message": error.message})
        except ValueError as error:
            results.append({"status": "error", "category": "VALIDATION_ERROR", "message": str(error)})
    return JSONResponse({"results": results})


def _apply_user_change(sandbox: Sandbox, change: Any) -> dict[str, Any]:
    if not isinstance(change, dict):
        raise ValueError("a change is an object")
    object_type = resolve_object_type(str(change.get("objectType", "")))
    if object_type is None:
        raise ValueError(f"unknown objectType {change.get('objectType')!r}")
    properties = change.get("properties") or {}
    store = sandbox.store
    if change.get("id") is None:
        record = store.create(object_type, properties, CRM_UI)
        _associate(sandbox, object_type, record.id, change)
        return {"status": "created", **record.to_json(sorted(record.properties))}
    record_id = str(change["id"])
    if change.get("archive"):
        return {"status": "archived" if store.archive(object_type, record_id, CRM_UI) else "missing", "id": record_id}
    record = store.update(object_type, record_id, properties, CRM_UI, id_property=change.get("idProperty"))
    _associate(sandbox, object_type, record.id, change)
    return {"status": "updated", **record.to_json(sorted(record.properties))}


def _associate(sandbox: Sandbox, object_type: str, record_id: str, change: dict[str, Any]) -> None:
    """A person adds ("associate": {"contacts": [ids]}) or removes ("disassociate") associations."""
    for key, linking in (("associate", True), ("disassociate", False)):
        for to_name, to_ids in (change.get(key) or {}).items():
            to_type = resolve_object_type(str(to_name))
            if to_type is None:
                raise ValueError(f"unknown object type {to_name!r} to {key} with")
            for to_id in to_ids:
                if linking:
                    sandbox.store.associate(object_type, record_id, to_type, str(to_id))
                else:
                    sandbox.store.disassociate(object_type, record_id, to_type, str(to_id))


async def owners(request: Request) -> Response:
    """GET: every owner, active and archived; POST {"email", "firstName"?, "lastName"?}: a new user's owner."""
    registry = _sandbox(request).store.owners
    if request.method == "POST":
        try:
            body = await _json(request)
            owner = registry.add(str(body["email"]), str(body.get("firstName") or ""), str(body.get("lastName") or ""))
        except (KeyError, ValueError, TypeError, AttributeError) as error:
            return _bad(f"an owner needs an email (and optionally firstName, lastName): {error}")
        return JSONResponse(owner.to_json(), 201)
    everyone = registry.listed() + registry.listed(archived=True)
    return JSONResponse({"results": [o.to_json() for o in sorted(everyone, key=lambda o: int(o.id))]})


async def archive_owner(request: Request) -> Response:
    """The user is deactivated: its owner is archived, and records can no longer be assigned to it."""
    found = _sandbox(request).store.owners.archive(request.path_params["ownerId"])
    return Response(status_code=204 if found else 404)


async def webhook_settings(request: Request) -> Response:
    sandbox = _sandbox(request)
    if request.method == "PUT":
        try:
            body = await _json(request)
            settings = WebhookSettings(
                target_url=str(body["targetUrl"]),
                secret=str(body.get("secret", sandbox.webhooks.settings.secret)),
                batch_window_ms=int(body.get("batchWindowMs", 100)),
                retry_base_ms=int(body.get("retryBaseMs", 500)),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as error:
            return _bad(f"settings need targetUrl (and optionally secret, batchWindowMs, retryBaseMs): {error}")
        sandbox.webhooks.configure(settings)
    return JSONResponse(sandbox.webhooks.settings.to_json())


async def subscriptions(request: Request) -> Response:
    sandbox = _sandbox(request)
    if request.method == "POST":
        try:
            body = await _json(request)
            subscription = sandbox.webhooks.subscribe(
                str(body["eventType"]), body.get("propertyName"), bool(body.get("active", True))
            )
        except (KeyError, ValueError, TypeError, AttributeError) as error:
            return _bad(f"a subscription needs eventType (and optionally propertyName, active): {error}")
        return JSONResponse(subscription.to_json(), 201)
    return JSONResponse({"results": [s.to_json() for s in sandbox.webhooks.subscriptions()]})


async def delete_subscription(request: Request) -> Response:
    try:
        subscription_id = int(request.path_params["subscriptionId"])
    except ValueError:
        return _bad("subscription ids are integers")
    found = _sandbox(request).webhooks.unsubscribe(subscription_id)
    return Response(status_code=204 if found else 404)


async def deliveries(request: Request) -> Response:
    return JSONResponse(_sandbox(request).webhooks.stats())


async def flush(request: Request) -> Response:
    try:
        body = await _json(request)
        timeout = float(body.get("timeout", 10))
    except (ValueError, TypeError, AttributeError) as error:
        return _bad(str(error))
    sandbox = _sandbox(request)
    # Waiting blocks: run it off the event loop so the sandbox keeps answering meanwhile.
    done = await run_in_threadpool(sandbox.webhooks.flush, timeout)
    return JSONResponse({"flushed": done, **sandbox.webhooks.stats()}, 200 if done else 504)


ROUTES = [
    Route(PREFIX, overview, methods=["GET"]),
    Route(PREFIX + "/reset", reset, methods=["POST"]),
    Route(PREFIX + "/seed", seed, methods=["POST"]),
    Route(PREFIX + "/faults", faults, methods=["GET", "POST"]),
    Route(PREFIX + "/requests", requests, methods=["GET", "DELETE"]),
    Route(PREFIX + "/users/changes", user_changes, methods=["POST"]),
    Route(PREFIX + "/owners", owners, methods=["GET", "POST"]),
    Route(PREFIX + "/owners/{ownerId}", archive_owner, methods=["DELETE"]),
    Route(PREFIX + "/webhooks/settings", webhook_settings, methods=["GET", "PUT"]),
    Route(PREFIX + "/webhooks/subscriptions", subscriptions, methods=["GET", "POST"]),
    Route(PREFIX + "/webhooks/subscriptions/{subscriptionId}", delete_subscription, methods=["DELETE"]),
    Route(PREFIX + "/webhooks/deliveries", deliveries, methods=["GET"]),
    Route(PREFIX + "/webhooks/flush", flush, methods=["POST"]),
]

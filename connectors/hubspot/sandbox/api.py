"""The CRM API handlers: v3 objects (basic, batch, search), v4 associations, v3 properties and v3 owners."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from starlette.datastructures import QueryParams

from connectors.hubspot.sandbox.errors import ApiError, Problem, invalid_properties, not_found, validation
from connectors.hubspot.sandbox.owners import OWNER_PROPERTY
from connectors.hubspot.sandbox.schema import (
    DEFAULT_ASSOCIATION_TYPES,
    OBJECT_TYPE_IDS,
    PRIMARY_ASSOCIATION_TYPES,
    SCHEMAS,
    SINGULAR,
)
from connectors.hubspot.sandbox.search import search
from connectors.hubspot.sandbox.state import Sandbox
from connectors.hubspot.sandbox.store import StoredObject
from connectors.hubspot.sandbox.times import iso_ms, now_ms
from connectors.hubspot.sandbox.validation import normalise

MAX_BATCH = 100  # every v3/v4 batch endpoint takes at most 100 inputs, but one:
# https://developers.hubspot.com/changelog/bug-fix-batch-read-limit-for-hubspot-associations-api: 1,000 ids
MAX_ASSOCIATION_READ = 1000
MAX_LIST_PAGE = 100  # GET /crm/v3/objects/{objectType} pages hold at most 100 records

Reply = tuple[int, Any]  # (HTTP status, JSON body or None for an empty answer)


@dataclass(frozen=True)
class Call:
    """One authenticated API request, its object types resolved and its JSON body parsed."""

    sandbox: Sandbox
    object_type: str
    to_type: str | None
    path: Mapping[str, str]
    query: QueryParams
    body: Any
    source: str


Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str  # a Starlette path; {objectType} and {toObjectType} are resolved before the handler runs
    handler: Handler
    access: str  # read | write | schema | owners: the scope the request needs
    search: bool = False  # search has its own rate limit and sends no rate-limit headers


# -- helpers ------------------------------------------------------------------------------------


def _wanted(query: QueryParams) -> list[str] | None:
    names = [name for value in query.getlist("properties") for name in value.split(",") if name]
    return names or None


def _flag(query: QueryParams, name: str) -> bool:
    return query.get(name, "false").lower() == "true"


def _properties(item: Any) -> dict[str, Any]:
    properties = item.get("properties") if isinstance(item, dict) else None
    if properties is None:
        return {}
    if not isinstance(properties, dict):
        raise validation("properties must be an object of property names to values")
    return properties


def _full(record: StoredObject) -> dict[str, Any]:
    """A write's answer: every property the record has."""
    return record.to_json(sorted(record.properties))


def _with_associations(call: Call, record: StoredObject, body: dict[str, Any]) -> dict[str, Any]:
    wanted = [name for value in call.query.getlist("associations") for name in value.split(",") if name]
    if not wanted:
        return body
    associations = {}
    for name in wanted:
        to_type = next((t for t in SCHEMAS if name in (t, SINGULAR[t])), None)
        if to_type is None:
            continue
        linked = call.sandbox.store.associations(call.object_type, record.id, to_type)
        label = f"{SINGULAR[call.object_type]}_to_{SINGULAR[to_type]}"
        associations[to_type] = {"results": [{"id": to_id, "type": label} for to_id in sorted(linked, key=int)]}
    return {**body, "associations": associations}


def _inputs(call: Call, limit: int = MAX_BATCH) -> list[dict[str, Any]]:
    body = call.body
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list):
        raise validation("Invalid input JSON: `inputs` is required and must be a list")
    if len(inputs) > limit:
        raise validation(f"Batch input size of {len(inputs)} exceeds the limit of {limit}")
    if not all(isinstance(item, dict) for item in inputs):
        raise validation("every input must be an object")
    return inputs


def _context(item: Mapping[str, Any]) -> dict[str, list[str]]:
    # Lets a client tell which input failed: HubSpot echoes ids and objectWriteTraceId in `context`.
    context: dict[str, list[str]] = {}
    if item.get("id") is not None:
        context["ids"] = [str(item["id"])]
    if item.get("objectWriteTraceId") is not None:
        context["objectWriteTraceId"] = [str(item["objectWriteTraceId"])]
    return context


def _envelope(started: int, results: list[dict[str, Any]], errors: list[dict[str, Any]], ok: int) -> Reply:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "requestedAt": iso_ms(started),
        "startedAt": iso_ms(started),
        "completedAt": iso_ms(now_ms()),
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
        return 207, body
    return ok, body


def _reject_invalid(call: Call, inputs: list[dict[str, Any]]) -> None:
    """Under the `reject` fault profile a single invalid input fails the whole batch, as HubSpot often does."""
    if call.sandbox.faults.profile.batch_errors != "reject":
        return
    problems: list[Problem] = []
    for item in inputs:
        problems += normalise(call.object_type, _properties(item))[1]
    if problems:
        raise invalid_properties(problems)


def _no_duplicate_ids(inputs: list[dict[str, Any]]) -> None:
    counts = Counter(str(item.get("id")) for item in inputs)
    duplicates = sorted(value for value, count in counts.items() if count > 1)
    if duplicates:
        raise validation(f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique", ids=duplicates)


def _traced(body: dict[str, Any], item: Mapping[str, Any]) -> dict[str, Any]:
    if item.get("objectWriteTraceId") is not None:
        body["objectWriteTraceId"] = str(item["objectWriteTraceId"])
    return body


def _association_target(object_type: str, type_ids: list[int]) -> str:
    for table in (DEFAULT_ASSOCIATION_TYPES, PRIMARY_ASSOCIATION_TYPES):
        for (from_type, to_type), type_id in table.items():
            if from_type == object_type and type_id in type_ids:
                return to_type
    raise validation(f"association type ids {type_ids} are not defined from {object_type}")


def _create_with_associations(call: Call, item: Mapping[str, Any]) -> StoredObject:
    store = call.sandbox.store
    links = []
    for association in item.get("associations") or []:
        try:
            to_id = str(association["to"]["id"])
            type_ids = [int(t["associationTypeId"]) for t in association.get("types") or []]
        except (KeyError, TypeError, ValueError):
            raise validation("an association needs to.id and types[].associationTypeId") from None
        to_type = _association_target(call.object_type, type_ids)
        if store.get(to_type, to_id) is None:
            raise validation(f"{SINGULAR[to_type]} {to_id} does not exist; the association cannot be created",
                             ids=[to_id])
        links.append((to_type, to_id, type_ids))
    record = store.create(call.object_type, _properties(item), call.source)
    for to_type, to_id, type_ids in links:
        store.associate(call.object_type, record.id, to_type, to_id, type_ids)
    return record


# -- v3 objects: basic ----------------------------------------------------------------------------


def list_objects(call: Call) -> Reply:
    try:
        limit = min(max(int(call.query.get("limit", "10")), 1), MAX_LIST_PAGE)
        after = int(call.query.get("after") or 0)
    except ValueError:
        raise validation("limit and after must be integers") from None
    archived = _flag(call.query, "archived")
    # The paging token is the id of the next record to return (opaque to clients); one record more tells
    # whether a next page exists.
    page = call.sandbox.store.page(call.object_type, after, limit + 1, archived)
    body: dict[str, Any] = {
        "results": [_with_associations(call, r, r.to_json(_wanted(call.query))) for r in page[:limit]],
    }
    if len(page) > limit:
        next_after = page[limit].id
        body["paging"] = {"next": {"after": next_after,
                                   "link": f"/crm/v3/objects/{call.object_type}?after={next_after}"}}
    return 200, body


def create_object(call: Call) -> Reply:
    if not isinstance(call.body, dict):
        raise validation("Invalid input JSON: expected an object with `properties`")
    return 201, _full(_create_with_associations(call, call.body))


def get_object(call: Call) -> Reply:
    object_id = call.path["objectId"]
    store = call.sandbox.store
    id_property = call.query.get("idProperty") or None
    record = store.get(call.object_type, object_id, id_property)
    if record is None and _flag(call.query, "archived") and not id_property:
        record = store.get_archived(call.object_type, object_id)
    if record is None:
        raise not_found(call.object_type, object_id)
    return 200, _with_associations(call, record, record.to_json(_wanted(call.query)))


def update_object(call: Call) -> Reply:
    record = call.sandbox.store.update(
        call.object_type, call.path["objectId"], _properties(call.body), call.source,
        id_property=call.query.get("idProperty") or None,
    )
    return 200, _full(record)


def archive_object(call: Call) -> Reply:
    # Archiving is idempotent: an unknown or already archived id also answers 204.
    call.sandbox.store.archive(call.object_type, call.path["objectId"], call.source)
    return 204, None


# -- v3 objects: batch ----------------------------------------------------------------------------


def batch_read(call: Call) -> Reply:
    started = now_ms()
    inputs = _inputs(call)
    body = call.body
    wanted = [str(p) for p in body.get("properties") or []] or None
    id_property = body.get("idProperty") or None
    results, missing = [], []
    for item in inputs:
        record = call.sandbox.store.get(call.object_type, str(item.get("id")), id_property)
        if record is None:
            missing.append(str(item.get("id")))
        else:
            results.append(record.to_json(wanted))
    errors = []
    if missing:
        kind = SINGULAR[call.object_type].upper()
        message = f"Could not get some {kind} objects, they may be deleted or not exist. Check that ids are valid."
        error = ApiError(404, "OBJECT_NOT_FOUND", message)
        errors.append(error.batch_entry({"ids": missing}))
    return _envelope(started, results, errors, 200)


def batch_create(call: Call) -> Reply:
    started = now_ms()
    inputs = _inputs(call)
    _reject_invalid(call, inputs)
    results, errors = [], []
    for item in inputs:
        try:
            results.append(_traced(_full(_create_with_associations(call, item)), item))
        except ApiError as error:
            errors.append(error.batch_entry(_context(item)))
    return _envelope(started, results, errors, 201)


def batch_update(call: Call) -> Reply:
    started = now_ms()
    inputs = _inputs(call)
    _no_duplicate_ids(inputs)
    _reject_invalid(call, inputs)
    results, errors = [], []
    for item in inputs:
        try:
            record = call.sandbox.store.update(
                call.object_type, str(item.get("id")), _properties(item), call.source,
                id_property=item.get("idProperty") or None,
            )
            results.append(_traced(_full(record), item))
        except ApiError as error:
            errors.append(error.batch_entry(_context(item)))
    return _envelope(started, results, errors, 200)


def batch_upsert(call: Call) -> Reply:
    started = now_ms()
    inputs = _inputs(call)
    _no_duplicate_ids(inputs)
    _reject_invalid(call, inputs)
    results, errors = [], []
    for item in inputs:
        try:
            if item.get("id") in (None, ""):
                raise validation("every upsert input needs an id (the value of its idProperty)")
            record, created = call.sandbox.store.upsert(
                call.object_type, str(item.get("idProperty") or "hs_object_id"), str(item["id"]),
                _properties(item), call.source,
            )
            results.append(_traced({**_full(record), "new": created}, item))
        except ApiError as error:
            errors.append(error.batch_entry(_context(item)))
    return _envelope(started, results, errors, 200)


def batch_archive(call: Call) -> Reply:
    for item in _inputs(call):
        call.sandbox.store.archive(call.object_type, str(item.get("id")), call.source)
    return 204, None


# -- v3 objects: search ---------------------------------------------------------------------------


def search_objects(call: Call) -> Reply:
    request = call.body if isinstance(call.body, dict) else {}
    page = search(call.sandbox.store.snapshot(call.object_type), call.object_type, request)
    wanted = [str(p) for p in request.get("properties") or []] or None
    body: dict[str, Any] = {"total": page.total, "results": [r.to_json(wanted) for r in page.results]}
    if page.next_after is not None:
        body["paging"] = {"next": {"after": page.next_after}}
    return 200, body


# -- v4 associations ------------------------------------------------------------------------------


def _spec(type_id: int) -> dict[str, Any]:
    return {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}


def associate_default(call: Call) -> Reply:
    assert call.to_type is not None
    started = now_ms()
    type_id = call.sandbox.store.associate(
        call.object_type, call.path["objectId"], call.to_type, call.path["toObjectId"]
    )
    result = {"from": {"id": call.path["objectId"]}, "to": {"id": call.path["toObjectId"]},
              "associationSpec": _spec(type_id)}
    return _envelope(started, [result], [], 200)


def associate_labelled(call: Call) -> Reply:
    assert call.to_type is not None
    specs = call.body if isinstance(call.body, list) else []
    try:
        type_ids = [int(s["associationTypeId"]) for s in specs]
    except (KeyError, TypeError, ValueError):
        raise validation("the body is a list of {associationCategory, associationTypeId}") from None
    call.sandbox.store.associate(call.object_type, call.path["objectId"], call.to_type, call.path["toObjectId"],
                                 type_ids)
    labels = ["Primary" for t in type_ids if t in PRIMARY_ASSOCIATION_TYPES.values()]
    return 201, {
        "fromObjectTypeId": OBJECT_TYPE_IDS[call.object_type],
        "fromObjectId": int(call.path["objectId"]),
        "toObjectTypeId": OBJECT_TYPE_IDS[call.to_type],
        "toObjectId": int(call.path["toObjectId"]),
        "labels": labels,
    }


def _linked(call: Call, object_id: str) -> list[dict[str, Any]]:
    assert call.to_type is not None
    linked = call.sandbox.store.associations(call.object_type, object_id, call.to_type)
    return [
        {
            "toObjectId": int(to_id),
            "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": type_id,
                 "label": "Primary" if type_id in PRIMARY_ASSOCIATION_TYPES.values() else None}
                for type_id in sorted(types)
            ],
        }
        for to_id, types in sorted(linked.items(), key=lambda pair: int(pair[0]))
    ]


def list_associations(call: Call) -> Reply:
    if call.sandbox.store.get(call.object_type, call.path["objectId"]) is None:
        raise not_found(call.object_type, call.path["objectId"])
    return 200, {"results": _linked(call, call.path["objectId"])}


def remove_association(call: Call) -> Reply:
    assert call.to_type is not None
    call.sandbox.store.disassociate(call.object_type, call.path["objectId"], call.to_type, call.path["toObjectId"])
    return 204, None


def batch_associate_default(call: Call) -> Reply:
    assert call.to_type is not None
    started = now_ms()
    results, errors = [], []
    for item in _inputs(call):
        try:
            from_id, to_id = str(item["from"]["id"]), str(item["to"]["id"])
        except (KeyError, TypeError):
            errors.append(validation("each input needs from.id and to.id").batch_entry({}))
            continue
        try:
            type_id = call.sandbox.store.associate(call.object_type, from_id, call.to_type, to_id)
            results.append({"from": {"id": from_id}, "to": {"id": to_id}, "associationSpec": _spec(type_id)})
        except ApiError as error:
            errors.append(error.batch_entry({"fromIds": [from_id], "toIds": [to_id]}))
    # The client only decodes a 200 here, so partial failures are reported in a 200 body.
    return 200, _envelope(started, results, errors, 200)[1]


def batch_archive_associations(call: Call) -> Reply:
    """Remove every association between each `from` record and its `to` records (both directions)."""
    assert call.to_type is not None
    for item in _inputs(call):
        try:
            from_id = str(item["from"]["id"])
            to_ids = [str(to["id"]) for to in item.get("to") or []]
        except (KeyError, TypeError):
            raise validation("each input needs from.id and to[].id") from None
        for to_id in to_ids:
            call.sandbox.store.disassociate(call.object_type, from_id, call.to_type, to_id)
    return 204, None


def batch_read_associations(call: Call) -> Reply:
    started = now_ms()
    results, missing = [], []
    for item in _inputs(call, MAX_ASSOCIATION_READ):
        object_id = str(item.get("id"))
        if call.sandbox.store.get(call.object_type, object_id) is None:
            missing.append(object_id)
            continue
        results.append({"from": {"id": object_id}, "to": _linked(call, object_id)})
    errors = []
    if missing:
        errors.append(not_found(call.object_type, ", ".join(missing)).batch_entry({"ids": missing}))
    return _envelope(started, results, errors, 200)


# -- v3 properties ----------------------------------------------------------------------------------


def _described(call: Call, name: str) -> dict[str, Any]:
    definition = SCHEMAS[call.object_type][name]
    if name == OWNER_PROPERTY:  # the owner property offers the account's owners
        definition = replace(definition, options=call.sandbox.store.owners.options())
    return definition.to_json()


def list_properties(call: Call) -> Reply:
    return 200, {"results": [_described(call, name) for name in SCHEMAS[call.object_type]]}


def get_property(call: Call) -> Reply:
    if call.path["propertyName"] not in SCHEMAS[call.object_type]:
        raise ApiError(404, "OBJECT_NOT_FOUND", f"Unable to find property {call.path['propertyName']}")
    return 200, _described(call, call.path["propertyName"])


# -- v3 owners ------------------------------------------------------------------------------------


MAX_OWNERS_PAGE = 500  # GET /crm/v3/owners pages hold at most 500 owners


def list_owners(call: Call) -> Reply:
    try:
        limit = min(max(int(call.query.get("limit", "100")), 1), MAX_OWNERS_PAGE)
        after = int(call.query.get("after") or 0)
    except ValueError:
        raise validation("limit and after must be integers") from None
    owners = call.sandbox.store.owners.listed(_flag(call.query, "archived"), call.query.get("email") or None)
    page = [o for o in owners if int(o.id) >= after][: limit + 1]
    body: dict[str, Any] = {"results": [o.to_json() for o in page[:limit]]}
    if len(page) > limit:
        body["paging"] = {"next": {"after": page[limit].id, "link": f"/crm/v3/owners/?after={page[limit].id}"}}
    return 200, body


def get_owner(call: Call) -> Reply:
    id_property = call.query.get("idProperty") or "id"
    if id_property not in ("id", "userId"):
        raise validation(f"idProperty must be id or userId, not {id_property}")
    owner = call.sandbox.store.owners.get(call.path["ownerId"], id_property, _flag(call.query, "archived"))
    if owner is None:
        raise ApiError(404, "OBJECT_NOT_FOUND", f"resource not found: owner {call.path['ownerId']}", context={})
    return 200, owner.to_json()


OBJECTS = "/crm/v3/objects/{objectType}"
V4_OBJECTS = "/crm/v4/objects/{objectType}/{objectId}/associations"
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", OBJECTS, list_objects, "read"),
    Endpoint("POST", OBJECTS, create_object, "write"),
    Endpoint("POST", OBJECTS + "/search", search_objects, "read", search=True),
    Endpoint("POST", OBJECTS + "/batch/read", batch_read, "read"),
    Endpoint("POST", OBJECTS + "/batch/create", batch_create, "write"),
    Endpoint("POST", OBJECTS + "/batch/update", batch_update, "write"),
    Endpoint("POST", OBJECTS + "/batch/upsert", batch_upsert, "write"),
    Endpoint("POST", OBJECTS + "/batch/archive", batch_archive, "write"),
    Endpoint("GET", OBJECTS + "/{objectId}", get_object, "read"),
    Endpoint("PATCH", OBJECTS + "/{objectId}", update_object, "write"),
    Endpoint("DELETE", OBJECTS + "/{objectId}", archive_object, "write"),
    Endpoint("PUT", V4_OBJECTS + "/default/{toObjectType}/{toObjectId}", associate_default, "write"),
    Endpoint("PUT", V4_OBJECTS + "/{toObjectType}/{toObjectId}", associate_labelled, "write"),
    Endpoint("DELETE", V4_OBJECTS + "/{toObjectType}/{toObjectId}", remove_association, "write"),
    Endpoint("GET", V4_OBJECTS + "/{toObjectType}", list_associations, "read"),
    Endpoint("POST", "/crm/v4/associations/{objectType}/{toObjectType}/batch/associate/default",
             batch_associate_default, "write"),
    Endpoint("POST", "/crm/v4/associations/{objectType}/{toObjectType}/batch/read", batch_read_associations, "read"),
    Endpoint("POST", "/crm/v4/associations/{objectType}/{toObjectType}/batch/archive", batch_archive_associations,
             "write"),
    # The client asks for /crm/v3/owners/ with its trailing slash; people type it without.
    Endpoint("GET", "/crm/v3/owners/", list_owners, "owners"),
    Endpoint("GET", "/crm/v3/owners", list_owners, "owners"),
    Endpoint("GET", "/crm/v3/owners/{ownerId}", get_owner, "owners"),
    Endpoint("GET", "/crm/v3/properties/{objectType}", list_properties, "schema"),
    Endpoint("GET", "/crm/v3/properties/{objectType}/{propertyName}", get_property, "schema"),
)

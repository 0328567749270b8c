"""REST resources: versions, describe, rows by id and external id, query, updated/deleted, limits, collections."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from starlette.responses import Response

from connectors.salesforce.sandbox import describe as describing
from connectors.salesforce.sandbox import query as soql_query
from connectors.salesforce.sandbox.api_errors import ApiError, RecordRejectedError, SfError, not_found, refuse
from connectors.salesforce.sandbox.ids import normalize
from connectors.salesforce.sandbox.routing import Call, Handler, Route, json_response, route
from connectors.salesforce.sandbox.schema import SObjectType, sobject, sobject_of_id
from connectors.salesforce.sandbox.store import Record
from connectors.salesforce.sandbox.values import parse_datetime, render
from connectors.salesforce.sandbox.writes import MultipleMatchesError

# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections.htm
COLLECTION_LIMIT = 200
# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_getupdated.htm
REPLICATION_DAYS = 30
_ROLLED_BACK = SfError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
)


def _stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def record_body(record: Record, version: str, fields: list[str] | None = None) -> dict[str, Any]:
    """A record as GET /sobjects/{type}/{id} answers it."""
    t = sobject(record.sobject)
    assert t is not None
    wanted = [t.field(name) for name in fields] if fields else list(t.fields)
    body: dict[str, Any] = {"attributes": soql_query.attributes(record, version)}
    for f in wanted:
        if f is not None:
            body[f.name] = render(f, record.values.get(f.name))
    return body


def _several(call: Call, records: list[Record]) -> Response:
    """300 Multiple Choices: the urls of every record an external id matches."""
    return json_response([f"{call.base}/sobjects/{r.sobject}/{r.id}" for r in records], 300)


def _requested_fields(call: Call, t: SObjectType) -> list[str] | None:
    raw = call.request.query_params.get("fields")
    if not raw:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if t.field(n) is None]
    if unknown:
        raise refuse(400, "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {t.name}")
    return names


# -- resources -------------------------------------------------------------------------------------


async def versions(call: Call) -> Response:
    return json_response(
        [{"label": "Winter '24", "url": f"/services/data/v{call.state.version}", "version": call.state.version}]
    )


async def resources(call: Call) -> Response:
    names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
    return json_response({name: f"{call.base}/{name}" for name in names})


async def global_describe(call: Call) -> Response:
    return json_response(describing.describe_global(call.version))


async def basic_info(call: Call) -> Response:
    return json_response(describing.basic_info(call.sobject(), call.version))


async def describe(call: Call) -> Response:
    return json_response(describing.describe(call.sobject(), call.version))


async def limits(call: Call) -> Response:
    return json_response(call.state.allocation.resource())


# -- single records --------------------------------------------------------------------------------


async def create(call: Call) -> Response:
    t = call.sobject()
    if not t.createable:
        raise refuse(403, "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object")
    record = call.state.writer.create(t, await call.json_object(), call.user)
    return json_response({"id": record.id, "success": True, "errors": []}, 201)


def _by_id(call: Call, t: SObjectType) -> Record:
    raw = call.params["id"]
    full = normalize(raw)
    if full is None:
        # A path segment that is not an id reads as an external id field name
        raise refuse(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {raw}")
    record = call.state.store.get(full, include_deleted=True)
    if record is None or record.sobject != t.name:
        raise not_found()
    if record.deleted:
        raise RecordRejectedError([SfError("ENTITY_IS_DELETED", "entity is deleted")], status=404)
    return record


async def get(call: Call) -> Response:
    t = call.sobject()
    try:
        record = _by_id(call, t)
    except RecordRejectedError:
        raise not_found() from None  # reading a deleted record is a plain 404
    return json_response(record_body(record, call.version, _requested_fields(call, t)))


async def update(call: Call) -> Response:
    t = call.sobject()
    record = _by_id(call, t)
    call.state.writer.update(t, record.id, await call.json_object(), call.user)
    return Response(status_code=204)


async def delete(call: Call) -> Response:
    t = call.sobject()
    record = _by_id(call, t)
    call.state.writer.delete(t, record.id, call.user)
    return Response(status_code=204)


def _key_field(call: Call, t: SObjectType) -> str:
    key = t.field(call.params["field"])
    if key is None or not (key.external_id or key.name == "Id"):
        raise refuse(
            404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {call.params['field']}"
        )
    return key.name


async def get_by_external_id(call: Call) -> Response:
    t = call.sobject()
    key = _key_field(call, t)
    if key == "Id":
        call.params["id"] = call.params["value"]
        return await get(call)
    matches = call.state.store.find(t.name, key, call.params["value"])
    if not matches:
        raise not_found()
    if len(matches) > 1:
        return _several(call, matches)
    return json_response(record_body(matches[0], call.version, _requested_fields(call, t)))


async def upsert(call: Call) -> Response:
    t = call.sobject()
    key = _key_field(call, t)
    body = await call.json_object()
    try:
        outcome = call.state.writer.upsert(t, key, call.params["value"], body, call.user)
    except MultipleMatchesError as several:
        return _several(call, [r for r in map(call.state.store.get, several.ids) if r is not None])
    result = {"id": outcome.record.id, "success": True, "errors": [], "created": outcome.created}
    return json_response(result, 201 if outcome.created else 200)


async def delete_by_external_id(call: Call) -> Response:
    t = call.sobject()
    key = _key_field(call, t)
    matches = call.state.store.find(t.name, key, call.params["value"])
    if not matches:
        raise not_found()
    if len(matches) > 1:
        return _several(call, matches)
    call.state.writer.delete(t, matches[0].id, call.user)
    return Response(status_code=204)


# -- changes ---------------------------------------------------------------------------------------


def _window(call: Call) -> tuple[datetime, datetime]:
    params = call.request.query_params
    try:
        # a literal '+' in a query string reads as a space
        start = parse_datetime(params["start"].replace(" ", "+"))
        end = parse_datetime(params["end"].replace(" ", "+"))
    except (KeyError, ValueError):
        raise refuse(400, "MISSING_ARGUMENT", "start and end are required ISO 8601 date-times") from None
    now = call.state.clock.now()
    if end < start:
        raise refuse(400, "INVALID_REPLICATION_DATE", "EndDate can not be before StartDate")
    if start < now - timedelta(days=REPLICATION_DAYS):
        raise refuse(400, "INVALID_REPLICATION_DATE", f"startDate cannot be more than {REPLICATION_DAYS} days ago")
    latest = min(end, now).replace(second=0, microsecond=0)  # Salesforce covers whole minutes
    return start.replace(second=0, microsecond=0), latest


async def updated(call: Call) -> Response:
    t = call.sobject()
    start, latest = _window(call)
    rows = [r for r in call.state.store.rows(t.name) if start <= r.values["SystemModstamp"] < latest]
    rows.sort(key=lambda r: (r.values["SystemModstamp"], r.id))
    return json_response({"ids": [r.id for r in rows], "latestDateCovered": _stamp(latest)})


async def deleted(call: Call) -> Response:
    t = call.sobject()
    start, latest = _window(call)
    gone = [r for r in call.state.store.rows(t.name, include_deleted=True) if r.deleted]
    rows = sorted(
        (r for r in gone if start <= r.values["SystemModstamp"] < latest),
        key=lambda r: (r.values["SystemModstamp"], r.id),
    )
    earliest = min((r.values["SystemModstamp"] for r in gone), default=start)
    return json_response(
        {
            "deletedRecords": [{"id": r.id, "deletedDate": _stamp(r.values["SystemModstamp"])} for r in rows],
            "earliestDateAvailable": _stamp(earliest),
            "latestDateCovered": _stamp(latest),
        }
    )


# -- query -----------------------------------------------------------------------------------------


def _query(include_deleted: bool) -> tuple[Handler, Handler]:
    resource = "queryAll" if include_deleted else "query"

    async def handler(call: Call) -> Response:
        text = call.request.query_params.get("q", "")
        state = call.state
        the_plan, records, rows = soql_query.run(text, state.store, state.clock.now(), include_deleted, call.version)
        if the_plan.query.count:
            return json_response({"totalSize": len(records), "done": True, "records": []})
        size = soql_query.page_size(call.request.headers.get("Sforce-Query-Options"))
        return json_response(state.cursors.page(rows, 0, size, f"{call.base}/{resource}"))

    async def more(call: Call) -> Response:
        size = soql_query.page_size(call.request.headers.get("Sforce-Query-Options"))
        return json_response(call.state.cursors.more(call.params["locator"], size, f"{call.base}/{resource}"))

    return handler, more


_query_handler, _query_more = _query(False)
_query_all_handler, _query_all_more = _query(True)


# -- sObject collections ---------------------------------------------------------------------------


def _failure(errors: Sequence[SfError], record_id: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"success": False, "errors": [e.record() for e in errors]}
    if record_id:
        result["id"] = record_id
    return result


def _collection(
    call: Call, records: list[Any], all_or_none: bool, apply: Callable[[dict[str, Any]], dict[str, Any]]
) -> Response:
    if len(records) > COLLECTION_LIMIT:
        raise refuse(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {COLLECTION_LIMIT} records into this call",
        )
    if not all(isinstance(r, dict) for r in records):
        raise refuse(400, "JSON_PARSER_ERROR", "each record must be a JSON object")
    if call.lock_rows:
        locked = SfError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records")
        return json_response([_failure([locked], r.get("Id")) for r in records])
    results: list[dict[str, Any]] = []
    with call.state.store.atomic() as tx:
        for record in records:
            try:
                results.append(apply(record))
            except RecordRejectedError as errors:
                results.append(_failure(errors.errors, record.get("Id")))
            except ApiError as error:
                results.append(_failure(error.errors, record.get("Id")))
        if all_or_none and not all(r["success"] for r in results):
            tx.rollback()
            results = [r if not r["success"] else _failure([_ROLLED_BACK]) for r in results]
    return json_response(results)


def _typed(record: dict[str, Any], fallback: SObjectType | None = None) -> SObjectType:
    name = (record.get("attributes") or {}).get("type")
    found = sobject(str(name)) if name else fallback
    if found is None:
        raise RecordRejectedError([SfError("INVALID_TYPE", f"sObject type '{name}' is not supported.")])
    return found


def _records(body: dict[str, Any]) -> tuple[list[Any], bool]:
    records = body.get("records")
    if not isinstance(records, list):
        raise refuse(400, "JSON_PARSER_ERROR", "records must be a JSON array")
    return records, bool(body.get("allOrNone", False))


async def collection_create(call: Call) -> Response:
    records, all_or_none = _records(await call.json_object())

    def apply(record: dict[str, Any]) -> dict[str, Any]:
        t = _typed(record)
        if not t.createable:
            raise RecordRejectedError(
                [SfError("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object")]
            )
        created = call.state.writer.create(t, record, call.user)
        return {"id": created.id, "success": True, "errors": []}

    return _collection(call, records, all_or_none, apply)


async def collection_update(call: Call) -> Response:
    records, all_or_none = _records(await call.json_object())

    def apply(record: dict[str, Any]) -> dict[str, Any]:
        record_id = record.get("Id")
        if not record_id:
            raise RecordRejectedError([SfError("MISSING_ARGUMENT", "Id not specified in an update call", ("Id",))])
        t = _typed(record, sobject_of_id(str(record_id)))
        rest = {k: v for k, v in record.items() if k not in ("Id", "attributes")}
        updated_record = call.state.writer.update(t, str(record_id), rest, call.user)
        return {"id": updated_record.id, "success": True, "errors": []}

    return _collection(call, records, all_or_none, apply)


async def collection_upsert(call: Call) -> Response:
    t = call.sobject()
    key = _key_field(call, t)
    records, all_or_none = _records(await call.json_object())
    values = [str(r.get(key) or "").lower() for r in records if isinstance(r, dict)]
    repeated = {v for v in values if v and values.count(v) > 1}

    def apply(record: dict[str, Any]) -> dict[str, Any]:
        if _typed(record, t).name != t.name:
            raise RecordRejectedError([SfError("INVALID_TYPE", f"records must all be of type {t.name}")])
        value = record.get(key)
        if value in (None, "") and key != "Id":
            raise RecordRejectedError([SfError("MISSING_ARGUMENT", f"{key} not specified", (key,))])
        if str(value).lower() in repeated:
            raise RecordRejectedError(
                [SfError("DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {value}", (key,))]
            )
        try:
            outcome = call.state.writer.upsert(t, key, value, record, call.user)
        except MultipleMatchesError as several:
            raise RecordRejectedError(
                [
                    SfError(
                        "DUPLICATE_EXTERNAL_ID",
                        f"{key}: more than one record found for external id field: {several.ids}",
                    )
                ]
            ) from None
        return {"id": outcome.record.id, "success": True, "errors": [], "created": outcome.created}

    return _collection(call, records, all_or_none, apply)


async def collection_delete(call: Call) -> Response:
    params = call.request.query_params
    ids = [i for i in params.get("ids", "").split(",") if i]
    all_or_none = params.get("allOrNone", "false").lower() == "true"

    def apply(record: dict[str, Any]) -> dict[str, Any]:
        target = call.state.writer.find(None, str(record["Id"]))
        call.state.writer.delete(None, target.id, call.user)
        return {"id": target.id, "success": True, "errors": []}

    return _collection(call, [{"Id": i} for i in ids], all_or_none, apply)


ROUTES: list[Route] = [
    route("GET", "/services/data", "versions", versions, authenticated=False, counted=False),
    route("GET", "", "resources", resources),
    route("GET", "/sobjects", "describe.global", global_describe),
    route("GET", r"/sobjects/(?P<type>\w+)", "sobject.info", basic_info),
    route("POST", r"/sobjects/(?P<type>\w+)", "sobject.create", create, write=True),
    route("GET", r"/sobjects/(?P<type>\w+)/describe", "sobject.describe", describe),
    route("GET", r"/sobjects/(?P<type>\w+)/updated", "sobject.updated", updated),
    route("GET", r"/sobjects/(?P<type>\w+)/deleted", "sobject.deleted", deleted),
    route("GET", r"/sobjects/(?P<type>\w+)/(?P<id>[^/]+)", "sobject.get", get),
    route("PATCH", r"/sobjects/(?P<type>\w+)/(?P<id>[^/]+)", "sobject.update", update, write=True),
    route("DELETE", r"/sobjects/(?P<type>\w+)/(?P<id>[^/]+)", "sobject.delete", delete, write=True),
    route(
        "GET",
        r"/sobjects/(?P<type>\w+)/(?P<field>\w+)/(?P<value>[^/]+)",
        "sobject.get_by_external_id",
        get_by_external_id,
    ),
    route("PATCH", r"/sobjects/(?P<type>\w+)/(?P<field>\w+)/(?P<value>[^/]+)", "sobject.upsert", upsert, write=True),
    route(
        "DELETE",
        r"/sobjects/(?P<type>\w+)/(?P<field>\w+)/(?P<value>[^/]+)",
        "sobject.delete_by_external_id",
        delete_by_external_id,
        write=True,
    ),
    route("GET", "/query", "query", _query_handler),
    route("GET", r"/query/(?P<locator>[\w-]+)", "query.more", _query_more),
    route("GET", "/queryAll", "queryAll", _query_all_handler),
    route("GET", r"/queryAll/(?P<locator>[\w-]+)", "queryAll.more", _query_all_more),
    route("GET", "/limits", "limits", limits),
    route("POST", "/composite/sobjects", "composite.create", collection_create, write=True, collection=True),
    route("PATCH", "/composite/sobjects", "composite.update", collection_update, write=True, collection=True),
    route("DELETE", "/composite/sobjects", "composite.delete", collection_delete, write=True, collection=True),
    route(
        "PATCH",
        r"/composite/sobjects/(?P<type>\w+)/(?P<field>\w+)",
        "composite.upsert",
        collection_upsert,
        write=True,
        collection=True,
    ),
]

"""The Bulk API 2.0 HTTP resources under /jobs/ingest and /jobs/query."""

from __future__ import annotations

from starlette.responses import Response

from connectors.salesforce.sandbox.api_errors import refuse
from connectors.salesforce.sandbox.routing import Call, Route, json_response, route

CSV = "text/csv; charset=UTF-8"


async def create_ingest(call: Call) -> Response:
    return json_response(call.state.jobs.create_ingest(await call.json_object(), call.user))


async def list_ingest(call: Call) -> Response:
    return json_response(call.state.jobs.list("ingest"))


async def ingest_info(call: Call) -> Response:
    return json_response(call.state.jobs.info(call.params["job"], "ingest"))


async def upload(call: Call) -> Response:
    call.state.jobs.upload(call.params["job"], await call.request.body())
    return Response(status_code=201)  # simple-salesforce accepts exactly 201 here


async def ingest_state(call: Call) -> Response:
    body = await call.json_object()
    return json_response(call.state.jobs.set_state(call.params["job"], str(body.get("state")), call.user))


async def delete_ingest(call: Call) -> Response:
    call.state.jobs.delete(call.params["job"], "ingest")
    return Response(status_code=204)


async def ingest_results(call: Call) -> Response:
    return Response(call.state.jobs.results(call.params["job"], call.params["which"]), media_type=CSV)


async def create_query(call: Call) -> Response:
    return json_response(call.state.jobs.create_query(await call.json_object(), call.user))


async def list_query(call: Call) -> Response:
    return json_response(call.state.jobs.list("query"))


async def query_info(call: Call) -> Response:
    return json_response(call.state.jobs.info(call.params["job"], "query"))


async def query_state(call: Call) -> Response:
    body = await call.json_object()
    if body.get("state") != "Aborted":
        raise refuse(400, "INVALIDJOB", "InvalidJob : a query job can only be aborted")
    return json_response(call.state.jobs.info(call.params["job"], "query"))


async def delete_query(call: Call) -> Response:
    call.state.jobs.delete(call.params["job"], "query")
    return Response(status_code=204)


async def query_results(call: Call) -> Response:
    params = call.request.query_params
    raw_max = params.get("maxRecords", "")
    text, count, locator = call.state.jobs.query_results(
        call.params["job"], params.get("locator") or None, int(raw_max) if raw_max.isdigit() else None
    )
    headers = {"Sforce-NumberOfRecords": str(count), "Sforce-Locator": locator}
    return Response(text, media_type=CSV, headers=headers)


_JOB = r"(?P<job>\w+)"
ROUTES: list[Route] = [
    route("POST", "/jobs/ingest", "bulk2.ingest.create", create_ingest),
    route("GET", "/jobs/ingest", "bulk2.ingest.list", list_ingest),
    route("GET", f"/jobs/ingest/{_JOB}", "bulk2.ingest.get", ingest_info),
    route("PATCH", f"/jobs/ingest/{_JOB}", "bulk2.ingest.state", ingest_state, write=True),
    route("DELETE", f"/jobs/ingest/{_JOB}", "bulk2.ingest.delete", delete_ingest),
    route("PUT", f"/jobs/ingest/{_JOB}/batches", "bulk2.ingest.upload", upload),
    route(
        "GET",
        f"/jobs/ingest/{_JOB}/(?P<which>successfulResults|failedResults|unprocessedRecords)",
        "bulk2.ingest.results",
        ingest_results,
    ),
    route("POST", "/jobs/query", "bulk2.query.create", create_query),
    route("GET", "/jobs/query", "bulk2.query.list", list_query),
    route("GET", f"/jobs/query/{_JOB}", "bulk2.query.get", query_info),
    route("PATCH", f"/jobs/query/{_JOB}", "bulk2.query.state", query_state),
    route("DELETE", f"/jobs/query/{_JOB}", "bulk2.query.delete", delete_query),
    route("GET", f"/jobs/query/{_JOB}/results", "bulk2.query.results", query_results),
]

"""Bulk API 2.0: ingest jobs (insert, update, upsert, delete from CSV, with result CSVs) and query jobs."""

from __future__ import annotations

import base64
import csv
import io
import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.salesforce.sandbox import query as soql_query
from connectors.salesforce.sandbox.api_errors import ApiError, RecordRejectedError, SfError, refuse
from connectors.salesforce.sandbox.ids import JOB_PREFIX, make_id
from connectors.salesforce.sandbox.schema import SObjectType, sobject
from connectors.salesforce.sandbox.store import Store
from connectors.salesforce.sandbox.values import CoercionError
from connectors.salesforce.sandbox.writes import MultipleMatchesError, Writer
from sync_core.ports import Clock

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
# https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/bulk_common_limits.htm
MAX_UPLOAD_BYTES = 150 * 1024 * 1024


@dataclass
class Job:
    id: str
    kind: str  # ingest or query
    operation: str
    object: str
    created_by: str
    created: datetime
    delimiter: str
    line_ending: str
    external_id_field: str | None = None
    query: str | None = None
    state: str = "Open"
    modstamp: datetime | None = None
    uploads: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    successful: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)  # query results, header first
    error_message: str | None = None

    def info(self, version: str) -> dict[str, Any]:
        stamp = (self.modstamp or self.created).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": self.created.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "systemModstamp": stamp,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version),
            "jobType": "V2Ingest" if self.kind == "ingest" else "V2Query",
            "lineEnding": next(k for k, v in LINE_ENDINGS.items() if v == self.line_ending),
            "columnDelimiter": next(k for k, v in DELIMITERS.items() if v == self.delimiter),
        }
        if self.kind == "ingest":
            body["externalIdFieldName"] = self.external_id_field
            body["contentUrl"] = f"services/data/v{version}/jobs/ingest/{self.id}/batches"
            body["numberRecordsProcessed"] = len(self.successful) + len(self.failed)
            body["numberRecordsFailed"] = len(self.failed)
        else:
            body["numberRecordsProcessed"] = max(0, len(self.rows) - 1)
        body.update(retries=0, totalProcessingTime=0, apiActiveProcessingTime=0, apexProcessingTime=0)
        if self.error_message:
            body["errorMessage"] = self.error_message
        return body


def _csv_text(rows: list[list[str]], delimiter: str = ",", line_ending: str = "\n") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=line_ending, quoting=csv.QUOTE_ALL)
    writer.writerows(rows)
    return out.getvalue()


def _invalid_job(message: str) -> ApiError:
    return refuse(400, "INVALIDJOB", message)


class Jobs:
    """Every Bulk API 2.0 job of the sandbox, processed as soon as its data is complete."""

    def __init__(self, writer: Writer, store: Store, clock: Clock, version: str) -> None:
        self._writer = writer
        self._store = store
        self._clock = clock
        self._version = version
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._numbers = itertools.count(1)

    def clear(self) -> None:
        with self._lock:
            self._jobs.clear()

    def _get(self, job_id: str, kind: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.kind != kind:
            raise refuse(404, "NOT_FOUND", f"Job not found: {job_id}")
        return job

    def _new(self, kind: str, operation: str, t_name: str, user: str, body: Mapping[str, Any]) -> Job:
        delimiter = DELIMITERS.get(str(body.get("columnDelimiter", "COMMA")))
        line_ending = LINE_ENDINGS.get(str(body.get("lineEnding", "LF")))
        if delimiter is None or line_ending is None:
            raise _invalid_job("InvalidJob : invalid columnDelimiter or lineEnding")
        if str(body.get("contentType", "CSV")) != "CSV":
            raise _invalid_job("InvalidJob : contentType must be CSV")
        with self._lock:
            job_id = make_id(JOB_PREFIX, next(self._numbers))
            job = Job(job_id, kind, operation, t_name, user, self._clock.now(), delimiter, line_ending)
            self._jobs[job_id] = job
        return job

    # -- ingest -----------------------------------------------------------------------------------

    def create_ingest(self, body: Mapping[str, Any], user: str) -> dict[str, Any]:
        t = sobject(str(body.get("object", "")))
        operation = str(body.get("operation", ""))
        if t is None:
            raise _invalid_job(f"InvalidJob : Unable to find object: {body.get('object')}")
        if operation not in INGEST_OPERATIONS:
            raise _invalid_job(f"InvalidJob : Invalid operation: {operation}")
        external = body.get("externalIdFieldName")
        if operation == "upsert":
            key = t.field(str(external or ""))
            if key is None or not (key.external_id or key.name == "Id"):
                raise _invalid_job(
                    f"InvalidJob : Field name provided, {external} is not an External ID or indexed field"
                )
        job = self._new("ingest", operation, t.name, user, body)
        job.external_id_field = str(external) if operation == "upsert" else None
        return job.info(self._version)

    def upload(self, job_id: str, data: bytes) -> None:
        job = self._get(job_id, "ingest")
        if job.state != "Open":
            raise refuse(409, "INVALIDJOBSTATE", f"Job {job_id} is not open for data upload: {job.state}")
        if len(data) > MAX_UPLOAD_BYTES:
            raise refuse(400, "INVALIDBATCH", "CSV data exceeds 150 MB")
        job.uploads.append(data.decode("utf-8-sig"))

    def set_state(self, job_id: str, state: str, user: str) -> dict[str, Any]:
        job = self._get(job_id, "ingest")
        if state == "Aborted":
            if job.state in ("JobComplete", "Failed"):
                raise refuse(409, "INVALIDJOBSTATE", f"Job {job_id} is already {job.state}")
            job.state = "Aborted"
        elif state == "UploadComplete":
            if job.state != "Open":
                raise refuse(409, "INVALIDJOBSTATE", f"Job {job_id} is not Open: {job.state}")
            job.state = "UploadComplete"
            info = job.info(self._version)
            self._process(job, user)
            return info  # the answer to the PATCH still says UploadComplete; a GET then sees the outcome
        else:
            raise _invalid_job(f"InvalidJob : cannot change state to {state}")
        job.modstamp = self._clock.now()
        return job.info(self._version)

    def info(self, job_id: str, kind: str) -> dict[str, Any]:
        return self._get(job_id, kind).info(self._version)

    def delete(self, job_id: str, kind: str) -> None:
        job = self._get(job_id, kind)
        with self._lock:
            self._jobs.pop(job.id, None)

    def list(self, kind: str) -> dict[str, Any]:
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.kind == kind]
        return {"done": True, "records": [j.info(self._version) for j in jobs], "nextRecordsUrl": None}

    def results(self, job_id: str, which: str) -> str:
        job = self._get(job_id, "ingest")
        if which == "successfulResults":
            return _csv_text([["sf__Id", "sf__Created", *job.header], *job.successful])
        if which == "failedResults":
            return _csv_text([["sf__Id", "sf__Error", *job.header], *job.failed])
        return _csv_text([job.header, *job.unprocessed] if job.header else [])

    def _process(self, job: Job, user: str) -> None:
        t = sobject(job.object)
        assert t is not None
        rows: list[list[str]] = []
        for upload in job.uploads:
            parsed = list(csv.reader(io.StringIO(upload, newline=""), delimiter=job.delimiter))
            if not parsed:
                continue
            if job.header and parsed[0] != job.header:
                self._fail(job, "InvalidBatch : all uploads of a job must have the same header")
                return
            job.header = parsed[0]
            rows.extend(r for r in parsed[1:] if r)
        problem = self._check_header(t, job)
        if problem:
            self._fail(job, problem)
            return
        for row in rows:
            cells = dict(zip(job.header, row, strict=False))
            try:
                outcome = self._apply(t, job, cells, user)
            except RecordRejectedError as errors:
                job.failed.append(["", " ".join(e.bulk() for e in errors.errors), *row])
            except CoercionError as error:
                failure = SfError("INVALID_TYPE_ON_FIELD_IN_RECORD", str(error), (error.field.name,))
                job.failed.append(["", failure.bulk(), *row])
            except MultipleMatchesError as many:
                failure = SfError(
                    "DUPLICATE_EXTERNAL_ID",
                    f"{job.external_id_field}: more than one record found for external id field: {many.ids}",
                )
                job.failed.append(["", failure.bulk(), *row])
            else:
                job.successful.append([outcome[0], "true" if outcome[1] else "false", *row])
        job.state = "JobComplete"
        job.modstamp = self._clock.now()

    def _apply(self, t: SObjectType, job: Job, cells: dict[str, str], user: str) -> tuple[str, bool]:
        if job.operation == "insert":
            return self._writer.create(t, cells, user, csv=True).id, True
        record_id = next((v for k, v in cells.items() if k.lower() == "id"), "")
        if job.operation == "update":
            rest = {k: v for k, v in cells.items() if k.lower() != "id"}
            return self._writer.update(t, record_id, rest, user, csv=True).id, False
        if job.operation in ("delete", "hardDelete"):
            record = self._writer.find(t, record_id)
            self._writer.delete(t, record.id, user)
            return record.id, False
        key = str(job.external_id_field)
        value = next((v for k, v in cells.items() if k.lower() == key.lower()), "")
        upserted = self._writer.upsert(t, key, value or None, cells, user, csv=True)
        return upserted.record.id, upserted.created

    def _check_header(self, t: SObjectType, job: Job) -> str | None:
        if not job.header:
            return "InvalidBatch : no data uploaded"
        for column in job.header:
            relationship, dot, _ = column.partition(".")
            known = t.relationship(relationship) is not None if dot else t.field(column) is not None
            if not known:
                return f"InvalidBatch : Field name not found : {column}"
        lowered = [c.lower() for c in job.header]
        if job.operation in ("update", "delete", "hardDelete") and "id" not in lowered:
            return "InvalidBatch : Field name not found : Id"
        if job.operation == "upsert" and str(job.external_id_field).lower() not in lowered:
            return f"InvalidBatch : Field name not found : {job.external_id_field}"
        return None

    def _fail(self, job: Job, message: str) -> None:
        job.state = "Failed"
        job.error_message = message
        job.modstamp = self._clock.now()
        for upload in job.uploads:
            parsed = list(csv.reader(io.StringIO(upload, newline=""), delimiter=job.delimiter))
            if parsed:
                job.header = job.header or parsed[0]
                job.unprocessed.extend(r for r in parsed[1:] if r)

    # -- query --------------------------------------------------------------------------------------

    def create_query(self, body: Mapping[str, Any], user: str) -> dict[str, Any]:
        operation = str(body.get("operation", "query"))
        if operation not in ("query", "queryAll"):
            raise _invalid_job(f"InvalidJob : Invalid operation: {operation}")
        text = str(body.get("query") or "")
        plan, records, _ = soql_query.run(text, self._store, self._clock.now(), operation == "queryAll", self._version)
        if plan.query.count:
            raise _invalid_job("InvalidJob : COUNT() is not supported in Bulk API 2.0 queries")
        job = self._new("query", operation, plan.sobject.name, user, body)
        job.query = text
        job.rows = [[s.name for s in plan.select]]
        job.rows.extend(soql_query.render_csv_row(plan, r, self._store) for r in records)
        info = job.info(self._version)
        info["state"] = "UploadComplete"
        job.state = "JobComplete"
        job.modstamp = self._clock.now()
        return info

    def query_results(self, job_id: str, locator: str | None, max_records: int | None) -> tuple[str, int, str]:
        """A chunk of a query job's CSV, how many records it holds, and the locator of the next ('null' at the end)."""
        job = self._get(job_id, "query")
        if job.state != "JobComplete":
            raise refuse(400, "INVALIDJOBSTATE", f"Job {job_id} is not complete: {job.state}")
        try:
            start = int(base64.b64decode(locator).decode()) if locator else 0
        except ValueError:
            raise refuse(400, "INVALIDLOCATOR", f"invalid locator: {locator}") from None
        size = max_records or len(job.rows)
        chunk = job.rows[1 + start : 1 + start + size]
        end = start + len(chunk)
        following = base64.b64encode(str(end).encode()).decode() if end < len(job.rows) - 1 else "null"
        return _csv_text([job.rows[0], *chunk], job.delimiter, job.line_ending), len(chunk), following

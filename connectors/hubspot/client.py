"""The only module that imports `hubspot`: CRM calls through hubspot-api-client, answers as wire JSON.

Every call goes through the vendor client (auth, URLs, request models, its exception classes)
with `_preload_content=False`, so the connector reads HubSpot's JSON and response headers as
sent. Failures leave this module already translated by `errors.py`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import hubspot
import urllib3
from hubspot.crm.associations.v4 import (
    ApiException as AssociationsApiException,
)
from hubspot.crm.associations.v4 import (
    BatchInputPublicAssociationMultiArchive,
    BatchInputPublicDefaultAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicAssociationMultiArchive,
    PublicDefaultAssociationMultiPost,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.objects import (
    ApiException as ObjectsApiException,
)
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
)
from hubspot.crm.objects import (
    Configuration as ModelConfiguration,
)
from hubspot.crm.owners import ApiException as OwnersApiException
from hubspot.crm.properties import ApiException as PropertiesApiException
from hubspot.exceptions import InvalidSignatureTimestampError
from hubspot.utils.signature import Signature

from connectors.hubspot.errors import from_response, from_transport
from sync_core.api_calls import ApiCalls


def signature_is_valid(secret: str, signature: str, method: str, uri: str, body: str, timestamp: str) -> bool:
    """HubSpot's v3 webhook signature, checked by its own library: constant-time, at most 5 minutes old."""
    try:
        return bool(
            Signature.is_valid(
                signature=signature, client_secret=secret, request_body=body, http_uri=uri,
                http_method=method, signature_version="v3", timestamp=timestamp,
            )
        )
    except InvalidSignatureTimestampError:
        return False


_API_ERRORS = (ObjectsApiException, AssociationsApiException, PropertiesApiException, OwnersApiException)
_PREFIX = "x-hubspot-ratelimit-"


@dataclass(frozen=True)
class RateLimitHeaders:
    """The last `X-HubSpot-RateLimit-*` values HubSpot sent (search answers carry none)."""

    max: int | None  # requests allowed per interval
    remaining: int | None  # left in the current interval
    interval_ms: int | None
    daily: int | None  # requests allowed per day
    daily_remaining: int | None
    observed_at: datetime

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], now: datetime) -> RateLimitHeaders | None:
        values = {
            key.lower()[len(_PREFIX):]: value for key, value in headers.items() if key.lower().startswith(_PREFIX)
        }
        if not values:
            return None

        def number(name: str) -> int | None:
            try:
                return int(values[name])
            except (KeyError, ValueError):
                return None

        return cls(number("max"), number("remaining"), number("interval-milliseconds"), number("daily"),
                   number("daily-remaining"), now)


@dataclass(frozen=True)
class FilterSpec:
    """One search filter: `property_name operator value`."""

    property_name: str
    operator: str
    value: str | None = None


class _Pacer:
    """Spaces calls at least `1/per_second` apart across threads (HubSpot search: about 5 requests/s)."""

    def __init__(self, per_second: float) -> None:
        self._interval = 1.0 / per_second if per_second > 0 else 0.0
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            time.sleep(slot - now)


class HubSpotClient:
    """hubspot-api-client pointed at `base_url`, counting calls and remembering the rate-limit headers."""

    def __init__(
        self,
        base_url: str,
        access_token: str,
        *,
        timeout_seconds: float = 30.0,
        search_per_second: float = 4.0,
    ) -> None:
        # urllib3's default retry stays: it repeats only failed connections and idempotent reads, never
        # a POST that may have been applied; every other failure goes to the engine's retry policy.
        self._client = hubspot.Client.create(access_token=access_token, host=base_url.rstrip("/"))
        crm = self._client.crm
        # `.basic_api` and friends build a new API object on every access: keep the references.
        self._basic = crm.objects.basic_api
        self._batch = crm.objects.batch_api
        self._search = crm.objects.search_api
        self._properties = crm.properties.core_api
        self._associations = crm.associations.v4.batch_api
        self._owners = crm.owners.owners_api
        # Every request model built without a configuration deep-copies the default one (a large share
        # of a batch's CPU): the batch models share one copy, made once.
        self._models = ModelConfiguration.get_default_copy()
        self._timeout = timeout_seconds
        self._pacer = _Pacer(search_per_second)
        self._lock = threading.Lock()
        self._calls = ApiCalls()
        self._usage: RateLimitHeaders | None = None

    @property
    def calls(self) -> int:
        return self._calls.total

    @property
    def calls_in_thread(self) -> int:
        """Those the calling thread made."""
        return self._calls.in_thread

    @property
    def usage(self) -> RateLimitHeaders | None:
        with self._lock:
            return self._usage

    # -- calls ----------------------------------------------------------------------------------

    def search(
        self,
        object_type: str,
        filters: Sequence[FilterSpec],
        *,
        sort: str | None = None,
        descending: bool = False,
        properties: Sequence[str] = (),
        limit: int = 200,
        after: str | None = None,
    ) -> dict[str, Any]:
        """POST /crm/v3/objects/{object_type}/search with one filter group (its filters ANDed)."""
        group = FilterGroup(filters=[Filter(property_name=f.property_name, operator=f.operator, value=f.value)
                                     for f in filters])
        request = PublicObjectSearchRequest(
            filter_groups=[group] if filters else [],
            # HubSpot takes sorts as objects; the client's model types them as strings, but serialises dicts.
            sorts=[{"propertyName": sort, "direction": "DESCENDING" if descending else "ASCENDING"}] if sort else None,
            properties=list(properties),
            limit=limit,
            after=after,
        )
        self._pacer.wait()
        return self._call(self._search.do_search, object_type, request, search=True)

    def batch_read(
        self, object_type: str, ids: Sequence[str], properties: Sequence[str], id_property: str | None = None
    ) -> dict[str, Any]:
        body = BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i, local_vars_configuration=self._models) for i in ids],
            properties=list(properties), properties_with_history=[], id_property=id_property,
            local_vars_configuration=self._models,
        )
        return self._call(self._batch.read, object_type, body)

    def batch_upsert(self, object_type: str, inputs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """inputs: {idProperty, id, properties, objectWriteTraceId}."""
        body = BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
            SimplePublicObjectBatchInputUpsert(
                id_property=item["idProperty"], id=item["id"], properties=dict(item["properties"]),
                object_write_trace_id=item.get("objectWriteTraceId"), local_vars_configuration=self._models,
            )
            for item in inputs
        ], local_vars_configuration=self._models)
        return self._call(self._batch.upsert, object_type, body)

    def batch_update(self, object_type: str, inputs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """inputs: {id, properties, objectWriteTraceId}."""
        body = BatchInputSimplePublicObjectBatchInput(inputs=[
            SimplePublicObjectBatchInput(
                id=item["id"], properties=dict(item["properties"]),
                object_write_trace_id=item.get("objectWriteTraceId"), local_vars_configuration=self._models,
            )
            for item in inputs
        ], local_vars_configuration=self._models)
        return self._call(self._batch.update, object_type, body)

    def associate(self, from_type: str, to_type: str, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """Default (unlabelled) associations, at most 100 pairs per call."""
        body = BatchInputPublicDefaultAssociationMultiPost(inputs=[
            PublicDefaultAssociationMultiPost(_from={"id": a}, to={"id": b}) for a, b in pairs
        ])
        return self._call(self._associations.create_default, from_type, to_type, body)

    def dissociate(self, from_type: str, to_type: str, links: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        """Remove the associations from each record to the given ones (v4 batch archive), at most 100 records."""
        body = BatchInputPublicAssociationMultiArchive(inputs=[
            PublicAssociationMultiArchive(_from={"id": a}, to=[{"id": b} for b in targets])
            for a, targets in links.items()
        ])
        return self._call(self._associations.archive, from_type, to_type, body)

    def owners(self, *, archived: bool = False, after: str | None = None, limit: int = 500) -> dict[str, Any]:
        """One page of the account's owners (GET /crm/v3/owners), the active ones or the archived ones."""
        return self._call(self._owners.get_page, archived=archived, after=after, limit=limit)

    def associations(self, from_type: str, to_type: str, ids: Sequence[str]) -> dict[str, Any]:
        """The records of `to_type` each of `ids` is associated with (v4 batch read), at most 1,000 ids."""
        body = BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in ids]
        )
        return self._call(self._associations.get_page, from_type, to_type, body)

    def list_page(self, object_type: str, limit: int = 1) -> dict[str, Any]:
        return self._call(self._basic.get_page, object_type, limit=limit)

    def list_objects(
        self, object_type: str, *, limit: int, after: str | None, properties: Sequence[str]
    ) -> dict[str, Any]:
        """GET /crm/v3/objects/{object_type}: live records in id order, `limit` (at most 100) after the
        paging token `after`; the answer's `paging.next.after` continues, and it has no `paging` at the end."""
        return self._call(self._basic.get_page, object_type, limit=limit, after=after,
                          properties=list(properties), archived=False)

    def properties(self, object_type: str) -> list[dict[str, Any]]:
        results = self._call(self._properties.get_all, object_type)["body"].get("results") or []
        return [r for r in results if isinstance(r, dict)]

    # -- plumbing -------------------------------------------------------------------------------

    def _call(self, method: Callable[..., Any], *args: Any, search: bool = False, **kwargs: Any) -> dict[str, Any]:
        """Run one SDK call; returns {"status", "body"} or raises a seam error."""
        self._calls.add()
        try:
            response = method(*args, _preload_content=False, _request_timeout=self._timeout, **kwargs)
            try:
                data = response.data
                status = int(response.status)
                headers = dict(response.headers)
            finally:
                response.release_conn()
        except _API_ERRORS as error:
            headers = dict(error.headers or {})
            self._observe(headers)
            raise from_response(int(error.status or 0), error.body, headers, search=search) from error
        except urllib3.exceptions.HTTPError as error:
            raise from_transport(error) from error
        self._observe(headers)
        try:
            body = json.loads(data) if data else {}
        except ValueError as error:
            raise from_transport(error) from error
        return {"status": status, "body": body}

    def _observe(self, headers: Mapping[str, str]) -> None:
        usage = RateLimitHeaders.from_headers(headers, datetime.now(UTC))
        if usage is not None:
            with self._lock:
                self._usage = usage

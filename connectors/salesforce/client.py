"""The only module that talks to Salesforce: OAuth client credentials, then simple-salesforce over a trusted session.

Every failure leaves this module as a RetryableError or PermanentError (errors.py decides which).
An INVALID_SESSION_ID answer gets one fresh token and one more try; the token endpoint is never
simple-salesforce's password login (which always goes to *.salesforce.com).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast
from urllib.parse import urlparse

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.bulk2 import SFBulk2Handler, SFBulk2Type
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession, SalesforceOperationError

from connectors.salesforce import errors
from connectors.salesforce.config import SalesforceConfig
from sync_core.api_calls import ApiCalls
from sync_core.domain.errors import SyncError
from sync_core.ports import Clock

T = TypeVar("T")
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


@dataclass(frozen=True)
class LimitInfo:
    """The org's API requests used in the rolling 24 hours and its allocation, as the last response said."""

    used: int
    limit: int
    observed_at: datetime

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


@dataclass(frozen=True)
class BulkOutcome:
    """The rows of a Bulk API 2.0 ingest job's three result files (sf__Id, sf__Created / sf__Error, the columns)."""

    successful: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    unprocessed: list[dict[str, str]] = field(default_factory=list)


class _Session(requests.Session):
    """A session with a default timeout: requests has none, and a hung call would hold a worker for ever."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


class SalesforceClient:
    """One org, one OAuth identity; thread-safe enough for several workers sharing a connector."""

    def __init__(self, config: SalesforceConfig, clock: Clock) -> None:
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self.session = _Session(config.timeout_seconds)
        # trust_env off: a REQUESTS_CA_BUNDLE in the environment would otherwise override verify
        self.session.trust_env = False
        self.session.verify = config.ca_bundle or True
        self.session.hooks["response"].append(self._observe)
        self._sf: Salesforce | None = None
        self._api_calls = ApiCalls()
        self._token_calls = 0
        self.usage: LimitInfo | None = None
        self.user_id: str | None = None

    @property
    def api_calls(self) -> int:
        """REST, query and Bulk API requests made (token requests are not API calls)."""
        return self._api_calls.total

    @property
    def api_calls_in_thread(self) -> int:
        """Those the calling thread made."""
        return self._api_calls.in_thread

    @property
    def token_calls(self) -> int:
        return self._token_calls

    def _observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Count every API request and keep the usage Salesforce reports on it (Sforce-Limit-Info)."""
        with self._lock:
            if "/services/data/" in urlparse(response.url).path:
                self._api_calls.add()  # hooks run in the thread that made the request
            match = _USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
            if match:
                self.usage = LimitInfo(int(match.group(1)), int(match.group(2)), self._clock.now())

    # -- authentication ------------------------------------------------------------------------

    def connect(self) -> Salesforce:
        """A fresh token (OAuth 2.0 client credentials) and a client over it."""
        url = f"{self.config.login_url}/services/oauth2/token"
        form = {
            "grant_type": "client_credentials",
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret.get_secret_value(),
        }
        with self._translated("login"):
            with self._lock:
                self._token_calls += 1
            response = self.session.post(url, data=form, headers={"Accept": "application/json"})
            try:
                body = response.json()
            except ValueError:
                body = response.text
            if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
                raise errors.from_token_response(response.status_code, body)
            instance = self.config.instance_url or str(body["instance_url"]).rstrip("/")
            sf = Salesforce(
                instance_url=instance,
                session_id=str(body["access_token"]),
                session=self.session,
                version=self.config.api_version,
            )
            # The identity URL ends with the user id the token acts as: the integration user, whose
            # writes are Revline's own (LastModifiedById tells an echo from a person's change).
            identity = str(body.get("id") or "")
            self.user_id = identity.rstrip("/").rsplit("/", 1)[-1] if identity else self._userinfo(sf)
        self._sf = sf
        return sf

    def _userinfo(self, sf: Salesforce) -> str:
        response = self.session.get(
            f"{sf.base_url.split('/services/')[0]}/services/oauth2/userinfo",
            headers={"Authorization": f"Bearer {sf.session_id}"},
        )
        return str(response.json()["user_id"])

    def close(self) -> None:
        """Close pooled connections; the client logs in again if used afterwards."""
        self.session.close()
        self._sf = None

    def _client(self) -> Salesforce:
        return self._sf or self.connect()

    def call(self, what: str, action: Callable[[Salesforce], T]) -> T:
        """Run `action`; on INVALID_SESSION_ID get one new token and run it once more."""
        with self._translated(what):
            sf = self._client()
            try:
                return action(sf)
            except SalesforceExpiredSession:
                return action(self.connect())

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except SyncError:
            raise
        except SalesforceError as error:
            raise errors.from_response(error.status, error.content, self.config.limit_retry_seconds, what) from error
        except requests.Timeout as error:
            raise errors.from_transport(f"{what} timed out (the request may have been applied)", str(error)) from error
        except requests.ConnectionError as error:
            raise errors.from_transport(f"{what} lost its connection", str(error)) from error
        except SalesforceOperationError as error:
            if "timeout" in str(error).lower():
                raise errors.from_transport(f"{what} bulk job timed out", str(error)) from error
            raise errors.unexpected(f"{what}: {error}") from error
        except (requests.RequestException, ValueError, KeyError) as error:
            raise errors.unexpected(f"{what}: {type(error).__name__}: {error}") from error

    # -- the calls the connector makes -------------------------------------------------------------

    def query(self, soql: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Every row of a SOQL query, following nextRecordsUrl (one API call per 2,000 rows)."""

        def run(sf: Salesforce) -> list[dict[str, Any]]:
            return [dict(r) for r in sf.query_all_iter(soql, include_deleted=include_deleted)]

        return self.call("queryAll" if include_deleted else "query", run)

    def describe(self, sobject: str) -> dict[str, Any]:
        return self.call(
            f"describe {sobject}", lambda sf: cast(dict[str, Any], sf.restful(f"sobjects/{sobject}/describe"))
        )

    def limits(self) -> dict[str, Any]:
        return self.call("limits", lambda sf: cast(dict[str, Any], sf.limits()))

    def upsert_collection(self, sobject: str, key: str, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """PATCH /composite/sobjects/{sobject}/{key}: at most 200 records, one API call, allOrNone false."""
        body = {"allOrNone": False, "records": list(records)}
        return self.call(
            f"upsert {sobject}",
            lambda sf: cast(
                list[dict[str, Any]], sf.restful(f"composite/sobjects/{sobject}/{key}", method="PATCH", json=body)
            ),
        )

    def create_collection(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """POST /composite/sobjects: creates, at most 200 records, one API call, allOrNone false."""
        body = {"allOrNone": False, "records": list(records)}
        return self.call(
            "create", lambda sf: cast(list[dict[str, Any]], sf.restful("composite/sobjects", method="POST", json=body))
        )

    def delete_collection(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """DELETE /composite/sobjects?ids=: at most 200 records, one API call, allOrNone false."""
        params = {"ids": ",".join(ids), "allOrNone": "false"}
        return self.call(
            "delete",
            lambda sf: cast(list[dict[str, Any]], sf.restful("composite/sobjects", method="DELETE", params=params)),
        )

    def update_collection(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """PATCH /composite/sobjects: updates by Id, at most 200 records, one API call, allOrNone false."""
        body = {"allOrNone": False, "records": list(records)}
        return self.call(
            "update", lambda sf: cast(list[dict[str, Any]], sf.restful("composite/sobjects", method="PATCH", json=body))
        )

    def bulk_ingest(self, sobject: str, rows: list[dict[str, str]], key: str | None) -> BulkOutcome:
        """A Bulk API 2.0 upsert on `key` (None: an update by Id), waited for, with its result files read."""

        def run(sf: Salesforce) -> BulkOutcome:
            handler = SFBulk2Handler(sf.session_id, sf.bulk2_url, sf.proxies, sf.session)
            bulk = cast(SFBulk2Type, getattr(handler, sobject))
            wait = self.config.bulk_poll_seconds
            if key is None:
                jobs = bulk.update(records=rows, wait=wait)
            else:
                jobs = bulk.upsert(records=rows, external_id_field=key, wait=wait)
            outcome = BulkOutcome()
            for job in jobs:
                files = bulk.get_all_ingest_records(str(job["job_id"]))
                outcome.successful.extend(files["successfulRecords"])
                outcome.failed.extend(files["failedRecords"])
                outcome.unprocessed.extend(files["unprocessedRecords"])
            return outcome

        return self.call(f"bulk {'upsert' if key else 'update'} {sobject}", run)

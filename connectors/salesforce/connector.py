"""The Connector port over one Salesforce org: changes by SystemModstamp, reads by Id, upserts on Revline_Id__c."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from connectors.salesforce import errors
from connectors.salesforce.client import BulkOutcome, SalesforceClient
from connectors.salesforce.config import SalesforceConfig
from connectors.salesforce.cursor import ChangeCursor
from connectors.salesforce.mapping import (
    CONTACT,
    CONTACT_ROLES,
    CONVERSION_FIELDS,
    LEAD,
    LEAD_ONLY,
    LEAD_PREFIX,
    LINES,
    OWNER,
    PRICE,
    REVLINE_ID,
    conversion_record,
    is_record_id,
    line_of,
    parse_stamp,
    person_sobject,
    sobject_for,
    soql_datetime,
    soql_string,
    to_bulk_row,
    to_source_record,
    to_update_record,
    to_upsert_record,
)
from sync_core.domain.changes import ChangePage, ScanPage, SourceRecord, WriteRequest, WriteResult
from sync_core.domain.errors import ErrorCategory, PermanentError, RetryableError, SyncError
from sync_core.domain.ownership import is_blank
from sync_core.domain.people import Directory, Person
from sync_core.domain.quota import ApiUsage
from sync_core.ports import Clock

# sObject Collections take at most 200 records per call.
# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections.htm
COLLECTION_SIZE = 200
# Ids per `Id IN (...)` query: 200 quoted ids keep the GET well under Salesforce's 16,384-byte URI limit.
READ_CHUNK = 200
# A scan reads SOQL's own page: one query call per 2,000 rows (WIRE.md).
SCAN_PAGE = 2000
# A position in id order before every Lead and after every Contact (key prefixes 00Q and 003): a people scan
# reads Contacts, then Leads, and this is where it goes on to the Leads.
_BEFORE_LEADS = LEAD_PREFIX + "0" * 12
# Field types SOQL cannot select as one column (compound fields repeat their parts) or that are too big to poll.
_UNSELECTABLE = frozenset({"address", "location", "base64"})
# Always read: the change feed is ordered and deduplicated on these, and echoes are told apart by them.
_SYSTEM_COLUMNS = ("Id", "IsDeleted", "LastModifiedDate", "LastModifiedById", "SystemModstamp")


T = TypeVar("T")


def _chunks(items: Sequence[T], size: int) -> list[list[T]]:
    """`items` in lists of at most `size` (itertools.batched arrives with Python 3.12)."""
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def _feed_cursors(cursor: str | None) -> dict[str, str | None]:
    """The cursors of a contact feed's two sObjects; a cursor of a Contact-only feed continues as the Contact's."""
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("feeds"), dict):
        return {str(k): (str(v) if v else None) for k, v in data["feeds"].items()}
    return {CONTACT: cursor}


def provisional_version(record: SourceRecord) -> str:
    """The version of a record read before its second settled: its stamp and a digest of its values, since
    a later change within the same second keeps the stamp but not the values."""
    values = json.dumps(record.fields, sort_keys=True, default=str, separators=(",", ":"))
    return f"{record.version}~{hashlib.blake2b(values.encode(), digest_size=8).hexdigest()}"


class _UtcClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SalesforceConnector:
    """One Salesforce org behind the engine's Connector protocol.

    `usage()` is the org's rolling 24-hour API usage as the latest response reported it
    (Sforce-Limit-Info), `api_calls` the requests this connector made, `integration_user_id`
    the user Revline's token acts as.
    """

    def __init__(self, config: SalesforceConfig, name: str = "salesforce", clock: Clock | None = None) -> None:
        self.system = name
        self.max_batch_size = COLLECTION_SIZE
        self.config = config
        self._clock: Clock = clock or _UtcClock()
        self._client = SalesforceClient(config, self._clock)
        self._columns: dict[str, tuple[str, ...]] = {}
        self._book: str | None = None  # the standard price book's Id, read once
        # Owners cross systems as their email: OwnerIds are translated through the org's users.
        self._users = Directory(name, self._load_users, self._clock.now)

    @property
    def api_calls(self) -> int:
        return self._client.api_calls

    @property
    def api_calls_in_thread(self) -> int:
        return self._client.api_calls_in_thread

    def usage(self) -> ApiUsage | None:
        """The org's rolling 24-hour allocation from the latest Sforce-Limit-Info; None before any call."""
        seen = self._client.usage
        if seen is None:
            return None
        return ApiUsage(daily_limit=seen.limit, daily_remaining=seen.remaining)

    @property
    def integration_user_id(self) -> str | None:
        return self._client.user_id

    def close(self) -> None:
        """Release the connection pool (a worker shutting down)."""
        self._client.close()

    def check(self) -> None:
        """Log in and read the org's limits: one token request and one API call."""
        self._client.connect()
        self._client.limits()

    # -- reading ----------------------------------------------------------------------------------

    def columns(self, sobject: str) -> tuple[str, ...]:
        """Every selectable field of `sobject`, from its describe (read once per connector)."""
        if sobject not in self._columns:
            described = self._client.describe(sobject)
            names = [str(f["name"]) for f in described.get("fields", []) if f.get("type") not in _UNSELECTABLE]
            missing = [c for c in _SYSTEM_COLUMNS if c not in names]
            self._columns[sobject] = tuple(dict.fromkeys([*_SYSTEM_COLUMNS[:1], *names, *missing]))
        return self._columns[sobject]

    def read_changes(self, object_type: str, cursor: str | None, limit: int) -> ChangePage:
        """Records (deleted ones too) whose SystemModstamp moved since `cursor`, oldest first per sObject.

        The cursor stays behind records stamped within `settle_seconds` of now (their second may still
        gain records); they come provisionally meanwhile (_read_feed). Without an overlap the read
        continues exactly after the last settled (SystemModstamp, Id) delivered; with one it goes back
        `overlap_seconds` and skips what it already delivered.
        Contacts are two feeds, Leads and Contacts, each with its own cursor inside this one; a
        converted Lead is reported as news of the Contact it became.
        """
        if limit < 1:
            raise PermanentError(f"salesforce: read_changes needs a limit >= 1, not {limit}", ErrorCategory.UNEXPECTED)
        if object_type != "contact" or not self.config.leads:
            return self._read_feed(sobject_for(object_type), cursor, limit)
        cursors = _feed_cursors(cursor)
        records: list[SourceRecord] = []
        more = False
        for sobject in (LEAD, CONTACT):  # conversions first: the contact they became reads after them
            page = self._read_feed(sobject, cursors.get(sobject), limit)
            records.extend(page.records)
            cursors[sobject] = page.cursor
            more = more or page.has_more
        state = {k: v for k, v in cursors.items() if v}
        return ChangePage(tuple(records), json.dumps({"feeds": state}, sort_keys=True) if state else None, more)

    def _read_feed(self, sobject: str, cursor: str | None, limit: int) -> ChangePage:
        """One page of `sobject`'s feed: the settled records after the cursor, then the newest ones early.

        The cursor only moves through settled seconds (stamped before `settle_seconds` ago). Records
        stamped since then are handed over too, while the page has room, with a provisional version
        (their stamp and a digest of their values): the cursor stays before them, so the next read
        brings them again, and again once their second has settled, each time with the version
        their values then have. A record changed twice in its second thus reaches the engine in its
        final state, and one that did not change in between is skipped as a version already seen.
        """
        state = ChangeCursor.decode(cursor)
        overlap = timedelta(seconds=self.config.overlap_seconds)
        upper = (self._clock.now() - timedelta(seconds=self.config.settle_seconds)).replace(microsecond=0)
        conditions = []
        fetch = limit
        if state.since is not None and overlap > timedelta(0):
            lower = state.lower_bound(overlap)
            assert lower is not None
            conditions.append(f"SystemModstamp >= {soql_datetime(lower)}")
            fetch = limit + len(state.seen)  # the window's rows come back and are skipped
        elif state.since is not None:
            since = soql_datetime(parse_stamp(state.since))
            last_id = soql_string(str(state.last_id))
            conditions.append(f"(SystemModstamp > {since} OR (SystemModstamp = {since} AND Id > {last_id}))")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        soql = (
            f"SELECT {', '.join(self.columns(sobject))} FROM {sobject}{where}"
            f" ORDER BY SystemModstamp ASC, Id ASC LIMIT {fetch}"
        )
        rows = self._client.query(soql, include_deleted=True)  # queryAll: deletions are changes too
        # In (SystemModstamp, Id) order the settled rows come first, the unsettled ones after them.
        settled = [r for r in rows if parse_stamp(str(r["SystemModstamp"])) < upper]
        unsettled = rows[len(settled) :]
        new = [r for r in settled if state.is_new(str(r["Id"]), str(r["SystemModstamp"]))]
        more = (len(rows) >= fetch and not unsettled) or len(new) > limit
        fresh = new[:limit]
        following = state.after(((str(r["Id"]), str(r["SystemModstamp"])) for r in fresh), overlap)
        early = [] if more else unsettled[: limit - len(fresh)]
        rows = self._with_prices(sobject, self._with_roles(sobject, self._with_lines(sobject, [*fresh, *early])))
        records = self._records(sobject, rows)  # one record per row, in order
        records[len(fresh) :] = [replace(r, version=provisional_version(r)) for r in records[len(fresh) :]]
        return ChangePage(tuple(records), following.encode(), has_more=more)

    def _records(self, sobject: str, rows: Sequence[dict[str, Any]]) -> list[SourceRecord]:
        """Rows as SourceRecords; a converted Lead becomes news of its Contact (the lead itself is gone), and
        a Contact a lead was converted into carries that conversion (read again, it still tells it)."""
        user = self._client.user_id
        rows = [self._owned(r) for r in rows]
        if sobject == CONTACT and self.config.leads:
            rows = self._with_conversions(rows)
        if sobject != LEAD:
            return [to_source_record(r, user) for r in rows]
        found = []
        for row in rows:
            converted = conversion_record(row, user)
            found.append(converted if converted is not None else to_source_record(row, user))
        return found

    def read(self, object_type: str, ids: Sequence[str]) -> list[SourceRecord]:
        """The current state of records by Salesforce Id; unknown, malformed and deleted ids are left out."""
        wanted = [i for i in dict.fromkeys(ids) if is_record_id(i)]
        by_sobject: dict[str, list[str]] = {}
        for record_id in wanted:
            people = object_type == "contact" and self.config.leads
            sobject = person_sobject(record_id, {}) if people else sobject_for(object_type)
            by_sobject.setdefault(sobject, []).append(record_id)
        found: list[SourceRecord] = []
        for sobject, some in by_sobject.items():
            for chunk in _chunks(some, READ_CHUNK):
                quoted = ", ".join(soql_string(i) for i in chunk)
                soql = f"SELECT {', '.join(self.columns(sobject))} FROM {sobject} WHERE Id IN ({quoted})"
                rows = self._client.query(soql)
                rows = self._with_prices(sobject, self._with_roles(sobject, self._with_lines(sobject, rows)))
                found.extend(self._records(sobject, rows))
        return found

    def _owned(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row with its owner as the user's email. A record Revline's integration user owns has no owner
        of its own (Salesforce gave it one on create): it reads as unowned. An owner that is not a user with
        an email (a lead queue) is left out: it reads as unknown, and no other system's owner is cleared."""
        owner = row.get(OWNER)
        if is_blank(owner):
            return row
        if owner == self._client.user_id:
            return {**row, OWNER: None}
        email = self._users.email_of(str(owner))
        if email is None:
            return {k: v for k, v in row.items() if k != OWNER}
        return {**row, OWNER: email}

    def _load_users(self) -> list[Person]:
        """Every user of the org, active or not (inactive ones still own records)."""
        rows = self._client.query("SELECT Id, Email, IsActive FROM User")
        return [Person(str(r["Id"]), r.get("Email"), bool(r.get("IsActive"))) for r in rows]

    def _with_roles(self, sobject: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Opportunities with their contacts, from their contact roles (one query per 200 opportunities)."""
        if sobject != "Opportunity" or not rows:
            return rows
        contacts = self._roles([str(r["Id"]) for r in rows])
        return [{**r, CONTACT_ROLES: sorted({c for _, c in contacts[str(r["Id"])]}) or None} for r in rows]

    def _roles(self, opportunities: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """Opportunity Id -> its contact roles as (role Id, ContactId)."""
        found: dict[str, list[tuple[str, str]]] = {o: [] for o in opportunities}
        for chunk in _chunks(list(found), READ_CHUNK):
            quoted = ", ".join(soql_string(i) for i in chunk)
            for role in self._client.query(
                f"SELECT Id, OpportunityId, ContactId FROM OpportunityContactRole WHERE OpportunityId IN ({quoted})"
                " ORDER BY OpportunityId, Id"
            ):  # fmt: skip
                found[str(role["OpportunityId"])].append((str(role["Id"]), str(role["ContactId"])))
        return found

    def _with_conversions(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Contacts with the conversion of the lead that became them (one query per 200 contacts)."""
        converted: dict[str, dict[str, Any]] = {}
        ids = [str(r["Id"]) for r in rows]
        for chunk in _chunks(ids, READ_CHUNK):
            quoted = ", ".join(soql_string(i) for i in chunk)
            for lead in self._client.query(
                f"SELECT ConvertedContactId, {', '.join(CONVERSION_FIELDS)} FROM Lead"
                f" WHERE IsConverted = true AND ConvertedContactId IN ({quoted})"
            ):  # fmt: skip
                converted[str(lead["ConvertedContactId"])] = {f: lead.get(f) for f in CONVERSION_FIELDS}
        return [{**r, **converted.get(str(r["Id"]), {})} for r in rows]

    def _with_prices(self, sobject: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Products with their standard price (one query per 200 products)."""
        if sobject != "Product2" or not rows:
            return rows
        prices = {str(entry["Product2Id"]): entry for entry in self._entries([str(r["Id"]) for r in rows])}
        return [{**r, PRICE: prices[str(r["Id"])]["UnitPrice"]} if str(r["Id"]) in prices else r for r in rows]

    def _standard_book(self) -> str:
        if self._book is None:
            found = self._client.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true LIMIT 1")
            if not found:
                raise PermanentError("salesforce: the org has no standard price book", ErrorCategory.MAPPING)
            self._book = str(found[0]["Id"])
        return self._book

    def _entries(self, products: Sequence[str]) -> list[dict[str, Any]]:
        """The standard price book's entries of `products`."""
        book = soql_string(self._standard_book())
        found: list[dict[str, Any]] = []
        for chunk in _chunks(products, READ_CHUNK):
            quoted = ", ".join(soql_string(i) for i in chunk)
            found.extend(self._client.query(
                f"SELECT Id, Product2Id, UnitPrice FROM PricebookEntry WHERE Pricebook2Id = {book}"
                f" AND Product2Id IN ({quoted})"
            ))  # fmt: skip
        return found

    def _write_products(self, writes: Sequence[WriteRequest]) -> list[WriteResult]:
        """Product2 upserts, then each written product's standard price: entries updated, or created."""
        products = [replace(w, fields={k: v for k, v in w.fields.items() if k != PRICE}) for w in writes]
        results = self._write_sobject("Product2", products)
        priced = {r.external_id: (i, w.fields[PRICE]) for i, (w, r) in enumerate(zip(writes, results, strict=True))
                  if r.ok and r.external_id and w.fields.get(PRICE) is not None}  # fmt: skip
        if not priced:
            return results
        existing = {str(e["Product2Id"]): str(e["Id"]) for e in self._entries(list(priced))}
        updates = [{"attributes": {"type": "PricebookEntry"}, "Id": existing[p], "UnitPrice": price}
                   for p, (_, price) in priced.items() if p in existing]  # fmt: skip
        creates = [{"attributes": {"type": "PricebookEntry"}, "Pricebook2Id": self._standard_book(), "Product2Id": p,
                    "UnitPrice": price, "IsActive": True, REVLINE_ID: writes[i].canonical_id}
                   for p, (i, price) in priced.items() if p not in existing]  # fmt: skip
        answers: list[dict[str, Any]] = []
        for chunk in _chunks(updates, COLLECTION_SIZE):
            answers.extend(self._client.update_collection(chunk))
        for chunk in _chunks(creates, COLLECTION_SIZE):
            answers.extend(self._client.upsert_collection("PricebookEntry", REVLINE_ID, chunk))
        order = [p for p in priced if p in existing] + [p for p in priced if p not in existing]
        for product, answer in zip(order, answers, strict=True):
            if not answer.get("success"):
                index = priced[product][0]
                error = errors.from_record_errors(answer.get("errors") or [], self.config.limit_retry_seconds)
                results[index] = WriteResult(writes[index].canonical_id, product, error=error)
        return results

    def _with_lines(self, sobject: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Opportunities with their products as canonical lines (one query per 200 opportunities)."""
        if sobject != "Opportunity" or not rows:
            return rows
        lines: dict[str, list[dict[str, Any]]] = {str(r["Id"]): [] for r in rows}
        for chunk in _chunks(list(lines), READ_CHUNK):
            quoted = ", ".join(soql_string(i) for i in chunk)
            soql = (
                "SELECT Id, OpportunityId, ProductCode, Description, Quantity, UnitPrice FROM OpportunityLineItem"
                f" WHERE OpportunityId IN ({quoted}) ORDER BY OpportunityId, Id"
            )
            for line in self._client.query(soql):
                lines[str(line["OpportunityId"])].append(line_of(line))
        return [{**r, LINES: lines[str(r["Id"])]} for r in rows]

    # -- scanning ---------------------------------------------------------------------------------

    def scan(self, object_type: str, after: str | None, limit: int) -> ScanPage:
        """Live records in Id order, `SELECT ... WHERE Id > after ORDER BY Id LIMIT n`, at most 2,000 per call.

        Records come as read() gives them, owners as emails: Opportunities with their lines and contact roles,
        products with their standard
        price, Contacts with the conversion of the lead that became them, each read for the whole page in
        one range query on the page's first and last Id. With `leads` on, people are Contacts, then the
        Leads not yet converted (a converted Lead lives on as its Contact), in one Id order. A page shorter
        than asked ends its sObject; a scan whose last page is full ends with one empty page.
        """
        if after is not None and not is_record_id(after):
            raise PermanentError(f"salesforce: not a scan position: {after!r}", ErrorCategory.MAPPING)
        size = min(max(1, limit), SCAN_PAGE)
        if object_type == "contact" and self.config.leads:
            if after is None or person_sobject(after, {}) == CONTACT:
                rows = self._scan_rows(CONTACT, after, size)
                following = str(rows[-1]["Id"]) if len(rows) == size else _BEFORE_LEADS
                return ScanPage(tuple(self._scan_records(CONTACT, rows)), following)
            sobject = LEAD
            rows = self._scan_rows(LEAD, after, size, "IsConverted = false")
        else:
            sobject = sobject_for(object_type)
            rows = self._scan_rows(sobject, after, size)
        records = self._scan_records(sobject, rows)
        return ScanPage(tuple(records), str(rows[-1]["Id"]) if len(rows) == size else None)

    def _scan_rows(self, sobject: str, after: str | None, size: int, *conditions: str) -> list[dict[str, Any]]:
        where = [*conditions, *([f"Id > {soql_string(after)}"] if after is not None else [])]
        soql = (
            f"SELECT {', '.join(self.columns(sobject))} FROM {sobject}"
            f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY Id ASC LIMIT {size}"
        )
        return self._client.query(soql)

    def _scan_records(self, sobject: str, rows: list[dict[str, Any]]) -> list[SourceRecord]:
        """A page of rows with what read() adds to them, as read() gives them."""
        if not rows:
            return []
        if sobject == "Opportunity":
            rows = self._page_roles(self._page_lines(rows))
        elif sobject == "Product2":
            rows = self._page_prices(rows)
        rows = [self._owned(r) for r in rows]
        user = self._client.user_id
        if sobject == CONTACT and self.config.leads:
            rows = self._page_conversions(rows)
        # A scanned Lead is never converted, so it reads as itself (see _records).
        return [to_source_record(r, user) for r in rows]

    @staticmethod
    def _span(field: str, rows: Sequence[Mapping[str, Any]]) -> str:
        """`field` within the page's Ids: a scanned page holds every live record between its first and last Id."""
        return f"{field} >= {soql_string(str(rows[0]['Id']))} AND {field} <= {soql_string(str(rows[-1]['Id']))}"

    def _page_lines(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        lines: dict[str, list[dict[str, Any]]] = {str(r["Id"]): [] for r in rows}
        for line in self._client.query(
            "SELECT Id, OpportunityId, ProductCode, Description, Quantity, UnitPrice FROM OpportunityLineItem"
            f" WHERE {self._span('OpportunityId', rows)} ORDER BY OpportunityId, Id"
        ):  # fmt: skip
            lines.get(str(line["OpportunityId"]), []).append(line_of(line))
        return [{**r, LINES: lines[str(r["Id"])]} for r in rows]

    def _page_roles(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        contacts: dict[str, set[str]] = {str(r["Id"]): set() for r in rows}
        for role in self._client.query(
            f"SELECT Id, OpportunityId, ContactId FROM OpportunityContactRole WHERE {self._span('OpportunityId', rows)}"
        ):  # fmt: skip
            contacts.get(str(role["OpportunityId"]), set()).add(str(role["ContactId"]))
        return [{**r, CONTACT_ROLES: sorted(contacts[str(r["Id"])]) or None} for r in rows]

    def _page_prices(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        book = soql_string(self._standard_book())
        prices = {str(entry["Product2Id"]): entry["UnitPrice"] for entry in self._client.query(
            f"SELECT Id, Product2Id, UnitPrice FROM PricebookEntry WHERE Pricebook2Id = {book}"
            f" AND {self._span('Product2Id', rows)}"
        )}  # fmt: skip
        return [{**r, PRICE: prices[str(r["Id"])]} if str(r["Id"]) in prices else r for r in rows]

    def _page_conversions(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        converted: dict[str, dict[str, Any]] = {}
        for lead in self._client.query(
            f"SELECT ConvertedContactId, {', '.join(CONVERSION_FIELDS)} FROM Lead"
            f" WHERE IsConverted = true AND {self._span('ConvertedContactId', rows)}"
        ):  # fmt: skip
            converted[str(lead["ConvertedContactId"])] = {f: lead.get(f) for f in CONVERSION_FIELDS}
        return [{**r, **converted.get(str(r["Id"]), {})} for r in rows]

    # -- writing ----------------------------------------------------------------------------------

    def write_batch(self, object_type: str, writes: Sequence[WriteRequest]) -> list[WriteResult]:
        """Upsert keyed on Revline_Id__c (records Revline knows by Id are updated by Id), one result per write.

        Up to `bulk_threshold` records go through sObject Collections, 200 per call; more through one
        Bulk API 2.0 job. If every call failed as a whole, that error is raised; otherwise each
        record carries its own outcome.
        """
        if not writes:
            return []
        results: dict[int, WriteResult] = {}
        ready: list[tuple[int, WriteRequest]] = []
        for index, write in enumerate(writes):
            try:
                ready.append((index, self._with_owner_id(write)))
            except PermanentError as error:  # no user for the owner: this record fails alone, unsent
                results[index] = WriteResult(write.canonical_id, write.external_id, error=error)
        if ready:
            sending = [w for _, w in ready]
            if object_type == "deal":
                bare = [replace(w, fields={k: v for k, v in w.fields.items() if k != CONTACT_ROLES}) for w in sending]
                written = self._set_roles(sending, self._write(object_type, bare))
            else:
                written = self._write(object_type, sending)
            results.update(zip((i for i, _ in ready), written, strict=True))
        return [results[i] for i in range(len(writes))]

    def _with_owner_id(self, write: WriteRequest) -> WriteRequest:
        """The write with its owner's email as that user's Id; PermanentError (mapping) when the org has no
        active user with that email. A blank owner is not sent: Salesforce records always have one."""
        if OWNER not in write.fields:
            return write
        owner = write.fields[OWNER]
        if is_blank(owner):
            return replace(write, fields={k: v for k, v in write.fields.items() if k != OWNER})
        return replace(write, fields={**write.fields, OWNER: self._users.require_id(str(owner))})

    def _set_roles(self, writes: Sequence[WriteRequest], results: list[WriteResult]) -> list[WriteResult]:
        """Opportunities written with contacts get exactly those contacts as contact roles: the missing ones
        created (without a role: sales picks it), the others deleted, so the list the policy chose is the list
        Salesforce holds. A failure fails the opportunity's write, to be retried.

        Only Contacts can hold a contact role: a person Salesforce still has as a Lead is left out, and joins
        with the deal's first write after sales converts the lead (its link has moved to the Contact by then)."""
        wanted = {
            str(result.external_id): (index, {str(c) for c in write.fields[CONTACT_ROLES] or []
                                              if person_sobject(str(c), {}) != LEAD})
            for index, (write, result) in enumerate(zip(writes, results, strict=True))
            if CONTACT_ROLES in write.fields and result.ok and result.external_id
        }
        if not wanted:
            return results
        done = list(results)
        try:
            held = self._roles(list(wanted))
            creates = [(o, {"attributes": {"type": "OpportunityContactRole"}, "OpportunityId": o, "ContactId": c})
                       for o, (_, contacts) in wanted.items()
                       for c in sorted(contacts - {c for _, c in held[o]})]  # fmt: skip
            deletes = [(o, role) for o, (_, contacts) in wanted.items() for role, c in held[o] if c not in contacts]
            answers: list[tuple[str, dict[str, Any]]] = []
            for chunk in _chunks(creates, COLLECTION_SIZE):
                created = self._client.create_collection([r for _, r in chunk])
                answers.extend(zip([o for o, _ in chunk], created, strict=True))
            for part in _chunks(deletes, COLLECTION_SIZE):
                deleted = self._client.delete_collection([r for _, r in part])
                answers.extend(zip([o for o, _ in part], deleted, strict=True))
        except SyncError as error:
            for index, _ in wanted.values():
                done[index] = WriteResult(results[index].canonical_id, results[index].external_id, error=error)
            return done
        for opportunity, answer in answers:
            if not answer.get("success"):
                index = wanted[opportunity][0]
                refused = errors.from_record_errors(answer.get("errors") or [], self.config.limit_retry_seconds)
                done[index] = WriteResult(results[index].canonical_id, opportunity, error=refused)
        return done

    def _write(self, object_type: str, writes: Sequence[WriteRequest]) -> list[WriteResult]:
        if object_type == "contact" and self.config.leads:
            # Leads and Contacts: each write goes to its record's sObject, with only the fields it has.
            by_sobject: dict[str, list[int]] = {}
            for index, write in enumerate(writes):
                by_sobject.setdefault(person_sobject(write.external_id, write.fields), []).append(index)
            results: dict[int, WriteResult] = {}
            for sobject, indexes in by_sobject.items():
                fitted = [self._fit(sobject, writes[i]) for i in indexes]
                results.update(zip(indexes, self._write_sobject(sobject, fitted), strict=True))
            return [results[i] for i in range(len(writes))]
        if object_type == "product":
            return self._write_products(writes)
        if object_type == "contact":
            # People are Contacts only: a lead's own fields have nowhere to go.
            fitted = [replace(w, fields={k: v for k, v in w.fields.items() if k not in LEAD_ONLY}) for w in writes]
            return self._write_sobject(CONTACT, fitted)
        return self._write_sobject(sobject_for(object_type), writes)

    def _fit(self, sobject: str, write: WriteRequest) -> WriteRequest:
        """`write` without the fields only the other of Lead and Contact has (a Contact has no Status)."""
        other = CONTACT if sobject == LEAD else LEAD
        foreign = set(self.columns(other)) - set(self.columns(sobject))
        return replace(write, fields={k: v for k, v in write.fields.items() if k not in foreign})

    def _write_sobject(self, sobject: str, writes: Sequence[WriteRequest]) -> list[WriteResult]:
        groups = (
            ([(i, w) for i, w in enumerate(writes) if not w.external_id], False),
            ([(i, w) for i, w in enumerate(writes) if w.external_id], True),
        )
        results: dict[int, WriteResult] = {}
        failures: list[SyncError] = []
        calls = 0
        for group, by_id in groups:
            if not group:
                continue
            bulk = len(writes) > self.config.bulk_threshold
            for chunk in [group] if bulk else _chunks(group, COLLECTION_SIZE):
                calls += 1
                try:
                    if bulk:
                        results.update(self._bulk(sobject, chunk, by_id))
                    else:
                        results.update(self._collection(sobject, chunk, by_id))
                except SyncError as error:
                    failures.append(error)
                    results.update({i: WriteResult(w.canonical_id, w.external_id, error=error) for i, w in chunk})
        if failures and len(failures) == calls:
            raise failures[0]
        return [results[i] for i in range(len(writes))]

    def _collection(self, sobject: str, chunk: list[tuple[int, WriteRequest]], by_id: bool) -> dict[int, WriteResult]:
        if by_id:
            answers = self._client.update_collection([to_update_record(sobject, w) for _, w in chunk])
        else:
            answers = self._client.upsert_collection(
                sobject, REVLINE_ID, [to_upsert_record(sobject, w) for _, w in chunk]
            )
        if len(answers) != len(chunk):
            raise errors.unexpected(f"answered {len(answers)} results for {len(chunk)} records")
        return {i: self._result(w, answer) for (i, w), answer in zip(chunk, answers, strict=True)}

    def _result(self, write: WriteRequest, answer: Mapping[str, Any]) -> WriteResult:
        if answer.get("success"):
            record_id = str(answer["id"])
            return WriteResult(
                write.canonical_id, record_id, created=bool(answer.get("created", False)), filled={"Id": record_id}
            )
        error = errors.from_record_errors(answer.get("errors") or [], self.config.limit_retry_seconds)
        return WriteResult(write.canonical_id, write.external_id, error=error)

    def _bulk(self, sobject: str, chunk: list[tuple[int, WriteRequest]], by_id: bool) -> dict[int, WriteResult]:
        rows = [to_bulk_row(w, by_id) for _, w in chunk]
        outcome = self._client.bulk_ingest(sobject, rows, None if by_id else REVLINE_ID)
        by_key = self._bulk_results(outcome)
        missing = RetryableError("salesforce: the Bulk API job reported nothing for this record")
        return {
            i: by_key.get(w.canonical_id) or WriteResult(w.canonical_id, w.external_id, error=missing) for i, w in chunk
        }

    def _bulk_results(self, outcome: BulkOutcome) -> dict[str, WriteResult]:
        """Results keyed on the canonical id (the Revline_Id__c column every row carries)."""
        wait = self.config.limit_retry_seconds
        found: dict[str, WriteResult] = {}
        for row in outcome.successful:
            key = row.get(REVLINE_ID, "")
            record_id = row.get("sf__Id") or None
            filled = {"Id": record_id} if record_id else {}
            found[key] = WriteResult(key, record_id, created=row.get("sf__Created") == "true", filled=filled)
        for row in outcome.failed:
            key = row.get(REVLINE_ID, "")
            found[key] = WriteResult(
                key, row.get("sf__Id") or None, error=errors.from_bulk_error(row.get("sf__Error", ""), wait)
            )
        for row in outcome.unprocessed:
            key = row.get(REVLINE_ID, "")
            found[key] = WriteResult(
                key, error=RetryableError("salesforce: the Bulk API job did not process this record")
            )
        return found


def create_connector(name: str, settings: Mapping[str, Any]) -> SalesforceConnector:
    """The registry factory: a connector for connection `name` from its settings."""
    return SalesforceConnector(SalesforceConfig.from_settings(name, settings), name=name)

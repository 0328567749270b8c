"""The HubSpot connector: the Connector port over HubSpot's CRM search, batch read and batch upsert."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.hubspot.client import FilterSpec, HubSpotClient
from connectors.hubspot.errors import entry_keys, from_batch_error
from connectors.hubspot.mapping import (
    COMPANY_ASSOCIATION,
    CONTACT_ASSOCIATIONS,
    DEAL_ASSOCIATIONS,
    ID_PROPERTY,
    MODIFIED_PROPERTY,
    OWNER_PROPERTY,
    SERVER_PROPERTIES,
    SYSTEM,
    default_mappings,
    hubspot_object,
    read_properties,
    source_record,
    to_millis,
    write_properties,
)
from sync_core.domain.changes import ChangePage, ScanPage, SourceRecord, WriteRequest, WriteResult
from sync_core.domain.errors import ErrorCategory, PermanentError, RetryableError, SyncError
from sync_core.domain.mapping import ObjectMapping
from sync_core.domain.ownership import is_blank
from sync_core.domain.people import Directory, Person
from sync_core.domain.quota import ApiUsage
from sync_core.ports import Clock

# https://developers.hubspot.com/docs/api/crm/understanding-the-crm#batch-operations: 100 inputs per batch call
MAX_BATCH = 100
# https://developers.hubspot.com/docs/api/crm/search#limitations: 200 results per search page
MAX_SEARCH_PAGE = 200
# https://developers.hubspot.com/docs/api-reference/latest/crm/objects/objects/get-objects: 100 records per list page
MAX_LIST_PAGE = 100
# https://developers.hubspot.com/docs/api-reference/crm-owners-v3/guide: up to 500 owners per page
OWNERS_PAGE = 500
# v4 associations batch read: up to 1,000 ids per call
MAX_ASSOCIATION_READ = 1000


class _WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class ChangeCursor:
    """Where reading changes resumes: a keyset on (modification stamp, record id).

    `since` is the stamp (epoch ms) of the last record returned and `seen` the ids already returned
    at exactly that stamp. More than a page of records sharing one millisecond is read by id
    (`tie_after`: the last id read at `since`), so no page ever needs an `after` offset: HubSpot's
    10,000-results-per-query cap is never reached, and records that change while pages are read
    cannot shift an offset past unread ones.
    """

    since: int = 0
    seen: list[str] = field(default_factory=list)
    tie_after: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> ChangeCursor:
        if not text:
            return cls()
        try:
            raw = json.loads(text)
            return cls(int(raw["since"]), [str(i) for i in raw.get("seen", [])], raw.get("tie_after"))
        except (ValueError, TypeError, KeyError) as error:
            raise PermanentError(f"not a HubSpot change cursor: {text!r} ({error})", ErrorCategory.MAPPING) from None

    def dump(self) -> str:
        body: dict[str, Any] = {"since": self.since, "seen": self.seen}
        if self.tie_after is not None:
            body["tie_after"] = self.tie_after
        return json.dumps(body, separators=(",", ":"))


class HubSpotConnector:
    """One HubSpot account (a private-app token), spoken to in canonical seam types."""

    max_batch_size = MAX_BATCH

    def __init__(
        self,
        client: HubSpotClient,
        *,
        name: str = SYSTEM,
        mappings: Sequence[ObjectMapping] | None = None,
        index_lag_seconds: float = 5.0,
        clock: Clock | None = None,
    ) -> None:
        self.system = name
        self._client = client
        self._mappings = {m.object_type: m for m in (default_mappings() if mappings is None else mappings)}
        # HubSpot's search index trails writes by a few seconds: changes are read only up to
        # `now - index_lag`, so a record indexed late is not skipped by a cursor already past it.
        self._lag = timedelta(seconds=index_lag_seconds)
        self._clock: Clock = clock or _WallClock()
        # Owners cross systems as their email: owner ids are translated through the owners API.
        self._owners = Directory(name, self._load_owners, self._clock.now)

    @property
    def api_calls(self) -> int:
        return self._client.calls

    @property
    def api_calls_in_thread(self) -> int:
        return self._client.calls_in_thread

    def usage(self) -> ApiUsage | None:
        """The quota in the rate-limit headers of the latest answer that carried them (None before)."""
        seen = self._client.usage
        if seen is None:
            return None
        return ApiUsage(
            window_limit=seen.max,
            window_remaining=seen.remaining,
            window_seconds=seen.interval_ms / 1000 if seen.interval_ms else None,
            daily_limit=seen.daily,
            daily_remaining=seen.daily_remaining,
        )

    def check(self) -> None:
        """The token works and the `revline_id` unique property exists on companies and contacts."""
        for object_type in ("company", "contact"):
            name = hubspot_object(object_type)
            unique = {p.get("name") for p in self._client.properties(name) if p.get("hasUniqueValue")}
            if ID_PROPERTY not in unique:
                raise PermanentError(
                    f"HubSpot {name} have no unique property {ID_PROPERTY!r}: create it (a single-line text "
                    "property with unique values) so Revline can upsert without duplicates",
                    ErrorCategory.MAPPING,
                )

    # -- reading --------------------------------------------------------------------------------

    def read_changes(self, object_type: str, cursor: str | None, limit: int) -> ChangePage:
        name = hubspot_object(object_type)
        stamp = MODIFIED_PROPERTY[name]
        properties = read_properties(object_type, self._mappings.get(object_type))
        state = ChangeCursor.parse(cursor)
        until = to_millis(self._clock.now() - self._lag) + 1  # up to and including that millisecond
        records: list[SourceRecord] = []
        has_more = False
        while True:
            room = max(1, limit) - len(records)
            if room <= 0 or (records and room < MAX_SEARCH_PAGE):
                break  # a search call costs the same for 1 or 200 records: keep pages whole
            if state.tie_after is None and len(state.seen) >= MAX_SEARCH_PAGE:
                state.tie_after = "0"  # a whole page shares one millisecond: continue by id
            if state.tie_after is None:
                has_more = self._read_window(name, object_type, stamp, properties, state, until, room, records)
            else:
                has_more = self._read_tie(name, object_type, stamp, properties, state, room, records)
            if not has_more:
                break
        return ChangePage(tuple(self._translated(object_type, records)), state.dump(), has_more)

    def _read_window(
        self, name: str, object_type: str, stamp: str, properties: list[str], state: ChangeCursor, until: int,
        room: int, out: list[SourceRecord],
    ) -> bool:
        """Up to `room` records stamped in [since, until), oldest first; True if more remain."""
        if state.since >= until:
            return False
        # The records already returned at `since` come back first and are skipped: ask for them too.
        size = min(MAX_SEARCH_PAGE, room + len(state.seen))
        answer = self._client.search(
            name,
            [FilterSpec(stamp, "GTE", str(state.since)), FilterSpec(stamp, "LT", str(until))],
            sort=stamp, properties=properties, limit=size,
        )["body"]
        results = [source_record(object_type, r) for r in answer.get("results") or []]
        seen = set(state.seen)
        fresh = [r for r in results if not (_ms(r) == state.since and r.external_id in seen)]
        if not fresh:
            if len(results) >= size:
                state.tie_after = "0"  # a full page of records already read, all at `since`: go by id
                return True
            return False
        taken = fresh[:room]
        out.extend(taken)
        for record in taken:
            if _ms(record) != state.since:
                state.since, state.seen = _ms(record), []
            state.seen.append(record.external_id)
        return len(taken) < len(fresh) or int(answer.get("total") or 0) > len(results)

    def _read_tie(
        self, name: str, object_type: str, stamp: str, properties: list[str], state: ChangeCursor, room: int,
        out: list[SourceRecord],
    ) -> bool:
        """Up to `room` records stamped exactly `since`, by id after `tie_after`; then past that millisecond."""
        answer = self._client.search(
            name,
            [FilterSpec(stamp, "EQ", str(state.since)), FilterSpec("hs_object_id", "GT", state.tie_after)],
            sort="hs_object_id", properties=properties, limit=min(MAX_SEARCH_PAGE, room + len(state.seen)),
        )["body"]
        results = [source_record(object_type, r) for r in answer.get("results") or []]
        seen = set(state.seen)
        taken: list[SourceRecord] = []
        consumed = 0
        for record in results:
            if len(taken) >= room:
                break
            consumed += 1
            if record.external_id not in seen:
                taken.append(record)
        out.extend(taken)
        if consumed == len(results) and int(answer.get("total") or 0) <= len(results):
            # Every record of that millisecond is read: resume strictly after it.
            state.since, state.seen, state.tie_after = state.since + 1, [], None
        elif consumed:
            state.tie_after = results[consumed - 1].external_id
        return True

    def read(self, object_type: str, ids: Sequence[str]) -> list[SourceRecord]:
        name = hubspot_object(object_type)
        properties = read_properties(object_type, self._mappings.get(object_type))
        found: list[SourceRecord] = []
        for chunk in _chunks(list(dict.fromkeys(ids)), MAX_BATCH):
            answer = self._client.batch_read(name, chunk, properties)["body"]
            for entry in answer.get("errors") or []:
                if entry.get("category") != "OBJECT_NOT_FOUND":
                    raise from_batch_error(entry)
            found.extend(source_record(object_type, r) for r in answer.get("results") or [])
        return self._translated(object_type, found)

    def scan(self, object_type: str, after: str | None, limit: int) -> ScanPage:
        """Live records in id order through the objects list endpoint (not search: no 10,000-result cap and
        no search rate), at most 100 per call; `after` is HubSpot's own paging token. Deals also cost the
        association reads that give them their company and contacts, as in read_changes."""
        name = hubspot_object(object_type)
        properties = read_properties(object_type, self._mappings.get(object_type))
        size = min(max(1, limit), MAX_LIST_PAGE)
        answer = self._client.list_objects(name, limit=size, after=after, properties=properties)["body"]
        records = [source_record(object_type, r) for r in answer.get("results") or []]
        following = ((answer.get("paging") or {}).get("next") or {}).get("after")
        return ScanPage(tuple(self._translated(object_type, records)), str(following) if following else None)

    def _translated(self, object_type: str, records: list[SourceRecord]) -> list[SourceRecord]:
        """Records as the engine reads them: owners as emails, deals with their associations."""
        return self._with_associations(object_type, [self._owned(r) for r in records])

    def _owned(self, record: SourceRecord) -> SourceRecord:
        """The owner id as the owner's email; an owner HubSpot no longer lists is left out (read as unknown)."""
        owner = record.fields.get(OWNER_PROPERTY)
        if is_blank(owner):
            return record
        email = self._owners.email_of(str(owner))
        fields = {k: v for k, v in record.fields.items() if k != OWNER_PROPERTY}
        return replace(record, fields=fields if email is None else {**fields, OWNER_PROPERTY: email})

    def _load_owners(self) -> list[Person]:
        """Every owner of the account, the archived ones too (their records still name them)."""
        people: list[Person] = []
        for archived in (False, True):
            after: str | None = None
            while True:
                answer = self._client.owners(archived=archived, after=after, limit=OWNERS_PAGE)["body"]
                people.extend(Person(str(o["id"]), o.get("email"), active=not archived)
                              for o in answer.get("results") or [])  # fmt: skip
                after = ((answer.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
        return people

    def _with_associations(self, object_type: str, records: list[SourceRecord]) -> list[SourceRecord]:
        """Deals with their company (the lowest associated id, as `associatedcompanyid`) and their contacts (as
        `associatedcontactids`, None for none): one call per 1,000 deals and associated object."""
        if object_type != "deal" or not records:
            return records
        found = {field: self._associated("deals", to, [r.external_id for r in records])
                 for field, to in DEAL_ASSOCIATIONS.items()}  # fmt: skip
        companies, contacts = found[COMPANY_ASSOCIATION], found[CONTACT_ASSOCIATIONS]

        def first(ids: list[str]) -> str | None:
            return ids[0] if ids else None

        return [
            replace(r, fields={**r.fields, COMPANY_ASSOCIATION: first(companies[r.external_id]),
                               CONTACT_ASSOCIATIONS: contacts[r.external_id] or None})
            for r in records
        ]  # fmt: skip

    def _associated(self, from_name: str, to_name: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """The ids each record is associated with, in ascending order."""
        linked: dict[str, list[str]] = {i: [] for i in ids}
        for chunk in _chunks(list(linked), MAX_ASSOCIATION_READ):
            answer = self._client.associations(from_name, to_name, chunk)["body"]
            for result in answer.get("results") or []:
                targets = sorted(int(to["toObjectId"]) for to in result.get("to") or [])
                linked[str(result["from"]["id"])] = [str(t) for t in targets]
        return linked

    # -- writing --------------------------------------------------------------------------------

    def write_batch(self, object_type: str, writes: Sequence[WriteRequest]) -> list[WriteResult]:
        """Upsert by `revline_id` (records Revline does not know yet) or update by HubSpot id (linked ones).

        Creating only through an upsert keyed on the canonical id makes a retry after an unknown
        outcome (timeout, 5xx after commit) update the record it created instead of creating another.
        """
        name = hubspot_object(object_type)
        outcomes: dict[str, WriteResult] = {}
        merged = self._with_owner_ids(_merge(writes), outcomes)
        sending = merged
        if object_type == "deal":  # a deal's company and contacts are associations, written after the deal
            sending = [replace(w, fields={k: v for k, v in w.fields.items() if k not in DEAL_ASSOCIATIONS})
                       for w in merged]  # fmt: skip
        updates = [w for w in sending if w.external_id]
        upserts = [w for w in sending if not w.external_id]
        for chunk in _chunks(updates, MAX_BATCH):
            self._send(name, "update", chunk, outcomes)
        for chunk in _chunks(upserts, MAX_BATCH):
            self._send(name, "upsert", chunk, outcomes)
        if object_type == "deal":
            self._associate_companies(merged, outcomes)
            self._set_contacts(merged, outcomes)
        return [outcomes[w.canonical_id] for w in writes]

    def _with_owner_ids(self, writes: Sequence[WriteRequest], outcomes: dict[str, WriteResult]) -> list[WriteRequest]:
        """Writes with the owner's email as its owner id; a write naming a person with no active owner in
        HubSpot fails alone (a mapping error) and is not sent."""
        ready: list[WriteRequest] = []
        for write in writes:
            owner = write.fields.get(OWNER_PROPERTY)
            if is_blank(owner):
                ready.append(write)
                continue
            try:
                owner_id = self._owners.require_id(str(owner))
            except PermanentError as error:
                outcomes[write.canonical_id] = WriteResult(write.canonical_id, write.external_id, error=error)
                continue
            ready.append(replace(write, fields={**write.fields, OWNER_PROPERTY: owner_id}))
        return ready

    def _set_contacts(self, writes: Sequence[WriteRequest], outcomes: dict[str, WriteResult]) -> None:
        """Deals written with contacts get exactly those contacts: missing associations added, others removed.

        The policy decides whose list a deal carries; keeping HubSpot's extra contacts would read back as a
        change of HubSpot's and undo that decision.
        """
        wanted: dict[str, tuple[str, list[str]]] = {}  # deal id -> (canonical id, its contacts)
        for write in writes:
            outcome = outcomes.get(write.canonical_id)
            if CONTACT_ASSOCIATIONS in write.fields and outcome is not None and outcome.ok:
                contacts = [str(c) for c in write.fields[CONTACT_ASSOCIATIONS] or []]
                wanted[str(outcome.external_id)] = (write.canonical_id, contacts)
        if not wanted:
            return
        try:
            held = self._associated("deals", "contacts", list(wanted))
            adding = [(deal, contact) for deal, (_, contacts) in wanted.items()
                      for contact in contacts if contact not in held[deal]]  # fmt: skip
            removing = {deal: [c for c in held[deal] if c not in contacts] for deal, (_, contacts) in wanted.items()}
            removing = {deal: gone for deal, gone in removing.items() if gone}
            self.associate("deal", "contact", adding)
            for chunk in _chunks(list(removing), MAX_BATCH):
                self._client.dissociate("deals", "contacts", {deal: removing[deal] for deal in chunk})
        except SyncError as error:
            for deal, (canonical, _) in wanted.items():
                outcomes[canonical] = WriteResult(canonical, deal, error=error)

    def _associate_companies(self, writes: Sequence[WriteRequest], outcomes: dict[str, WriteResult]) -> None:
        """Deals written with a company get that association (a deal keeps its earlier ones, as in HubSpot)."""
        pairs = [
            (str(outcomes[w.canonical_id].external_id), str(w.fields[COMPANY_ASSOCIATION]))
            for w in writes
            if w.fields.get(COMPANY_ASSOCIATION) and outcomes[w.canonical_id].ok
        ]
        try:
            self.associate("deal", "company", pairs)
        except SyncError as error:
            for w in writes:
                if w.fields.get(COMPANY_ASSOCIATION) and outcomes[w.canonical_id].ok:
                    outcomes[w.canonical_id] = WriteResult(w.canonical_id, outcomes[w.canonical_id].external_id,
                                                           error=error)  # fmt: skip

    def associate(self, from_type: str, to_type: str, pairs: Sequence[tuple[str, str]]) -> None:
        """Default associations between HubSpot ids (e.g. contact -> company), 100 pairs per call."""
        for chunk in _chunks(list(pairs), MAX_BATCH):
            answer = self._client.associate(hubspot_object(from_type), hubspot_object(to_type), chunk)["body"]
            for entry in answer.get("errors") or []:
                raise from_batch_error(entry)

    def _send(self, name: str, kind: str, writes: Sequence[WriteRequest], outcomes: dict[str, WriteResult]) -> None:
        inputs = [_input(kind, w) for w in writes]
        try:
            if kind == "upsert":
                answer = self._client.batch_upsert(name, inputs)["body"]
            else:
                answer = self._client.batch_update(name, inputs)["body"]
        except PermanentError as error:
            if error.category is not ErrorCategory.VALIDATION:
                raise
            if len(writes) == 1:
                outcomes[writes[0].canonical_id] = WriteResult(writes[0].canonical_id, error=error)
                return
            # HubSpot may reject a whole batch for one invalid input: halve it until the culprit is alone.
            middle = len(writes) // 2
            self._send(name, kind, writes[:middle], outcomes)
            self._send(name, kind, writes[middle:], outcomes)
            return
        by_key = {w.canonical_id: w.canonical_id for w in writes}
        by_key.update({str(w.external_id): w.canonical_id for w in writes if w.external_id})
        for result in answer.get("results") or []:
            properties = result.get("properties") or {}
            canonical = by_key.get(str(result.get("objectWriteTraceId"))) or by_key.get(
                str(properties.get(ID_PROPERTY))) or by_key.get(str(result.get("id")))
            if canonical is None:
                continue
            version = properties.get(MODIFIED_PROPERTY[name]) or properties.get("hs_lastmodifieddate")
            outcomes[canonical] = WriteResult(
                canonical, external_id=str(result["id"]), version=str(version or result.get("updatedAt")),
                created=bool(result.get("new", False)), filled={"hs_object_id": str(result["id"])},
            )
        for entry in answer.get("errors") or []:
            failure = from_batch_error(entry)
            for key in entry_keys(entry):
                canonical = by_key.get(key)
                if canonical is not None and canonical not in outcomes:
                    outcomes[canonical] = WriteResult(canonical, error=failure)
        for write in writes:
            if write.canonical_id not in outcomes:
                missing: SyncError = RetryableError("HubSpot returned neither a result nor an error for this record")
                outcomes[write.canonical_id] = WriteResult(write.canonical_id, error=missing)


def _ms(record: SourceRecord) -> int:
    return to_millis(record.modified_at)


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def _merge(writes: Sequence[WriteRequest]) -> list[WriteRequest]:
    """One request per canonical id (a batch input may name a record once); later fields win."""
    merged: dict[str, WriteRequest] = {}
    for write in writes:
        earlier = merged.get(write.canonical_id)
        if earlier is None:
            merged[write.canonical_id] = write
            continue
        merged[write.canonical_id] = WriteRequest(
            write.canonical_id,
            earlier.external_id or write.external_id,
            {**earlier.fields, **write.fields},
            earlier.idempotency_keys + write.idempotency_keys,
        )
    return list(merged.values())


def _input(kind: str, write: WriteRequest) -> dict[str, Any]:
    fields: Mapping[str, Any] = {k: v for k, v in write.fields.items() if k not in SERVER_PROPERTIES}
    properties = write_properties(fields)
    if kind == "upsert":
        return {"idProperty": ID_PROPERTY, "id": write.canonical_id, "properties": properties,
                "objectWriteTraceId": write.canonical_id}
    # A linked record gets the canonical id stamped, so later reads resolve it without the link.
    return {"id": str(write.external_id), "properties": {**properties, ID_PROPERTY: write.canonical_id},
            "objectWriteTraceId": write.canonical_id}


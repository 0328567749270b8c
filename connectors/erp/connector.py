"""The Connector port over one Odoo database: partners on `ref`, orders once on `origin`, status by write_date.

Companies and contacts are upserted keyed on `ref` (Revline's canonical id); orders and deals are
placed exactly once keyed on `origin`; orders, shipments, invoices and payments are read back by
write_date; deals and companies by write_date and by the changes of their invoices and pickings,
including invoices becoming overdue (feed.py); the overdue sweep lists what polling cannot see.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from connectors.erp.billing import INVOICE, REFUND
from connectors.erp.catalog import Catalog, CatalogProduct
from connectors.erp.client import OdooClient
from connectors.erp.cursor import ChangeCursor
from connectors.erp.derived import NEEDS_TODAY, Relations
from connectors.erp.feed import CompositeFeed, Plan, Row, Stream
from connectors.erp.mapping import (
    DEAL_DOMAIN,
    READ_ONLY,
    REVLINE_ORIGIN,
    SYSTEM,
    country_key,
    deal_origin,
    default_mappings,
    mapping_for,
    partner_values,
    record_id,
    source_for,
    to_source_record,
)
from connectors.erp.orders import DuplicateOrders, Orders, Placement
from sync_core.domain import mapping as field_mapping
from sync_core.domain import records
from sync_core.domain.changes import ChangePage, ScanPage, SourceRecord, WriteRequest, WriteResult
from sync_core.domain.errors import ErrorCategory, PermanentError, SyncError
from sync_core.domain.mapping import ObjectMapping
from sync_core.domain.quota import ApiUsage
from sync_core.ports import Clock

MAX_BATCH = 100  # one create call per batch of new partners; Odoo has no documented cap, this keeps calls short
# Orders of one batch placed side by side: each placement is several calls in a row (search, create, search,
# confirm, read), so one after another a batch of won deals waits on round trips rather than on Odoo.
PLACING_AT_ONCE = 4
READ_CHUNK = 500  # ids per `id in [...]` read
SWEEP_PAGE = 500
# Records per scan call. Odoo's search_read has no page cap; 2,000 rows (and one `in` read per related model
# for them) keep each answer to a few megabytes.
SCAN_PAGE = 2000


class _UtcClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class OverdueInvoice:
    """A posted customer invoice not fully paid whose due date has passed; `invoice.order_id` is Odoo's order id."""

    external_id: str
    invoice: records.Invoice
    days_overdue: int


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def _company_targets(model: str, rows: Sequence[Row]) -> dict[int, int | None]:
    """A company for each row: the partner itself, an invoice's commercial partner."""
    if model == "res.partner":
        return {int(r["id"]): int(r["id"]) for r in rows}
    return {int(r["id"]): record_id(r.get("commercial_partner_id")) for r in rows}


class OdooConnector:
    """One Odoo database behind the engine's Connector protocol.

    Odoo reports no API quota (`usage()` is None) and never rate-limits. `duplicates` lists the
    orders found carrying the same key, for a person to look at.
    """

    max_batch_size = MAX_BATCH

    def __init__(
        self,
        client: OdooClient,
        *,
        name: str = SYSTEM,
        mappings: Sequence[ObjectMapping] | None = None,
        overlap_seconds: float = 600.0,
        product_cache_seconds: float = 300.0,
        pricelist_id: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.system = name
        self.client = client
        self._clock: Clock = clock or _UtcClock()
        self._mappings = list(default_mappings(name) if mappings is None else mappings)
        # WIRE.md: write_date is the transaction's start, so a slow transaction commits behind records
        # already read; reading again this far back catches it (about ten minutes covers Odoo's workers).
        self._overlap = timedelta(seconds=overlap_seconds)
        self.catalog = Catalog(client, self._clock, timedelta(seconds=product_cache_seconds), pricelist_id)
        self._orders = Orders(client, self.catalog, self._clock.now)
        self._relations = Relations(client, self.catalog)
        self._feed = CompositeFeed(client, self._overlap)
        self._countries: dict[str, int] | None = None
        self._available: dict[str, frozenset[str]] = {}
        self._placers: ThreadPoolExecutor | None = None  # started with the first batch of several orders
        self._placing_lock = threading.Lock()

    @property
    def api_calls(self) -> int:
        return self.client.api_calls

    @property
    def api_calls_in_thread(self) -> int:
        return self.client.api_calls_in_thread

    def usage(self) -> ApiUsage | None:
        """Odoo reports no quota."""
        return None

    @property
    def duplicates(self) -> list[DuplicateOrders]:
        return list(self._orders.duplicates)

    def close(self) -> None:
        with self._placing_lock:
            placers, self._placers = self._placers, None
        if placers is not None:
            placers.shutdown(wait=True)
        self.client.close()

    def check(self) -> None:
        """The server answers, its version picks the transport, and the API key logs in."""
        self.client.version()
        self.client.uid()

    # -- reading --------------------------------------------------------------------------------------------

    def fields(self, object_type: str) -> list[str]:
        """The fields read for an object type that this database has (fields_get, once per model): some come
        with optional modules (carrier_tracking_ref with stock_delivery), and reading a missing one fails."""
        source = source_for(object_type)
        if source.model not in self._available:
            described = self.client.call(source.model, "fields_get", attributes=["type"])
            self._available[source.model] = frozenset(described)
        return [name for name in source.fields if name in self._available[source.model]]

    def read_changes(self, object_type: str, cursor: str | None, limit: int) -> ChangePage:
        """Records whose write_date moved since `cursor`, oldest first (write_date, id), each version once.

        Deals and companies also come when their invoices (or a deal's pickings) change or an invoice
        becomes overdue: their cursor is feed_cursor.py's."""
        if limit < 1:
            raise PermanentError(f"odoo: read_changes needs a limit >= 1, not {limit}", ErrorCategory.UNEXPECTED)
        source = source_for(object_type)
        if object_type in NEEDS_TODAY:
            return self._feed.read(self._plan(object_type), cursor, limit, self._server_now())
        state = ChangeCursor.decode(cursor)
        lower = state.lower_bound(self._overlap)
        domain = source.search_domain(*([["write_date", ">=", lower]] if lower is not None else []))
        fetch = limit + len(state.seen)  # the window's rows delivered before come back and are skipped
        rows = self.client.call(source.model, "search_read", domain=domain, fields=self.fields(object_type),
                                order="write_date asc, id asc", limit=fetch, context={"active_test": False})
        fresh = [r for r in self._records(object_type, rows) if state.is_new(r.external_id, r.version)]
        considered = fresh[:limit]
        following = state.after(((r.external_id, r.version) for r in considered), self._overlap)
        # A payment matched to no invoice is nothing Revline can attach: passed over, not delivered.
        delivered = tuple(r for r in considered if object_type != "payment" or r.fields.get("invoice_id"))
        more = len(rows) >= fetch or len(fresh) > limit
        return ChangePage(delivered, following.encode() or cursor, has_more=more)

    def read(self, object_type: str, ids: Sequence[str]) -> list[SourceRecord]:
        """The current state of records by Odoo id; unknown ids (and ids of another object type) are left out."""
        source_for(object_type)
        wanted = [i for i in (record_id(x) for x in dict.fromkeys(ids)) if i is not None]
        if not wanted:
            return []
        return self._read_ids(object_type, wanted, None, {})

    def _read_ids(self, object_type: str, ids: Sequence[int], today: date | None,
                  known: Mapping[int, Row]) -> list[SourceRecord]:
        """Records by id (rows in `known` are not read again), on the ERP's `today` where that matters (None:
        the day the answer just read is dated, as a scan's page is: no version probe of its own)."""
        source = source_for(object_type)
        rows = [known[i] for i in ids if i in known]
        missing = [i for i in ids if i not in known]
        for chunk in _chunks(missing, READ_CHUNK):
            rows.extend(self.client.call(source.model, "search_read", domain=source.search_domain(["id", "in", chunk]),
                                         fields=self.fields(object_type), context={"active_test": False}))
        if today is None and missing and object_type in NEEDS_TODAY:
            today = (self.client.server_time or self._clock.now()).date()
        found: list[SourceRecord] = []
        for chunk in _chunks(rows, READ_CHUNK):
            found.extend(self._records(object_type, chunk, today))
        return found

    def _records(self, object_type: str, rows: Sequence[Mapping[str, Any]], today: date | None = None
                 ) -> list[SourceRecord]:
        if today is None and object_type in NEEDS_TODAY:
            today = self.server_today()
        derived = self._relations.of(object_type, rows, today)
        uid = self.client.uid()
        result = []
        for row in rows:
            found = derived.get(int(row["id"]))
            result.append(to_source_record(object_type, row, uid, found.fields if found else None,
                                           found.changed if found else None))
        return result

    def scan(self, object_type: str, after: str | None, limit: int) -> ScanPage:
        """Live records in id order: search_read on `id > after`, ordered by id, at most 2,000 per call.

        Archived records (active = False) are left out, as Odoo's default search does. Records come as
        read() gives them, with the fields derived from other models (one call per related model per page),
        on the ERP's today as the page's own answer dates it; payments matched to no invoice are passed
        over, as read_changes passes them over.
        """
        source = source_for(object_type)
        last = record_id(after) if after is not None else None
        if after is not None and last is None:
            raise PermanentError(f"odoo: not a scan position: {after!r}", ErrorCategory.MAPPING)
        size = min(max(1, limit), SCAN_PAGE)
        rows = self.client.call(source.model, "search_read",
                                domain=source.search_domain(*([["id", ">", last]] if last is not None else [])),
                                fields=self.fields(object_type), order="id asc", limit=size)
        today = None
        if object_type in NEEDS_TODAY:  # the Date header of the answer just read: no probe of its own
            today = (self.client.server_time or self._clock.now()).date()
        found = self._records(object_type, rows, today) if rows else []
        kept = tuple(r for r in found if object_type != "payment" or r.fields.get("invoice_id"))
        return ScanPage(kept, str(rows[-1]["id"]) if len(rows) == size else None)

    # -- the feeds of deals and companies ---------------------------------------------------------------------

    def _server_now(self) -> datetime:
        """The ERP's time now (the Date header of an answer fetched now), else this connector's clock."""
        return self.client.server_clock() or self._clock.now()

    def _plan(self, object_type: str) -> Plan:
        own = tuple(f for f in self.fields(object_type) if f != "write_date")
        moves = ("name", "move_type", "state", "payment_state", "invoice_date", "invoice_date_due", "amount_total",
                 "amount_residual", "commercial_partner_id")  # fmt: skip
        invoices = Stream("invoices", "account.move", (("move_type", "in", [INVOICE, REFUND]),), moves)

        def records(ids: Sequence[int], today: date, known: Mapping[int, Row]) -> list[SourceRecord]:
            return self._read_ids(object_type, ids, today, known)

        if object_type == "deal":
            done = (("picking_type_code", "=", "outgoing"), ("state", "=", "done"), ("sale_id", "!=", False))
            shipped = Stream("pickings", "stock.picking", done, ("sale_id", "date_done", "carrier_tracking_ref"))
            return Plan(Stream("deal", "sale.order", DEAL_DOMAIN, own), (invoices, shipped), self._deal_targets,
                        records)
        return Plan(Stream("company", "res.partner", (("is_company", "=", True),), own), (invoices,),
                    _company_targets, records)

    def _deal_targets(self, model: str, rows: Sequence[Row]) -> dict[int, int | None]:
        """A deal's order for each row: the order itself, a picking's sale_id, the order holding an invoice."""
        if model == "sale.order":
            return {int(r["id"]): int(r["id"]) for r in rows}
        if model == "stock.picking":
            return {int(r["id"]): record_id(r.get("sale_id")) for r in rows}
        ids = [int(r["id"]) for r in rows]
        orders = self.client.call("sale.order", "search_read",
                                  domain=[*source_for("deal").search_domain(), ["invoice_ids", "in", ids]],
                                  fields=["invoice_ids"], order="id asc")
        found: dict[int, int | None] = {}
        for order in orders:
            for invoice_id in order.get("invoice_ids") or []:
                found.setdefault(int(invoice_id), int(order["id"]))
        return found

    # -- writing ----------------------------------------------------------------------------------------------

    def write_batch(self, object_type: str, writes: Sequence[WriteRequest]) -> list[WriteResult]:
        """Companies and contacts upserted on `ref`; orders placed once on `origin`; the rest is the ERP's own."""
        source_for(object_type)
        if not writes:
            return []
        if object_type in READ_ONLY:
            owned = PermanentError(f"odoo owns {object_type} records; Revline reads them and never writes them",
                                   ErrorCategory.MAPPING)
            return [WriteResult(w.canonical_id, w.external_id, error=owned) for w in writes]
        if object_type in ("order", "deal"):
            return self._place_all(object_type, writes)
        return self._write_partners(object_type, writes)

    def _versions(self, object_type: str, ids: Sequence[int]) -> dict[int, str]:
        return {int(r.external_id): r.version for r in self.read(object_type, [str(i) for i in ids])}

    def _place_all(self, object_type: str, writes: Sequence[WriteRequest]) -> list[WriteResult]:
        """Each order placed once (several at a time: each is a handful of calls in a row), then all read once.

        Orders of different keys never wait for each other, and the same key is serialised in Orders.
        """
        if len(writes) == 1:
            placements: list[Placement | SyncError] = [self._place(object_type, writes[0])]
        else:
            placements = list(self._placing().map(lambda w: self._place(object_type, w), writes))
        placed_ids = [str(p.order_id) for p in placements if isinstance(p, Placement)]
        try:
            # Read once as placed: their numbers and states go on to the CRMs from this answer, not a later poll.
            placed = {r.external_id: r for r in self.read(object_type, placed_ids)} if placed_ids else {}
        except SyncError as failed:
            placements = [failed if isinstance(p, Placement) else p for p in placements]
            placed = {}
        results = []
        for write, placement in zip(writes, placements, strict=True):
            if isinstance(placement, SyncError):
                results.append(WriteResult(write.canonical_id, write.external_id, error=placement))
                continue
            record = placed.get(str(placement.order_id))
            if record is None:
                results.append(WriteResult(write.canonical_id, str(placement.order_id), created=placement.created))
                continue
            results.append(WriteResult(write.canonical_id, str(placement.order_id), record.version,
                                       created=placement.created, filled=dict(record.fields)))
        return results

    def _placing(self) -> ThreadPoolExecutor:
        with self._placing_lock:
            if self._placers is None:
                self._placers = ThreadPoolExecutor(PLACING_AT_ONCE, thread_name_prefix=f"{self.system}-orders")
            return self._placers

    def _place(self, object_type: str, write: WriteRequest) -> Placement | SyncError:
        """An order, or a deal's order (keyed `sf-opp:<Opportunity Id>`), placed once; a linked one only confirmed."""
        if object_type == "deal":
            origin = deal_origin(write.fields.get("origin"), write.canonical_id)
        else:
            origin = str(write.fields.get("origin") or f"{REVLINE_ORIGIN}{write.canonical_id}")
        lines = write.fields.get("order_line") or []
        linked = record_id(write.external_id)
        try:
            if linked is not None:
                return self._orders.ensure(linked)
            return self.place_order(origin, write.fields, lines)
        except SyncError as error:
            return error

    def place_order(
        self, origin: str, header: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]
    ) -> Placement:
        """The confirmed order keyed on `origin` (e.g. "sf-opp:006..."), created from `header` (partner_id,
        client_order_ref, ...) and canonical lines ({product_code, quantity, unit_price?, description?})
        unless Odoo already holds it. Safe to call again after any failure."""
        return self._orders.place(origin, header, lines)

    def _country_ids(self) -> dict[str, int]:
        if self._countries is None:
            rows = self.client.call("res.country", "search_read", domain=[], fields=["name", "code"])
            found: dict[str, int] = {}
            for row in rows:
                for key in (row.get("name"), row.get("code")):
                    if key:
                        found[country_key(str(key))] = int(row["id"])
            self._countries = found
        return self._countries

    def _write_partners(self, object_type: str, writes: Sequence[WriteRequest]) -> list[WriteResult]:
        results: dict[int, WriteResult] = {}
        targets: dict[int, int] = {}  # index -> partner id
        by_ref: dict[str, int] = {}
        unknown = [w.canonical_id for w in writes if record_id(w.external_id) is None]
        if unknown:
            rows = self.client.call("res.partner", "search_read", domain=[["ref", "in", unknown]],
                                    fields=["ref"], order="id asc", context={"active_test": False})
            for row in rows:
                by_ref.setdefault(str(row["ref"]), int(row["id"]))
        for index, write in enumerate(writes):
            known = record_id(write.external_id) or by_ref.get(write.canonical_id)
            if known is not None:
                targets[index] = known
        names = self._current_names(object_type, writes, targets)
        countries = self._country_ids() if any("country_id" in w.fields for w in writes) else {}
        values: dict[int, dict[str, Any]] = {}
        for index, write in enumerate(writes):
            try:
                values[index] = partner_values(object_type, write, countries, names.get(targets.get(index, -1)))
            except SyncError as error:
                results[index] = WriteResult(write.canonical_id, write.external_id, error=error)
        for index, partner_id in targets.items():
            if index in values:
                try:
                    self.client.call("res.partner", "write", ids=[partner_id], vals=values[index])
                except SyncError as error:
                    results[index] = WriteResult(writes[index].canonical_id, str(partner_id), error=error)
        creating = [i for i in values if i not in targets]
        self._create_partners(writes, creating, values, targets, results)
        versions = self._versions(object_type, [targets[i] for i in targets if i not in results])
        for index, write in enumerate(writes):
            if index not in results:
                partner_id = targets[index]
                results[index] = WriteResult(write.canonical_id, str(partner_id), versions.get(partner_id),
                                             created=index in creating)
        return [results[i] for i in range(len(writes))]

    def _create_partners(
        self, writes: Sequence[WriteRequest], creating: list[int], values: Mapping[int, dict[str, Any]],
        targets: dict[int, int], results: dict[int, WriteResult],
    ) -> None:
        """One create call for all new partners; if Odoo refuses it (one bad record fails the whole
        transaction), one call each, so the others go through and the culprit carries its error."""
        if not creating:
            return
        try:
            ids = self.client.call("res.partner", "create", vals_list=[values[i] for i in creating])
            targets.update({i: int(x) for i, x in zip(creating, ids, strict=True)})
            return
        except PermanentError as error:
            if len(creating) == 1:
                results[creating[0]] = WriteResult(writes[creating[0]].canonical_id, error=error)
                return
        for index in creating:
            try:
                targets[index] = int(self.client.call("res.partner", "create", vals_list=[values[index]])[0])
            except SyncError as error:
                results[index] = WriteResult(writes[index].canonical_id, error=error)

    def _current_names(self, object_type: str, writes: Sequence[WriteRequest], targets: Mapping[int, int]
                       ) -> dict[int, str]:
        """Stored names of contacts whose first or last name alone is written (Odoo keeps one name)."""
        if object_type != "contact":
            return {}
        partial = [targets[i] for i, w in enumerate(writes)
                   if i in targets and ("first_name" in w.fields) != ("last_name" in w.fields)]  # fmt: skip
        if not partial:
            return {}
        rows = self.client.call("res.partner", "search_read", domain=[["id", "in", partial]], fields=["name"],
                                context={"active_test": False})
        return {int(r["id"]): str(r.get("name") or "") for r in rows}

    # -- the catalogue ------------------------------------------------------------------------------------------

    def product(self, code: str) -> CatalogProduct:
        """The sellable product with `code`; PermanentError(MAPPING) when missing or archived."""
        return self.catalog.product(code)

    def price(self, code: str, quantity: Decimal | float, on: date | None = None,
              pricelist_id: int | None = None) -> Decimal:
        """Unit price from the pricelist items for the product, quantity and date (default: the configured
        pricelist, else Odoo's first)."""
        return self.catalog.price(code, quantity, on, pricelist_id)

    # -- overdue sweep ----------------------------------------------------------------------------------------------

    def server_today(self) -> date:
        """Today as the ERP sees it (the Date header of an answer fetched now), else by this connector's clock."""
        stamped = self.client.server_clock()
        return (stamped or self._clock.now()).date()

    def overdue_invoices(self, today: date | None = None) -> list[OverdueInvoice]:
        """Posted customer invoices not fully paid and due before `today` (default: the ERP's today).

        Overdue is not stored in Odoo and becoming overdue changes no write_date, so change polling
        never sees it: this sweep, run daily, does.
        """
        day = today or self.server_today()
        source = source_for("invoice")
        domain = [["move_type", "=", "out_invoice"], ["state", "=", "posted"],
                  ["payment_state", "in", ["not_paid", "partial"]], ["invoice_date_due", "<", day.isoformat()]]
        mapping = mapping_for(self._mappings, "invoice")
        if mapping is None:
            raise PermanentError(f"{self.system} has no field mapping for invoice", ErrorCategory.MAPPING)
        overdue: list[OverdueInvoice] = []
        offset = 0
        while True:
            rows = self.client.call(source.model, "search_read", domain=domain, fields=self.fields("invoice"),
                                    order="invoice_date_due asc, id asc", offset=offset, limit=SWEEP_PAGE)
            for record in self._records("invoice", rows):
                values = records.validate("invoice", field_mapping.to_canonical(mapping, record.fields))
                invoice = records.Invoice.model_validate(values)
                late = (day - invoice.due_date).days if invoice.due_date else 0
                overdue.append(OverdueInvoice(record.external_id, invoice, late))
            if len(rows) < SWEEP_PAGE:
                return overdue
            offset += SWEEP_PAGE


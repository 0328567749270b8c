"""Placing orders in Odoo exactly once: create-and-confirm keyed on `origin`, safe to repeat after any failure.

Odoo enforces no uniqueness on sale.order.origin, so the connector does what WIRE.md describes:
search for the key first (draft or sent: confirm it; sale: nothing to do; only cancelled ones: a
conflict for a person), serialise placements of the same key in this process, and after creating
look again: if another writer created one too, the oldest order stands, the newer drafts are
cancelled, and the duplicate is reported.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from connectors.erp.catalog import Catalog
from connectors.erp.client import OdooClient
from connectors.erp.mapping import order_line_values, record_id
from sync_core.domain.errors import ErrorCategory, PermanentError

log = logging.getLogger(__name__)

# Header fields Revline sets when it places an order; everything else on sale.order is Odoo's (name, state,
# amounts). A placed order is not amended: changes after confirmation are made in Odoo.
WRITABLE = frozenset({"partner_id", "client_order_ref", "note", "commitment_date", "validity_date", "payment_term_id"})
_STRIPES = 64  # locks shared by keys: bounded memory, and two keys rarely wait for each other


@dataclass(frozen=True)
class DuplicateOrders:
    """More than one live order carried one key: `kept` stands, `cancelled` were this connector's and are void."""

    origin: str
    kept: int
    others: tuple[int, ...]
    cancelled: tuple[int, ...]
    seen_at: datetime


@dataclass(frozen=True)
class Placement:
    """Where an order stands after place(): its id, name and state, and what this call did."""

    order_id: int
    name: str
    state: str
    created: bool
    confirmed: bool
    duplicates: DuplicateOrders | None = None


@dataclass
class _Found:
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def live(self) -> list[dict[str, Any]]:
        return sorted((r for r in self.rows if r.get("state") != "cancel"), key=lambda r: int(r["id"]))


class Orders:
    """Idempotent order placement over one client and catalogue."""

    def __init__(self, client: OdooClient, catalog: Catalog, now: Callable[[], datetime]) -> None:
        self._client = client
        self._catalog = catalog
        self._now = now
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]
        self._lock = threading.Lock()
        self.duplicates: list[DuplicateOrders] = []

    def _stripe(self, origin: str) -> threading.Lock:
        return self._stripes[zlib.crc32(origin.encode()) % _STRIPES]

    def _find(self, origin: str) -> _Found:
        rows = self._client.call("sale.order", "search_read", domain=[["origin", "=", origin]],
                                 fields=["name", "state", "origin"], order="id asc")
        return _Found(list(rows))

    def place(self, origin: str, header: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]) -> Placement:
        """The confirmed order for `origin`, created from `header` and canonical `lines` if Odoo has none."""
        if not origin:
            raise PermanentError("odoo: an order needs an origin to be placed idempotently", ErrorCategory.MAPPING)
        with self._stripe(origin):
            found = self._find(origin)
            if found.rows:
                return self._existing(origin, found)
            values = self._values(origin, header, lines)
            created = int(self._client.call("sale.order", "create", vals_list=[values])[0])
            return self._after_create(origin, created)

    def ensure(self, order_id: int) -> Placement:
        """An order Revline already links: confirmed if it is still a quotation, never placed again."""
        rows = self._client.call("sale.order", "search_read", domain=[["id", "=", order_id]],
                                 fields=["name", "state", "origin"])
        if not rows:
            raise PermanentError(f"odoo has no sale.order {order_id} (deleted in Odoo?)",
                                 ErrorCategory.MISSING_REFERENCE)
        origin = str(rows[0].get("origin") or f"sale.order {order_id}")
        with self._stripe(origin):
            return self._existing(origin, _Found(list(rows)))

    def _existing(self, origin: str, found: _Found) -> Placement:
        live = found.live
        if not live:
            names = ", ".join(str(r.get("name")) for r in found.rows)
            raise PermanentError(
                f"odoo: the order for {origin} ({names}) was cancelled in Odoo; a person must decide whether to "
                "reopen it or place a new one", ErrorCategory.CONFLICT,
            )
        duplicates = self._report(origin, live, []) if len(live) > 1 else None
        kept = live[0]
        return self._confirmed(kept, created=False, duplicates=duplicates)

    def _after_create(self, origin: str, created: int) -> Placement:
        # Another process may have placed the same key between our search and our create.
        live = self._find(origin).live
        if len(live) <= 1:
            row = live[0] if live else {"id": created, "name": "", "state": "draft"}
            return self._confirmed(row, created=True)
        kept = live[0]
        cancelled: list[int] = []
        if int(kept["id"]) != created:
            self._client.call("sale.order", "action_cancel", ids=[created])
            cancelled.append(created)
        duplicates = self._report(origin, live, cancelled)
        return self._confirmed(kept, created=int(kept["id"]) == created, duplicates=duplicates)

    def _report(self, origin: str, live: list[dict[str, Any]], cancelled: list[int]) -> DuplicateOrders:
        found = DuplicateOrders(origin, int(live[0]["id"]), tuple(int(r["id"]) for r in live[1:]), tuple(cancelled),
                                self._now())
        log.warning("odoo: %d live orders carry origin %s; kept %s, cancelled %s", len(live), origin, found.kept,
                    list(found.cancelled) or "none")
        with self._lock:
            self.duplicates.append(found)
        return found

    def _confirmed(self, row: Mapping[str, Any], created: bool, duplicates: DuplicateOrders | None = None) -> Placement:
        order_id = int(row["id"])
        state = str(row.get("state"))
        confirmed = False
        if state in ("draft", "sent"):
            try:
                self._client.call("sale.order", "action_confirm", ids=[order_id])
                confirmed = True
            except PermanentError as error:
                if error.category is not ErrorCategory.VALIDATION:
                    raise
                # Confirmed by a concurrent writer meanwhile ("not in a state requiring confirmation")?
                if self._state(order_id)[1] != "sale":
                    raise
        name, state = self._state(order_id)
        return Placement(order_id, name, state, created, confirmed, duplicates)

    def _state(self, order_id: int) -> tuple[str, str]:
        rows = self._client.call("sale.order", "search_read", domain=[["id", "=", order_id]], fields=["name", "state"])
        if not rows:
            raise PermanentError(f"odoo: sale.order {order_id} vanished", ErrorCategory.MISSING_REFERENCE)
        return str(rows[0]["name"]), str(rows[0]["state"])

    def _values(self, origin: str, header: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        partner_id = record_id(header.get("partner_id"))
        if partner_id is None:
            raise PermanentError("odoo: an order needs its customer (partner_id)", ErrorCategory.MISSING_REFERENCE)
        partners = self._client.call("res.partner", "search_read", domain=[["id", "=", partner_id]],
                                     fields=["property_product_pricelist", "active"], context={"active_test": False})
        if not partners:
            raise PermanentError(f"odoo has no customer {partner_id}", ErrorCategory.MISSING_REFERENCE)
        pricelist = record_id(partners[0].get("property_product_pricelist"))
        products = self._catalog.products(str(line.get("product_code") or "") for line in lines)
        commands = []
        for line in lines:
            product = products[str(line.get("product_code") or "")]
            given = line.get("unit_price")
            if given is None or given == "":
                price = self._catalog.price(product.code, float(line.get("quantity") or 1.0), None, pricelist)
            else:
                price = Decimal(str(given))
            commands.append([0, 0, order_line_values(product.id, line, float(price))])
        values = {k: v for k, v in header.items() if k in WRITABLE and v is not None}
        values.update({"partner_id": partner_id, "origin": origin, "order_line": commands})
        return values

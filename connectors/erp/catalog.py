"""Products by default_code (cached briefly) and unit prices from pricelist items, as the ERP holds them.

The ERP owns its catalogue: a code it does not know is a mapping error, never a new product.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from connectors.erp.client import OdooClient
from connectors.erp.mapping import format_datetime, record_id
from sync_core.domain.errors import ErrorCategory, PermanentError
from sync_core.ports import Clock

# The pricelist rules read: global ones and those naming the product variant. Category and product-template
# rules would need the product's category tree and template; they are not evaluated.
_APPLICABLE = ["3_global", "0_product_variant"]


@dataclass(frozen=True)
class CatalogProduct:
    """A product.product as orders need it."""

    id: int
    code: str
    name: str
    list_price: Decimal
    active: bool
    sale_ok: bool


class Catalog:
    """Products by code and by id, each cached for `ttl` (misses too, so a burst of orders asks once)."""

    def __init__(self, client: OdooClient, clock: Clock, ttl: timedelta, pricelist_id: int | None = None) -> None:
        self._client = client
        self._clock = clock
        self._ttl = ttl
        self._pricelist_id = pricelist_id
        self._lock = threading.Lock()
        self._by_code: dict[str, tuple[datetime, CatalogProduct | None]] = {}
        self._codes: dict[int, str] = {}

    def invalidate(self) -> None:
        with self._lock:
            self._by_code.clear()
            self._codes.clear()

    def lookups(self, codes: Iterable[str]) -> dict[str, CatalogProduct | None]:
        """Products by code, archived ones included (None: Odoo has no product with that code)."""
        wanted = list(dict.fromkeys(codes))
        now = self._clock.now()
        found: dict[str, CatalogProduct | None] = {}
        with self._lock:
            for code in wanted:
                cached = self._by_code.get(code)
                if cached is not None and cached[0] > now:
                    found[code] = cached[1]
        missing = [c for c in wanted if c not in found]
        if missing:
            rows = self._client.call(
                "product.product", "search_read", domain=[["default_code", "in", missing]],
                fields=["default_code", "name", "lst_price", "active", "sale_ok"], order="active desc, id asc",
                context={"active_test": False},
            )
            fetched: dict[str, CatalogProduct | None] = dict.fromkeys(missing)
            for row in rows:
                code = str(row["default_code"])
                if fetched.get(code) is None:  # an active product wins over an archived one with the same code
                    fetched[code] = CatalogProduct(int(row["id"]), code, str(row.get("name") or ""),
                                                   Decimal(str(row.get("lst_price") or 0)), bool(row.get("active")),
                                                   bool(row.get("sale_ok")))  # fmt: skip
            with self._lock:
                for code, product in fetched.items():
                    self._by_code[code] = (now + self._ttl, product)
                    if product is not None:
                        self._codes[product.id] = code
            found.update(fetched)
        return found

    def product(self, code: str) -> CatalogProduct:
        """The sellable product with this code; PermanentError(MAPPING) if it is missing, archived or not for sale."""
        return self.products([code])[code]

    def products(self, codes: Iterable[str]) -> dict[str, CatalogProduct]:
        found = self.lookups(codes)
        for code, product in found.items():
            if product is None:
                raise PermanentError(f"odoo has no product with code {code!r} (the ERP owns products: create it "
                                     "there, or fix the code)", ErrorCategory.MAPPING)
            if not product.active or not product.sale_ok:
                raise PermanentError(f"odoo product {code!r} ({product.name}) is archived or not for sale",
                                     ErrorCategory.MAPPING)
        return {code: product for code, product in found.items() if product is not None}

    def codes_of(self, product_ids: Iterable[int]) -> dict[int, str]:
        """default_code by product id (read once per id; codes rarely change and only label lines)."""
        wanted = list(dict.fromkeys(product_ids))
        with self._lock:
            known = {i: self._codes[i] for i in wanted if i in self._codes}
        missing = [i for i in wanted if i not in known]
        if missing:
            rows = self._client.call("product.product", "search_read", domain=[["id", "in", missing]],
                                     fields=["default_code"], context={"active_test": False})
            with self._lock:
                for row in rows:
                    if row.get("default_code"):
                        self._codes[int(row["id"])] = str(row["default_code"])
                        known[int(row["id"])] = str(row["default_code"])
        return known

    def default_pricelist(self) -> int | None:
        if self._pricelist_id is None:
            rows = self._client.call("product.pricelist", "search_read", domain=[], fields=["id"], order="id asc",
                                     limit=1)
            self._pricelist_id = int(rows[0]["id"]) if rows else None
        return self._pricelist_id

    def price(self, code: str, quantity: Decimal | float, on: date | datetime | None = None,
              pricelist_id: int | None = None) -> Decimal:
        """The unit price for `quantity` of the product on `on` (default today): the first pricelist item that
        applies, in Odoo's order (applied_on, min_quantity desc, id desc), else the product's sales price."""
        product = self.product(code)
        pricelist = pricelist_id or self.default_pricelist()
        if pricelist is None:
            return product.list_price
        when = on if isinstance(on, datetime) else datetime.combine(on or self._clock.now().date(), time(12), UTC)
        stamp = format_datetime(when if when.tzinfo else when.replace(tzinfo=UTC))
        items = self._client.call(
            "product.pricelist.item", "search_read",
            domain=[["pricelist_id", "=", pricelist], ["min_quantity", "<=", float(quantity)],
                    ["applied_on", "in", _APPLICABLE],
                    "|", ["date_start", "=", False], ["date_start", "<=", stamp],
                    "|", ["date_end", "=", False], ["date_end", ">=", stamp],
                    "|", ["applied_on", "=", "3_global"], ["product_id", "=", product.id]],
            fields=["applied_on", "product_id", "compute_price", "fixed_price", "percent_price", "min_quantity"],
            order="applied_on asc, min_quantity desc, id desc",
        )  # fmt: skip
        for item in items:
            if item.get("applied_on") != "3_global" and record_id(item.get("product_id")) != product.id:
                continue
            if item.get("compute_price") == "fixed":
                return Decimal(str(item.get("fixed_price") or 0))
            if item.get("compute_price") == "percentage":
                share = 1 - Decimal(str(item.get("percent_price") or 0)) / 100
                return (product.list_price * share).quantize(Decimal("0.01"))
            return product.list_price  # formula rules are not evaluated: the list price stands
        return product.list_price

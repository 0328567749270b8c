"""Deterministic seed data: reference data, products, pricelists, customers, contacts and months of orders.

The order history is confirmed in the past; the business clock then carries it forward to now.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from faker import Faker

from connectors.erp.sandbox import sales
from connectors.erp.sandbox.orm import Env

COUNTRIES = (
    ("Germany", "DE"), ("France", "FR"), ("United Kingdom", "GB"), ("United States", "US"), ("Netherlands", "NL"),
    ("Belgium", "BE"), ("Spain", "ES"), ("Italy", "IT"), ("Sweden", "SE"), ("Switzerland", "CH"),
    ("Austria", "AT"), ("Denmark", "DK"), ("Ireland", "IE"), ("Canada", "CA"),
)  # fmt: skip
CURRENCIES = (("EUR", "€"), ("USD", "$"), ("GBP", "£"))
PAYMENT_TERMS = (("Immediate Payment", 0), ("15 Days", 15), ("30 Days", 30), ("45 Days", 45), ("60 Days", 60))
_KINDS = ("Gateway", "Sensor", "Server", "Licence", "Support Plan", "Router", "Controller", "Display")
_PRICES = (49.0, 99.0, 249.0, 499.0, 990.0, 2490.0, 4900.0)
_JOBS = ("CFO", "Head of Procurement", "Accountant", "Operations Manager", "Purchasing Agent", "Controller")
PRODUCT_COUNT = 20  # SKU-1001 .. SKU-1020: every ProductCode the Salesforce sandbox seeds (up to 100 accounts)
ARCHIVED_CODE = "SKU-0999"

EnvAt = Callable[[datetime], AbstractContextManager[Env]]


@dataclass(frozen=True)
class _Pools:
    companies: tuple[str, ...]
    domains: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    streets: tuple[str, ...]
    cities: tuple[str, ...]
    colors: tuple[str, ...]


@cache
def _pools(seed_value: int, size: int) -> _Pools:
    """Names drawn once per (seed, size): Faker is slow to build, and resets reseed often."""
    fake = Faker("en_US")
    fake.seed_instance(seed_value)
    return _Pools(
        tuple(fake.unique.company() for _ in range(size)),
        tuple(fake.unique.domain_name() for _ in range(size)),
        tuple(fake.first_name() for _ in range(size * 3)),
        tuple(fake.last_name() for _ in range(size * 3)),
        tuple(fake.street_address() for _ in range(size)),
        tuple(fake.city() for _ in range(size)),
        tuple(fake.color_name() for _ in range(PRODUCT_COUNT + 1)),
    )


def seed(env_at: EnvAt, seed_value: int, records: int, now: datetime) -> list[int]:
    """Fill an empty store; the same seed and size always give the same records and ids.

    Orders are confirmed in the past; the caller then lets the business clock catch up to `now`.
    Returns the customers with confirmed orders, the earliest first.
    """
    rng = random.Random(seed_value)
    pools = _pools(seed_value, max(records, 1))
    start = now - timedelta(days=365)
    with env_at(start) as env:
        create = env.create
        create("res.users", [{"name": "OdooBot", "login": "__system__", "active": False},
                             {"name": "Mitchell Admin", "login": "admin"},
                             {"name": "Marc Demo", "login": "demo"}])  # fmt: skip
        currencies = create("res.currency", [{"name": n, "symbol": s} for n, s in CURRENCIES])
        countries = create("res.country", [{"name": n, "code": c} for n, c in COUNTRIES])
        terms = create("account.payment.term", [
            {"name": name, "line_ids": [(0, 0, {"value": "percent", "value_amount": 100.0, "nb_days": days})]}
            for name, days in PAYMENT_TERMS
        ])  # fmt: skip
        public, partner_list = create("product.pricelist", [
            {"name": "Public Pricelist", "currency_id": currencies[0]},
            {"name": "Partner Pricelist", "currency_id": currencies[0],
             "item_ids": [(0, 0, {"applied_on": "3_global", "compute_price": "percentage", "percent_price": 10.0})]},
        ])  # fmt: skip
        products = create("product.product", [
            {"name": f"{pools.colors[i]} {rng.choice(_KINDS)}", "default_code": f"SKU-{1001 + i}",
             "lst_price": rng.choice(_PRICES), "currency_id": currencies[0], "type": "consu"}
            for i in range(PRODUCT_COUNT)
        ])  # fmt: skip
        create("product.product", [{"name": f"{pools.colors[-1]} Legacy Unit", "default_code": ARCHIVED_CODE,
                                    "lst_price": 10.0, "active": False}])  # fmt: skip
        items = []
        for product_id in products[:3]:  # negotiated list prices
            items.append({"pricelist_id": public, "applied_on": "0_product_variant", "product_id": product_id,
                          "compute_price": "fixed", "fixed_price": float(rng.choice(_PRICES[:4]))})
        for product_id in products[3:7]:  # volume breaks
            items.append({"pricelist_id": public, "applied_on": "0_product_variant", "product_id": product_id,
                          "compute_price": "percentage", "percent_price": 10.0, "min_quantity": 10.0})
        items.append({"pricelist_id": public, "applied_on": "0_product_variant", "product_id": products[7],
                      "compute_price": "fixed", "fixed_price": 199.0,
                      "date_start": now - timedelta(days=10), "date_end": now + timedelta(days=20)})  # a promotion
        create("product.pricelist.item", items)

    customers: list[int] = []
    for index in range(records):
        country = rng.choice(countries)
        name, domain = pools.companies[index], pools.domains[index]
        with env_at(start + timedelta(days=rng.randint(0, 200), seconds=rng.randint(0, 86_399))) as env:
            company = env.create("res.partner", [{
                "name": name, "is_company": True, "vat": f"{COUNTRIES[country - 1][1]}{rng.randint(10**8, 10**9 - 1)}",
                "email": f"accounts@{domain}", "phone": f"+{rng.randint(1, 49)} {rng.randint(100, 999)} "
                f"{rng.randint(1000, 9999)}", "website": f"https://www.{domain}", "street": pools.streets[index],
                "city": pools.cities[index], "zip": f"{rng.randint(10000, 99999)}", "country_id": country,
                "property_payment_term_id": rng.choice(terms[1:]) if index % 7 else terms[0],
                "property_product_pricelist": partner_list if index % 5 == 0 else public,
                "credit_limit": float(rng.choice((0, 10_000, 25_000, 50_000, 100_000))),
                "sale_warn": "block" if index % 17 == 16 else "no-message", "customer_rank": 1,
                "type": "contact",
            }])[0]  # fmt: skip
            first = pools.first_names[index * 3: index * 3 + 3]
            last = pools.last_names[index * 3: index * 3 + 3]
            env.create("res.partner", [{
                "name": f"{first_name} {last_name}", "parent_id": company,
                "email": f"{first_name}.{last_name}@{domain}".lower(),
                "function": rng.choice(_JOBS), "phone": f"+{rng.randint(1, 49)} {rng.randint(100, 999)} "
                f"{rng.randint(1000, 9999)}", "type": "contact",
            } for first_name, last_name in list(zip(first, last, strict=True))[: rng.randint(1, 3)]])  # fmt: skip
        customers.append(company)

    # Most orders are confirmed; the cycle guarantees every stage shows up even in a small seed.
    first_confirmed: dict[int, datetime] = {}
    fates = itertools.cycle(("sale", "draft", "sale", "sale", "sent", "sale", "cancel", "sale", "sale", "sale"))
    for company in customers:
        for _ in range(rng.choice((0, 1, 1, 2))):
            placed = now - timedelta(days=rng.randint(2, 120), seconds=rng.randint(0, 86_399))
            lines = [
                (0, 0, {"product_id": rng.choice(products), "product_uom_qty": float(rng.choice((1, 2, 5, 10, 20)))})
                for _ in range(rng.randint(1, 3))
            ]
            fate = next(fates)
            with env_at(placed) as env:
                order = env.create("sale.order", [{
                    "partner_id": company, "client_order_ref": f"PO-{rng.randint(10000, 99999)}",
                    "order_line": lines,
                }])[0]  # fmt: skip
                if fate == "sent":
                    env.write("sale.order", [order], {"state": "sent"})
                elif fate == "cancel":
                    sales.cancel(env, [order])
            if fate == "sale":
                confirmed = placed + timedelta(hours=rng.randint(1, 48))
                with env_at(confirmed) as env:
                    sales.confirm(env, [order])
                first_confirmed[company] = min(confirmed, first_confirmed.get(company, confirmed))
    return sorted(first_confirmed, key=lambda c: (first_confirmed[c], c))

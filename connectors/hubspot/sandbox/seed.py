"""Deterministic seed data: realistic companies, contacts, deals, products and line items from Faker."""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from faker import Faker

from connectors.hubspot.sandbox.store import Store
from connectors.hubspot.sandbox.times import now_ms

SEED_SOURCE = "IMPORT"
_DAY_MS = 86_400_000


@dataclass(frozen=True)
class _Locale:
    code: str
    country: str
    tld: str


_LOCALES = (
    _Locale("en_US", "United States", "com"),
    _Locale("en_US", "United States", "io"),
    _Locale("en_GB", "United Kingdom", "co.uk"),
    _Locale("de_DE", "Germany", "de"),
    _Locale("fr_FR", "France", "fr"),
    _Locale("nl_NL", "Netherlands", "nl"),
)
# Industries common among B2B buyers; all of them have a canonical value in the connector's mapping.
INDUSTRIES = (
    "COMPUTER_SOFTWARE", "INFORMATION_TECHNOLOGY_AND_SERVICES", "FINANCIAL_SERVICES", "HOSPITAL_HEALTH_CARE",
    "RETAIL", "INDUSTRIAL_AUTOMATION", "MANAGEMENT_CONSULTING", "TELECOMMUNICATIONS", "INSURANCE", "BANKING",
    "LOGISTICS_AND_SUPPLY_CHAIN", "MARKETING_AND_ADVERTISING", "CONSTRUCTION", "EDUCATION_MANAGEMENT",
)
_STAGES = ("subscriber", "lead", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")
_LEAD_STATUSES = ("NEW", "OPEN", "IN_PROGRESS", "ATTEMPTED_TO_CONTACT", "CONNECTED", "UNQUALIFIED")
_SOURCES = ("ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA", "REFERRALS", "DIRECT_TRAFFIC",
            "OFFLINE")
_DEAL_STAGES = ("appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin",
                "contractsent", "closedwon", "closedlost")
PRODUCTS = (
    ("RL-1001", "Revline Platform - Team", "4800.00", "annually"),
    ("RL-1002", "Revline Platform - Business", "12000.00", "annually"),
    ("RL-1003", "Revline Platform - Enterprise", "36000.00", "annually"),
    ("RL-2001", "Additional Connector", "1200.00", "annually"),
    ("RL-2002", "Sandbox Environment", "2400.00", "annually"),
    ("RL-3001", "Implementation Package", "9500.00", None),
    ("RL-3002", "Data Migration Service", "6500.00", None),
    ("RL-3003", "Admin Training (per seat)", "450.00", None),
    ("RL-4001", "Premium Support", "250.00", "monthly"),
    ("RL-4002", "Dedicated Success Manager", "1500.00", "monthly"),
    ("RL-5001", "API Call Pack (1M)", "800.00", "quarterly"),
    ("RL-5002", "Audit Log Retention (7y)", "3000.00", "annually"),
)


@dataclass(frozen=True)
class _Pools:
    """Values drawn once per locale, then combined at random: fast and still realistic."""

    companies: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    jobs: tuple[str, ...]
    cities: tuple[str, ...]
    phones: tuple[str, ...]


@lru_cache(maxsize=4)
def _pools(seed: int) -> dict[str, _Pools]:
    pools = {}
    for index, code in enumerate(sorted({locale.code for locale in _LOCALES})):
        fake = Faker(code)
        fake.seed_instance(seed * 101 + index)
        pools[code] = _Pools(
            companies=tuple(fake.company() for _ in range(300)),
            first_names=tuple(fake.first_name() for _ in range(200)),
            last_names=tuple(fake.last_name() for _ in range(200)),
            jobs=tuple(fake.job() for _ in range(80)),
            cities=tuple(fake.city() for _ in range(60)),
            phones=tuple(fake.phone_number() for _ in range(300)),
        )
    return pools


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", plain.lower())


def seed_store(store: Store, seed: int = 7, records: int = 50) -> dict[str, int]:
    """Fill `store` with `records` companies, twice as many contacts, half as many deals, and products.

    The same seed gives the same records (ids included, if the store was reset first);
    creation and modification times spread over the past year, before now.
    """
    rng = random.Random(seed)
    pools = _pools(seed)
    now = now_ms()
    counts = {"companies": 0, "contacts": 0, "deals": 0, "products": 0, "line_items": 0}

    def when() -> int:
        return now - rng.randrange(1, 365) * _DAY_MS - rng.randrange(_DAY_MS)

    def create(object_type: str, properties: dict[str, Any], at_ms: int) -> str:
        counts[object_type] += 1
        return store.create(object_type, properties, SEED_SOURCE, server=True, at_ms=at_ms).id

    products = []
    for sku, name, price, period in PRODUCTS[: max(3, min(len(PRODUCTS), records))]:
        properties = {"name": name, "hs_sku": sku, "price": price, "description": f"{name} ({sku})"}
        if period:
            properties["recurringbillingfrequency"] = period
        products.append((create("products", properties, when()), name, sku, price))

    used_domains: set[str] = set()
    used_emails: set[str] = set()
    for _ in range(records):
        locale = rng.choice(_LOCALES)
        pool = pools[locale.code]
        name = rng.choice(pool.companies)
        stem = _ascii(name.split(",")[0].split(" ")[0]) or "company"
        domain = f"{stem}.{locale.tld}"
        suffix = 2
        while domain in used_domains:
            domain, suffix = f"{stem}{suffix}.{locale.tld}", suffix + 1
        used_domains.add(domain)
        city = rng.choice(pool.cities)
        company_at = when()
        company_id = create("companies", {
            "name": name,
            "domain": domain,
            "website": f"https://www.{domain}",
            "industry": rng.choice(INDUSTRIES),
            "city": city,
            "country": locale.country,
            "phone": rng.choice(pool.phones),
            "numberofemployees": str(rng.choice((12, 35, 80, 150, 420, 1200, 5000))),
            "annualrevenue": str(rng.randrange(5, 2000) * 100_000),
            "lifecyclestage": rng.choice(("lead", "opportunity", "customer")),
        }, company_at)

        contact_ids = []
        for _ in range(2):
            first, last = rng.choice(pool.first_names), rng.choice(pool.last_names)
            local = f"{_ascii(first) or 'x'}.{_ascii(last) or 'contact'}"
            email, n = f"{local}@{domain}", 2
            while email in used_emails:
                email, n = f"{local}{n}@{domain}", n + 1
            used_emails.add(email)
            contact_ids.append(create("contacts", {
                "email": email,
                "firstname": first,
                "lastname": last,
                "jobtitle": rng.choice(pool.jobs),
                "phone": rng.choice(pool.phones),
                "company": name,
                "city": city,
                "country": locale.country,
                "lifecyclestage": rng.choice(_STAGES),
                "hs_lead_status": rng.choice(_LEAD_STATUSES),
                "hs_analytics_source": rng.choice(_SOURCES),
                "hubspotscore": str(rng.randrange(0, 100)),
                "associatedcompanyid": company_id,
            }, max(company_at, when())))

        if rng.random() < 0.5:
            product_id, product_name, sku, price = rng.choice(products)
            quantity = rng.choice((1, 1, 2, 5, 10))
            deal_id = create("deals", {
                "dealname": f"{name} - {product_name}",
                "amount": f"{float(price) * quantity:.2f}",
                "dealstage": rng.choice(_DEAL_STAGES),
                "pipeline": "default",
                "closedate": str(now + rng.randrange(-90, 120) * _DAY_MS),
                "deal_currency_code": "USD",
            }, max(company_at, when()))
            store.associate("deals", deal_id, "companies", company_id, (5,))
            store.associate("deals", deal_id, "contacts", contact_ids[0])
            line_id = create("line_items", {
                "name": product_name, "hs_sku": sku, "price": price, "quantity": str(quantity),
                "hs_product_id": product_id,
            }, max(company_at, when()))
            store.associate("line_items", line_id, "deals", deal_id)
    return counts

"""Deterministic seed data: users, products and price books, accounts with contacts and opportunities
(each with its deciding contact), leads."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from faker import Faker

from connectors.salesforce.sandbox.ids import make_id
from connectors.salesforce.sandbox.schema import INDUSTRIES, LEAD_SOURCES, LEAD_STATUSES, SOBJECTS, STAGES
from connectors.salesforce.sandbox.store import Record
from connectors.salesforce.sandbox.writes import Writer

COUNTRIES = ("United States", "Canada", "United Kingdom", "Germany", "France", "Netherlands", "Australia")
FAMILIES = ("Hardware", "Software", "Services")
_OPEN_STAGES = tuple(s for s in STAGES if not s.startswith("Closed"))


@dataclass(frozen=True)
class Users:
    """Who acts in the sandbox: the API integration user and the people in sales."""

    integration: str
    people: tuple[str, ...]

    @property
    def person(self) -> str:
        """The person the control API acts as unless told otherwise."""
        return self.people[0]


def _user(writer: Writer, first: str, last: str, username: str, creator: str, at: datetime) -> str:
    values = {
        "FirstName": first,
        "LastName": last,
        "Username": username,
        "Email": username,
        "Alias": (first[0] + last)[:8].lower(),
    }
    return writer.create(SOBJECTS["User"], values, creator, at=at).id


def seed_users(writer: Writer, fake: Faker, now: datetime) -> Users:
    """The integration user first, so it always gets the same id; then three sales people."""
    first_user = make_id(SOBJECTS["User"].key_prefix, 1)
    at = now - timedelta(days=365)
    integration = _user(writer, "Revline", "Integration", "integration@revline.sandbox", first_user, at)
    people = []
    for _ in range(3):
        first, last = fake.first_name(), fake.last_name()
        people.append(_user(writer, first, last, f"{first}.{last}@revline.sandbox".lower(), integration, at))
    return Users(integration, tuple(people))


def seed(writer: Writer, seed_value: int, records: int, now: datetime) -> Users:
    """Fill an empty store; the same seed and size always give the same records and ids."""
    fake = Faker("en_US")
    fake.seed_instance(seed_value)
    rng = random.Random(seed_value)
    users = seed_users(writer, fake, now)

    def when() -> datetime:
        return now - timedelta(days=rng.randint(1, 90), seconds=rng.randint(0, 86_399))

    def create(sobject: str, values: dict[str, Any], at: datetime | None = None) -> str:
        owner = rng.choice(users.people)
        body = {"OwnerId": owner, **values} if SOBJECTS[sobject].field("OwnerId") else values
        return writer.create(SOBJECTS[sobject], body, owner, at=at or when()).id

    standard = create("Pricebook2", {"Name": "Standard Price Book", "IsActive": True}, now - timedelta(days=365))
    book = writer.store.get(standard)
    assert book is not None
    writer.store.put(Record("Pricebook2", {**book.values, "IsStandard": True}))  # IsStandard is read-only to the API
    entries: list[tuple[str, float]] = []
    for index in range(max(3, records // 5) if records else 0):
        product = create(
            "Product2",
            {
                "Name": f"{fake.color_name()} {rng.choice(('Server', 'Licence', 'Gateway', 'Sensor', 'Support Plan'))}",
                "ProductCode": f"SKU-{1001 + index}",
                "Family": rng.choice(FAMILIES),
                "IsActive": True,
            },
        )
        price = float(rng.choice((49, 99, 249, 499, 990, 2490, 4900)))
        entry = create(
            "PricebookEntry", {"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": price, "IsActive": True}
        )
        entries.append((entry, price))
    for index in range(records):
        domain = fake.unique.domain_name()
        account = create(
            "Account",
            {
                "Name": fake.unique.company(),
                "Website": domain,
                "Industry": rng.choice(INDUSTRIES),
                "Type": rng.choice(("Prospect", "Customer - Direct", "Customer - Channel")),
                "Phone": fake.phone_number(),
                "BillingStreet": fake.street_address(),
                "BillingCity": fake.city(),
                "BillingCountry": rng.choice(COUNTRIES),
                "AnnualRevenue": float(rng.randrange(500_000, 250_000_000, 50_000)),
                "NumberOfEmployees": rng.randrange(5, 20_000),
            },
        )
        people: list[str] = []
        for _ in range(2):
            first, last = fake.first_name(), fake.last_name()
            people.append(create(
                "Contact",
                {
                    "AccountId": account,
                    "FirstName": first,
                    "LastName": last,
                    "Email": f"{first}.{last}@{domain}".lower().replace("'", ""),
                    "Title": fake.job()[:128],
                    "Phone": fake.phone_number(),
                    "LeadSource": rng.choice(LEAD_SOURCES),
                },
            ))
        opened = when()
        opportunity = create(
            "Opportunity",
            {
                "AccountId": account,
                "Name": f"{fake.bs().title()[:60]}",
                "StageName": rng.choice(_OPEN_STAGES if index % 4 else tuple(STAGES)),
                "Amount": float(rng.randrange(5_000, 500_000, 500)),
                "CloseDate": (now + timedelta(days=rng.randint(-30, 120))).date().isoformat(),
                "Pricebook2Id": standard,
                "LeadSource": rng.choice(LEAD_SOURCES),
            },
            opened,
        )
        # The account's first contact decides (drawing nothing at random: the rest of the seed stays as it was).
        role = {"OpportunityId": opportunity, "ContactId": people[0], "Role": "Decision Maker", "IsPrimary": True}
        writer.create(SOBJECTS["OpportunityContactRole"], role, users.person, at=opened)
        if entries and index % 2 == 0:
            for entry, price in rng.sample(entries, k=min(len(entries), rng.randint(1, 2))):
                create(
                    "OpportunityLineItem",
                    {
                        "OpportunityId": opportunity,
                        "PricebookEntryId": entry,
                        "Quantity": rng.randint(1, 20),
                        "UnitPrice": price,
                    },
                    opened,
                )
    for _ in range(records):
        first, last = fake.first_name(), fake.last_name()
        company = fake.company()
        create(
            "Lead",
            {
                "FirstName": first,
                "LastName": last,
                "Company": company,
                "Email": f"{first}.{last}@{fake.domain_name()}".lower().replace("'", ""),
                "Title": fake.job()[:128],
                "Status": rng.choice(LEAD_STATUSES[:2]),
                "LeadSource": rng.choice(LEAD_SOURCES),
                "Industry": rng.choice(INDUSTRIES),
                "City": fake.city(),
                "Country": rng.choice(COUNTRIES),
            },
        )
    return users

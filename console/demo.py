"""`revline demo`: two in-memory CRMs kept in step under a default policy, with live traffic.

The demo serves its systems ("marketing", HubSpot-like field names, and "sales",
Salesforce-like) over a local manager socket, so extra `revline worker` processes can join
it. A generator keeps creating and changing companies and contacts, and every
`fault_every` steps scripts a fault, these three in turn: a rejected write (a dead letter
that a retry fixes), a malformed email (a dead letter that needs the record fixed), a rate
limit (retried on its own). A seed fixes the generator's random choices.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading

from sqlalchemy import Engine

from sync_core.domain.errors import ErrorCategory, PermanentError, RateLimitedError
from sync_core.domain.mapping import FieldMap, ObjectMapping
from sync_core.domain.ownership import FieldRule, Rule
from sync_core.persistence import lanes
from sync_core.persistence.database import transaction
from sync_core.services import policy
from sync_core.testing import InMemorySystem

SYSTEMS = ("marketing", "sales")
FAULT_EVERY = 33  # generator steps per scripted fault: about 3% of the traffic

log = logging.getLogger(__name__)

_INDUSTRIES = {
    "technology": ("TECHNOLOGY", "Technology"),
    "manufacturing": ("MANUFACTURING", "Manufacturing"),
    "retail": ("RETAIL", "Retail"),
    "finance": ("FINANCIAL_SERVICES", "Finance"),
    "healthcare": ("HOSPITAL_HEALTH_CARE", "Healthcare"),
}
_STAGES = {
    "lead": "lead",
    "mql": "marketingqualifiedlead",
    "sql": "salesqualifiedlead",
    "customer": "customer",
}


def default_mappings() -> list[ObjectMapping]:
    """Field names as HubSpot (marketing) and Salesforce (sales) spell them."""
    marketing_industry = {k: v[0] for k, v in _INDUSTRIES.items()}
    sales_industry = {k: v[1] for k, v in _INDUSTRIES.items()}
    return [
        ObjectMapping(
            "marketing",
            "company",
            (
                FieldMap("name", "name"),
                FieldMap("domain", "domain"),
                FieldMap("phone", "phone"),
                FieldMap("industry", "industry", marketing_industry),
                FieldMap("city", "city"),
            ),
        ),
        ObjectMapping(
            "sales",
            "company",
            (
                FieldMap("name", "Name"),
                FieldMap("domain", "Website"),
                FieldMap("phone", "Phone"),
                FieldMap("industry", "Industry", sales_industry),
                FieldMap("city", "BillingCity"),
            ),
        ),
        ObjectMapping(
            "marketing",
            "contact",
            (
                FieldMap("email", "email"),
                FieldMap("first_name", "firstname"),
                FieldMap("last_name", "lastname"),
                FieldMap("phone", "phone"),
                FieldMap("title", "jobtitle"),
                FieldMap("lifecycle_stage", "lifecyclestage", _STAGES),
            ),
        ),
        ObjectMapping(
            "sales",
            "contact",
            (
                FieldMap("email", "Email"),
                FieldMap("first_name", "FirstName"),
                FieldMap("last_name", "LastName"),
                FieldMap("phone", "Phone"),
                FieldMap("title", "Title"),
            ),
        ),
    ]


def default_rules() -> dict[str, list[FieldRule]]:
    """Marketing owns emails and domains, sales owns industries, the rest is latest-wins."""
    return {
        "company": [
            FieldRule("name", Rule.TWO_WAY),
            FieldRule("domain", Rule.OWNER_UNLESS_BLANK, "marketing"),
            FieldRule("phone", Rule.TWO_WAY),
            FieldRule("industry", Rule.OWNER_UNLESS_BLANK, "sales"),
            FieldRule("city", Rule.TWO_WAY),
        ],
        "contact": [
            FieldRule("email", Rule.ALWAYS_OWNER, "marketing"),
            FieldRule("first_name", Rule.TWO_WAY),
            FieldRule("last_name", Rule.TWO_WAY),
            FieldRule("phone", Rule.TWO_WAY),
            FieldRule("title", Rule.TWO_WAY),
            FieldRule("lifecycle_stage", Rule.DONT_SYNC),
        ],
    }


def install_policy(engine: Engine, actor: str = "demo") -> None:
    """Save the default mappings and rules (once) and create the lanes they need."""
    with transaction(engine) as session:
        current = policy.load(session, "company")
    if not current.mappings:
        policy.save_mappings(engine, default_mappings(), actor)
        for object_type, rules in default_rules().items():
            policy.save_rules(engine, object_type, rules, actor)
    with transaction(engine) as session:
        for system in SYSTEMS:
            for object_type in ("company", "contact"):
                lanes.ensure_lanes(session, system, object_type)


_FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim", "Margaret"]
_LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Perlman",
    "Hamilton",
]
_WORDS = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Hooli",
]
_SUFFIX = ["Labs", "Systems", "Industries", "Group", "Holdings", "Partners", "Works"]
_CITIES = ["Berlin", "Austin", "Lyon", "Porto", "Leeds", "Osaka", "Denver", "Gdansk"]
_TITLES = ["CFO", "Head of RevOps", "VP Sales", "Buyer", "Controller", "CTO"]


class TrafficGenerator:
    """Keeps changing companies and contacts in the demo systems, with a fault every `fault_every` steps."""

    def __init__(self, systems: dict[str, InMemorySystem], seed: int = 7, fault_every: int = FAULT_EVERY) -> None:
        self.systems = systems
        self.random = random.Random(seed)
        self.fault_every = fault_every  # 0: no faults
        self._serial = itertools.count(1)
        self._steps = itertools.count(1)
        self._faults = itertools.count(0)
        self._stop = threading.Event()

    def seed(self, companies: int = 20, contacts: int = 40) -> None:
        for _ in range(companies):
            self.new_company()
        for _ in range(contacts):
            self.new_contact()

    def new_company(self) -> None:
        n = next(self._serial)
        name = f"{self.random.choice(_WORDS)} {self.random.choice(_SUFFIX)} {n}"
        industry = self.random.choice(list(_INDUSTRIES))
        if self.random.random() < 0.5:
            self.systems["marketing"].put(
                "company",
                {
                    "name": name,
                    "domain": f"{name.lower().replace(' ', '-')}.example",
                    "phone": f"+1 555 {n:04d}",
                    "industry": _INDUSTRIES[industry][0],
                    "city": self.random.choice(_CITIES),
                },
            )
        else:
            self.systems["sales"].put(
                "company",
                {
                    "Name": name,
                    "Website": f"{name.lower().replace(' ', '-')}.example",
                    "Phone": f"+1 555 {n:04d}",
                    "Industry": _INDUSTRIES[industry][1],
                    "BillingCity": self.random.choice(_CITIES),
                },
            )

    def new_contact(self, email: str | None = None) -> None:
        n = next(self._serial)
        first, last = self.random.choice(_FIRST), self.random.choice(_LAST)
        self.systems["marketing"].put(
            "contact",
            {
                "email": email or f"{first}.{last}.{n}@example.com".lower(),
                "firstname": first,
                "lastname": last,
                "jobtitle": self.random.choice(_TITLES),
                "lifecyclestage": self.random.choice(list(_STAGES.values())),
            },
        )

    def change_something(self) -> None:
        name = self.random.choice(SYSTEMS)  # by name: a proxy to a shared system has no `.name`
        object_type = self.random.choice(["company", "contact"])
        records = self.systems[name].all(object_type)
        if not records:
            return
        external_id = self.random.choice(sorted(records))
        if name == "sales":
            field = "BillingCity" if object_type == "company" else "Title"
        else:
            field = "city" if object_type == "company" else "jobtitle"
        value = self.random.choice(_CITIES if field in ("city", "BillingCity") else _TITLES)
        self.systems[name].put(object_type, {field: value}, external_id)

    def scripted_fault(self) -> None:
        """One of three faults production throws at a sync, in turn, a rejected write first."""
        kind = next(self._faults) % 3
        if kind == 0:
            serial = next(self._serial)
            name = f"Key Account {serial} Ltd"
            self.systems["sales"].fail_records(
                "Name",
                name,
                PermanentError(
                    "FIELD_CUSTOM_VALIDATION_EXCEPTION: key accounts need an approved credit limit",
                    ErrorCategory.VALIDATION,
                ),
                times=1,
            )
            self.systems["marketing"].put("company", {"name": name, "domain": f"key-account-{serial}.example"})
        elif kind == 1:
            self.new_contact(email=f"broken-address-{next(self._serial)}.example.com")
        else:
            self.systems["sales"].fail_next_calls(
                1, RateLimitedError("REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded", retry_after=3)
            )

    def step(self) -> None:
        if self.fault_every > 0 and next(self._steps) % self.fault_every == 0:
            self.scripted_fault()
            return
        roll = self.random.random()
        if roll < 0.25:
            self.new_company()
        elif roll < 0.5:
            self.new_contact()
        else:
            self.change_something()

    def run(self, interval: float = 0.5, steps_per_tick: int = 3) -> None:
        while not self._stop.wait(interval):
            try:
                for _ in range(steps_per_tick):
                    self.step()
            except Exception:  # keep the traffic going; the next tick tries again
                log.exception("traffic generator step failed")

    def start(self, interval: float = 0.5) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(interval,), name="demo-traffic", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()


"""Field ownership changed by a person: preview, save, what the sync then writes, roll back, history.

Two in-memory systems under the demo's policy, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, select
from sqlmodel import col

from console.demo import default_rules, install_policy
from sync_core.domain.ownership import FieldRule, Rule
from sync_core.persistence import lanes
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import AuditLog, OutboundOp
from sync_core.services import ledger_engine, policy
from sync_core.testing import InMemoryConnector, InMemorySystem
from sync_core.worker import Worker, WorkerConfig, drain

ADMIN = "ada@example.com"


def contact_rules(**changed: FieldRule) -> list[FieldRule]:
    return [changed.get(rule.field, rule) for rule in default_rules()["contact"]]


NOT_SYNCED = contact_rules(phone=FieldRule("phone", Rule.DONT_SYNC))
SALES_OWNS = contact_rules(phone=FieldRule("phone", Rule.ALWAYS_OWNER, "sales"))


class Crms:
    def __init__(self, url: str) -> None:
        self.engine = ledger_engine(url)
        install_policy(self.engine)
        self.marketing, self.sales = InMemorySystem("marketing"), InMemorySystem("sales")
        self.worker = Worker(
            self.engine,
            {"marketing": InMemoryConnector(self.marketing), "sales": InMemoryConnector(self.sales)},
            WorkerConfig(idle_sleep=0.05),
        )

    def sync(self) -> None:
        with transaction(self.engine) as session:
            lanes.mark_all_due(session)
        drain(self.worker)

    def sales_id(self, email: str) -> str:
        return next(i for i, r in self.sales.all("contact").items() if r["Email"] == email)

    def marketing_id(self, email: str) -> str:
        return next(i for i, r in self.marketing.all("contact").items() if r["email"] == email)

    def phones(self) -> dict[str, tuple[str | None, str | None]]:
        """email -> (marketing's phone, sales' phone)."""
        sales = {r["Email"]: r.get("Phone") for r in self.sales.all("contact").values()}
        return {r["email"]: (r.get("phone"), sales.get(r["email"])) for r in self.marketing.all("contact").values()}


@pytest.fixture
def crms(ledger_url: str) -> Crms:
    crms = Crms(ledger_url)
    for n in range(6):
        crms.marketing.put("contact", {
            "email": f"p{n}@example.com", "firstname": f"P{n}", "lastname": "Doe", "phone": f"+1 555 010{n}",
        })  # fmt: skip
    crms.sync()
    assert crms.sales.count("contact") == 6
    # phones stop syncing; sales then corrects three of them, which marketing does not follow
    policy.save_rules(crms.engine, "contact", NOT_SYNCED, ADMIN)
    for n in (1, 3, 5):
        crms.sales.put("contact", {"Phone": f"+1 555 090{n}"}, external_id=crms.sales_id(f"p{n}@example.com"))
    crms.sync()
    assert crms.phones()["p1@example.com"] == ("+1 555 0101", "+1 555 0901")
    return crms


def writes_to(system: InMemorySystem) -> int:
    return len(system.applied_writes())


def test_the_preview_counts_what_the_next_sync_then_writes(crms: Crms) -> None:
    preview = policy.preview_rules(crms.engine, "contact", SALES_OWNS)
    assert [c.describe() for c in preview.changes] == ["phone: dont_sync -> always_owner (sales)"]
    assert preview.tally.records == {"marketing": 3}
    assert preview.tally.values == {"marketing.phone": 3}
    assert preview.tally.scanned == 6
    assert sorted(e.label for e in preview.tally.examples) == [f"p{n}@example.com" for n in (1, 3, 5)]
    assert sorted((e.field, e.before, e.after) for e in preview.tally.examples) == [
        ("phone", f"+1 555 010{n}", f"+1 555 090{n}") for n in (1, 3, 5)
    ]
    before = writes_to(crms.marketing), writes_to(crms.sales)

    version, queued = policy.change_rules(crms.engine, "contact", SALES_OWNS, ADMIN)
    assert queued.records == preview.tally.records
    crms.sync()

    written = crms.marketing.applied_writes()[before[0]:]
    assert len(written) == 3
    assert writes_to(crms.sales) == before[1]
    assert {(w.fields.get("phone")) for w in written} == {f"+1 555 090{n}" for n in (1, 3, 5)}
    assert all(marketing == sales for marketing, sales in crms.phones().values())
    # a settled ledger: syncing again writes nothing
    crms.sync()
    assert (writes_to(crms.marketing), writes_to(crms.sales)) == (before[0] + 3, before[1])

    # the next change follows the new rule: marketing's edit is put back, sales' edit travels
    crms.marketing.put("contact", {"phone": "+44 20 7946 0000"}, external_id=crms.marketing_id("p0@example.com"))
    crms.sales.put("contact", {"Phone": "+1 555 0922"}, external_id=crms.sales_id("p2@example.com"))
    crms.sync()
    assert crms.phones()["p0@example.com"] == ("+1 555 0100", "+1 555 0100")
    assert crms.phones()["p2@example.com"] == ("+1 555 0922", "+1 555 0922")
    assert version == policy.current(crms.engine, "contact")[1]


def test_saving_creates_a_version_audited_with_before_and_after(crms: Crms) -> None:
    _, version_before, _ = policy.current(crms.engine, "contact")
    company_before = policy.current(crms.engine, "company")[0].rules
    version, _ = policy.change_rules(crms.engine, "contact", SALES_OWNS, ADMIN)
    assert version == (version_before or 0) + 1

    current, rule_version, _ = policy.current(crms.engine, "contact")
    assert rule_version == version
    assert current.owner_of("phone") == "sales"
    assert policy.current(crms.engine, "company")[0].rules == company_before  # other objects carried over
    with transaction(crms.engine) as session:
        audit = session.scalars(select(AuditLog).order_by(col(AuditLog.id).desc()).limit(1)).one()
    assert (audit.actor, audit.action, audit.subject) == (ADMIN, "ownership.saved", f"contact v{version}")
    assert ["phone", "dont_sync", None] in audit.details["before"]
    assert ["phone", "always_owner", "sales"] in audit.details["after"]
    assert audit.details["changes"] == ["phone: dont_sync -> always_owner (sales)"]
    assert audit.details["writes"] == {"marketing": 3}

    with pytest.raises(ValueError, match="differs"):
        policy.change_rules(crms.engine, "contact", SALES_OWNS, ADMIN)
    with pytest.raises(ValueError, match="needs an owner"):
        policy.preview_rules(crms.engine, "contact", contact_rules(phone=FieldRule("phone", Rule.ALWAYS_OWNER)))


def test_a_roll_back_restores_an_earlier_version_as_a_new_one(crms: Crms) -> None:
    policy.change_rules(crms.engine, "contact", SALES_OWNS, ADMIN)
    crms.sync()
    listing = policy.history(crms.engine, "contact", 1, 10)
    assert [e.action for e in listing.items[:2]] == ["ownership.saved", "ownership.saved"]
    latest, earlier = listing.items[0], listing.items[1]
    assert latest.changes == ("phone: dont_sync -> always_owner (sales)",)
    assert latest.actor == ADMIN
    assert earlier.changes == ("phone: two_way -> dont_sync",)

    entry, version, tally = policy.roll_back(crms.engine, earlier.id, "grace@example.com")
    assert entry.version == earlier.version
    assert version == (latest.version or 0) + 1
    assert tally.total == 0  # back to not syncing phones: nothing to overwrite
    current, _, _ = policy.current(crms.engine, "contact")
    assert current.rules == tuple(policy.current(crms.engine, "contact")[0].rules)
    assert {r.field: r.rule for r in current.rules}["phone"] is Rule.DONT_SYNC

    top = policy.history(crms.engine, "contact", 1, 1)
    (rolled,) = top.items
    assert (rolled.action, rolled.actor, rolled.rolled_back_to) == ("ownership.rolled_back", "grace@example.com",
                                                                    earlier.version)
    assert rolled.changes == ("phone: always_owner (sales) -> dont_sync",)
    assert top.total == listing.total + 1

    # phones no longer sync: a marketing edit stays in marketing
    crms.marketing.put("contact", {"phone": "+1 555 7777"}, external_id=crms.marketing_id("p4@example.com"))
    crms.sync()
    assert crms.phones()["p4@example.com"] == ("+1 555 7777", "+1 555 0104")
    with pytest.raises(ValueError, match="already"):
        policy.roll_back(crms.engine, earlier.id, ADMIN)


def test_a_value_map_change_previews_and_rewrites_the_records_holding_the_value(ledger_url: str) -> None:
    crms = Crms(ledger_url)
    crms.marketing.put_many("company", [
        {"name": "Bank A", "domain": "a.example", "industry": "FINANCIAL_SERVICES"},
        {"name": "Bank B", "domain": "b.example", "industry": "FINANCIAL_SERVICES"},
        {"name": "Shop C", "domain": "c.example", "industry": "RETAIL"},
    ])  # fmt: skip
    crms.sync()
    assert sorted(r["Industry"] for r in crms.sales.all("company").values()) == ["Finance", "Finance", "Retail"]
    current = policy.current(crms.engine, "company")[0]
    (industry,) = [f for f in current.mappings["sales"].fields if f.canonical == "industry"]
    values = {**industry.values, "finance": "Financial Services"}

    preview = policy.preview_values(crms.engine, "sales", "company", "industry", values)
    assert [c.describe() for c in preview.changes] == ["finance: Finance -> Financial Services"]
    assert preview.tally.records == {"sales": 2}
    version, queued = policy.save_values(crms.engine, "sales", "company", "industry", values, ADMIN)
    assert queued.records == {"sales": 2}
    crms.sync()
    assert sorted(r["Industry"] for r in crms.sales.all("company").values()) == [
        "Financial Services", "Financial Services", "Retail",
    ]  # fmt: skip

    (entry,) = policy.history(crms.engine, "company", 1, 1).items
    assert (entry.kind, entry.what, entry.version, entry.writes) == ("values", "sales.industry", version, {"sales": 2})
    # sales' people pick the new spelling; it reads back as the canonical value, marketing follows nothing new
    crms.sync()
    with transaction(crms.engine) as session:
        dead = session.scalars(select(OutboundOp).where(col(OutboundOp.status) == "dead")).all()
    assert dead == []

    # the roll back spells it the old way again
    earlier = policy.history(crms.engine, "company", 1, 50).items[-1]
    assert earlier.kind == "rules"  # the demo's first save: rules of the company (no value map entry yet)
    policy.save_values(crms.engine, "sales", "company", "industry", industry.values, ADMIN)
    crms.sync()
    assert sorted(r["Industry"] for r in crms.sales.all("company").values()) == ["Finance", "Finance", "Retail"]
    (back,) = policy.history(crms.engine, "company", 1, 1).items
    _, again, _ = policy.roll_back(crms.engine, entry.id, ADMIN)
    crms.sync()
    assert sorted(r["Industry"] for r in crms.sales.all("company").values()) == [
        "Financial Services", "Financial Services", "Retail",
    ]  # fmt: skip
    assert again == (back.version or 0) + 1


def wait_until(what: str, probe: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout:.0f}s")
        time.sleep(0.05)


def test_a_running_worker_follows_a_saved_change_without_restart(crms: Crms, ledger_url: str) -> None:
    engine: Engine = crms.engine
    worker = crms.worker
    worker.start(threads=2)
    try:
        policy.change_rules(engine, "contact", SALES_OWNS, ADMIN)
        wait_until("marketing phones overwritten", lambda: all(m == s for m, s in crms.phones().values()))

        # edits are planned under the new version by the same threads
        crms.marketing.put("contact", {"phone": "+1 555 3333"}, external_id=crms.marketing_id("p3@example.com"))
        with transaction(engine) as session:
            lanes.mark_all_due(session)
        wait_until("marketing's edit put back", lambda: crms.phones()["p3@example.com"] == ("+1 555 0903",) * 2)

        policy.change_rules(engine, "contact", contact_rules(phone=FieldRule("phone", Rule.ALWAYS_OWNER, "marketing")),
                            ADMIN)  # fmt: skip
        crms.sales.put("contact", {"Phone": "+1 555 4444"}, external_id=crms.sales_id("p0@example.com"))
        crms.marketing.put("contact", {"phone": "+1 555 5555"}, external_id=crms.marketing_id("p1@example.com"))
        with transaction(engine) as session:
            lanes.mark_all_due(session)
        wait_until("sales' edit put back", lambda: crms.phones()["p0@example.com"] == ("+1 555 0100",) * 2)
        wait_until("marketing's edit in sales", lambda: crms.phones()["p1@example.com"] == ("+1 555 5555",) * 2)
    finally:
        worker.stop()

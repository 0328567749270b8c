"""Two in-memory systems kept in step both ways under a policy, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select

from console.demo import default_mappings, default_rules, install_policy
from sync_core.domain.errors import ErrorCategory, PermanentError
from sync_core.persistence import lanes
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import EntityLink, OutboundOp, SyncRun
from sync_core.services import ledger_engine
from sync_core.testing import InMemoryConnector, InMemorySystem
from sync_core.worker import Worker, WorkerConfig, drain


def _setup(url: str) -> tuple[Worker, InMemorySystem, InMemorySystem]:
    engine = ledger_engine(url)
    install_policy(engine)
    marketing, sales = InMemorySystem("marketing"), InMemorySystem("sales")
    worker = Worker(engine, {"marketing": InMemoryConnector(marketing), "sales": InMemoryConnector(sales)})
    return worker, marketing, sales


def sync(worker: Worker, url: str) -> None:
    """What the ticker does every few seconds, then run lanes until none is due."""
    with transaction(ledger_engine(url)) as session:
        lanes.mark_all_due(session)
    drain(worker)


def test_records_flow_both_ways_and_converge(ledger_url: str) -> None:
    worker, marketing, sales = _setup(ledger_url)
    hs_id = marketing.put("company", {"name": "Acme Labs", "domain": "acme.example", "industry": "TECHNOLOGY"})
    sf_id = sales.put("company", {"Name": "Globex", "Website": "globex.example", "Industry": "Finance"})
    sync(worker, ledger_url)

    # each record now exists once in the other system, mapped to its field names and values
    assert sales.count("company") == 2
    assert marketing.count("company") == 2
    acme_in_sales = [r for r in sales.all("company").values() if r["Name"] == "Acme Labs"]
    assert acme_in_sales == [{"Name": "Acme Labs", "Website": "acme.example", "Industry": "Technology"}]
    globex_in_marketing = [r for r in marketing.all("company").values() if r["name"] == "Globex"]
    assert globex_in_marketing == [{"name": "Globex", "domain": "globex.example", "industry": "FINANCIAL_SERVICES"}]

    # a change on either side travels to the other (two_way name), the echo plans nothing
    sales.put("company", {"Name": "Acme Laboratories"}, external_id=_sales_id_of(sales, "Acme Labs"))
    marketing.put("company", {"city": "Lyon"}, external_id=_marketing_id_of(marketing, "Globex"))
    sync(worker, ledger_url)
    assert marketing.get("company", hs_id)["name"] == "Acme Laboratories"  # type: ignore[index]
    assert sales.get("company", sf_id)["BillingCity"] == "Lyon"  # type: ignore[index]

    writes_before = len(marketing.applied_writes()) + len(sales.applied_writes())
    sync(worker, ledger_url)
    sync(worker, ledger_url)
    assert len(marketing.applied_writes()) + len(sales.applied_writes()) == writes_before

    # every write was applied once per idempotency key, and each record is linked once per system
    keys = Counter(k for w in marketing.applied_writes() + sales.applied_writes() for k in w.idempotency_keys)
    assert keys
    assert max(keys.values()) == 1
    with transaction(ledger_engine(ledger_url)) as session:
        links = session.execute(
            select(EntityLink.system, func.count()).group_by(EntityLink.system).order_by(EntityLink.system)
        ).all()
    assert [tuple(row) for row in links] == [("marketing", 2), ("sales", 2)]


def test_owner_wins_and_blank_owner_is_filled(ledger_url: str) -> None:
    worker, marketing, sales = _setup(ledger_url)
    contact = marketing.put("contact", {"email": "ada@example.com", "firstname": "Ada", "lastname": "L"})
    sync(worker, ledger_url)
    sales_id = next(iter(sales.all("contact")))
    # sales edits marketing's email (always_owner marketing): overwritten back
    sales.put("contact", {"Email": "wrong@example.com", "Title": "CFO"}, external_id=sales_id)
    sync(worker, ledger_url)
    assert sales.get("contact", sales_id)["Email"] == "ada@example.com"  # type: ignore[index]
    assert marketing.get("contact", contact)["jobtitle"] == "CFO"  # type: ignore[index]
    # industry is owned by sales unless blank: marketing's value fills sales' blank
    company = marketing.put("company", {"name": "Initech", "industry": "RETAIL"})
    sync(worker, ledger_url)
    sales_company = _sales_id_of(sales, "Initech")
    assert sales.get("company", sales_company)["Industry"] == "Retail"  # type: ignore[index]
    sales.put("company", {"Industry": "Finance"}, external_id=sales_company)
    sync(worker, ledger_url)
    assert marketing.get("company", company)["industry"] == "FINANCIAL_SERVICES"  # type: ignore[index]


def test_bad_records_become_dead_letters_and_the_stream_goes_on(ledger_url: str) -> None:
    worker, marketing, sales = _setup(ledger_url)
    sales.fail_records(
        "Name", "Poison Inc", PermanentError("FIELD_CUSTOM_VALIDATION_EXCEPTION: nope", ErrorCategory.VALIDATION)
    )
    marketing.put("company", {"name": "Poison Inc"})
    marketing.put("company", {"name": "Healthy Co", "industry": "UNKNOWN_INDUSTRY"})  # no value mapping
    marketing.put("contact", {"email": "not-an-email", "firstname": "Bad"})  # fails validation
    for n in range(30):
        marketing.put("company", {"name": f"Fine {n}"})
    sync(worker, ledger_url)
    assert sales.count("company") == 30  # every good record arrived; the poison one did not stop them
    with transaction(ledger_engine(ledger_url)) as session:
        dead = session.execute(
            select(OutboundOp.operation, OutboundOp.error_category, OutboundOp.error_message).where(
                OutboundOp.status == "dead"
            ).order_by(OutboundOp.error_category)
        ).all()
    categories = sorted((op, category) for op, category, _ in dead)
    assert categories == [("ingest", "mapping"), ("ingest", "validation"), ("upsert", "validation")]
    messages = " | ".join(message for _, _, message in dead)
    for expected in ("UNKNOWN_INDUSTRY", "not-an-email", "FIELD_CUSTOM_VALIDATION"):
        assert expected in messages


def _sales_id_of(sales: InMemorySystem, name: str) -> str:
    return next(k for k, v in sales.all("company").items() if v.get("Name") == name)


def _marketing_id_of(marketing: InMemorySystem, name: str) -> str:
    return next(k for k, v in marketing.all("company").items() if v.get("name") == name)


def test_policy_defaults_cover_both_objects() -> None:
    assert {m.object_type for m in default_mappings()} == set(default_rules())


def test_connecting_two_populated_systems_matches_instead_of_duplicating(ledger_url: str) -> None:
    worker, marketing, sales = _setup(ledger_url)
    # the same people and companies, entered separately in each system before Revline
    marketing.put("contact", {"email": "Ada@Example.com", "firstname": "Ada", "lastname": "Lovelace"})
    sales.put("contact", {"Email": "ada@example.com", "FirstName": "Ada", "LastName": "King", "Title": "CTO"})
    marketing.put("company", {"name": "Acme", "domain": "acme.example"})
    sales.put("company", {"Name": "Acme Corp", "Website": "https://www.acme.example/", "Industry": "Retail"})
    marketing.put("contact", {"email": "grace@example.com", "firstname": "Grace"})  # only in marketing
    sync(worker, ledger_url)
    sync(worker, ledger_url)

    assert sales.count("contact") == 2
    assert marketing.count("contact") == 2
    assert sales.count("company") == 1
    assert marketing.count("company") == 1
    [ada_sales] = [r for r in sales.all("contact").values() if r["Email"] == "ada@example.com"]
    [ada_marketing] = [r for r in marketing.all("contact").values() if r["email"].lower() == "ada@example.com"]
    assert ada_sales["Title"] == ada_marketing["jobtitle"] == "CTO"  # the matched records now agree
    assert ada_sales["LastName"] == ada_marketing["lastname"]
    with transaction(ledger_engine(ledger_url)) as session:
        canonical = session.execute(
            select(EntityLink.object_type, func.count(func.distinct(EntityLink.canonical_id))).group_by(
                EntityLink.object_type
            )
        ).all()
    assert dict(canonical) == {"company": 1, "contact": 2}


def test_a_contacts_company_is_translated_through_the_links_both_ways(ledger_url: str) -> None:
    from dataclasses import replace

    from sync_core.domain.mapping import FieldMap
    from sync_core.domain.ownership import FieldRule, Rule
    from sync_core.retry import RetryPolicy
    from sync_core.services import policy

    engine = ledger_engine(ledger_url)
    install_policy(engine)
    vendor = {"marketing": "associatedcompanyid", "sales": "AccountId"}
    policy.save_mappings(
        engine,
        [
            replace(m, fields=(*m.fields, FieldMap("company_id", vendor[m.system])))
            for m in default_mappings()
            if m.object_type == "contact"
        ],
        "test",
    )
    policy.save_rules(engine, "contact", [*default_rules()["contact"], FieldRule("company_id", Rule.TWO_WAY)], "test")
    marketing, sales = InMemorySystem("marketing"), InMemorySystem("sales")
    worker = Worker(
        engine,
        {"marketing": InMemoryConnector(marketing), "sales": InMemoryConnector(sales)},
        retry=RetryPolicy(base_seconds=0.0, jitter=0.0),
    )
    # the contact is read in the same run as its company, possibly before it: nothing may be lost
    contact = marketing.put("contact", {"email": "ada@acme.example", "firstname": "Ada"})
    acme = marketing.put("company", {"name": "Acme", "domain": "acme.example"})
    marketing.put("contact", {"associatedcompanyid": acme}, external_id=contact)
    for _ in range(4):
        sync(worker, ledger_url)

    sales_acme = _sales_id_of(sales, "Acme")
    [ada] = sales.all("contact").values()
    assert ada["AccountId"] == sales_acme  # Salesforce's own id for the company, not HubSpot's

    # sales moves Ada to another account: marketing follows, in its own ids
    globex = sales.put("company", {"Name": "Globex", "Website": "globex.example"})
    sync(worker, ledger_url)
    [ada_id] = sales.all("contact")
    sales.put("contact", {"AccountId": globex}, external_id=ada_id)
    for _ in range(3):
        sync(worker, ledger_url)
    marketing_globex = _marketing_id_of(marketing, "Globex")
    assert marketing.get("contact", contact)["associatedcompanyid"] == marketing_globex  # type: ignore[index]


def test_a_contact_read_before_its_company_at_one_version_still_gets_its_company(ledger_url: str) -> None:
    from dataclasses import replace
    from datetime import timedelta

    from sqlalchemy import update

    from sync_core.domain.mapping import FieldMap
    from sync_core.domain.ownership import FieldRule, Rule
    from sync_core.persistence.database import db_now
    from sync_core.persistence.tables import Lane
    from sync_core.retry import RetryPolicy
    from sync_core.services import policy

    engine = ledger_engine(ledger_url)
    install_policy(engine)
    vendor = {"marketing": "associatedcompanyid", "sales": "AccountId"}
    policy.save_mappings(
        engine,
        [
            replace(m, fields=(*m.fields, FieldMap("company_id", vendor[m.system])))
            for m in default_mappings()
            if m.object_type == "contact"
        ],
        "test",
    )
    policy.save_rules(engine, "contact", [*default_rules()["contact"], FieldRule("company_id", Rule.TWO_WAY)], "test")
    marketing, sales = InMemorySystem("marketing"), InMemorySystem("sales")
    worker = Worker(
        engine,
        {"marketing": InMemoryConnector(marketing), "sales": InMemoryConnector(sales)},
        retry=RetryPolicy(base_seconds=0.0, jitter=0.0),
    )
    acme = marketing.put("company", {"name": "Acme", "domain": "acme.example"})
    contact = marketing.put("contact", {"email": "ada@acme.example", "firstname": "Ada", "associatedcompanyid": acme})
    # One run reads both, the contact first: its company is not linked yet when it is read.
    with transaction(engine) as session:
        now = db_now(session)
        for object_type, due in (("contact", now - timedelta(seconds=2)), ("company", now - timedelta(seconds=1))):
            session.execute(
                update(Lane)
                .where(Lane.system == "marketing", Lane.object_type == object_type)  # type: ignore[arg-type]
                .values(due_at=due)
            )
    drain(worker)
    for _ in range(3):
        sync(worker, ledger_url)

    [ada] = sales.all("contact").values()
    assert ada["AccountId"] == _sales_id_of(sales, "Acme")
    # The contact's one version was planned twice (without, then with its company): two writes, neither lost
    contact_ops = [
        op for op in _ops(engine)
        if op.object_type == "contact" and op.source_id == contact and op.target_system == "sales"
    ]
    assert len({op.source_version for op in contact_ops}) == 1
    assert len({op.idempotency_key for op in contact_ops}) == len(contact_ops) >= 2
    assert any("company_id" in op.payload and op.status == "done" for op in contact_ops)


def _ops(engine: Any) -> list[OutboundOp]:
    with transaction(engine) as session:
        rows = list(session.scalars(select(OutboundOp)).all())
        session.expunge_all()
        return rows


def test_drain_keeps_the_lease_of_a_run_longer_than_the_lease(ledger_url: str) -> None:
    engine = ledger_engine(ledger_url)
    install_policy(engine)
    marketing, sales = InMemorySystem("marketing"), InMemorySystem("sales")
    connectors = {"marketing": InMemoryConnector(marketing), "sales": InMemoryConnector(sales)}
    worker = Worker(engine, connectors, WorkerConfig(lease_seconds=0.6))
    marketing.put_many("company", [{"name": f"Slow {i}", "domain": f"slow{i}.example"} for i in range(3)])
    sales.slow_writes(1.0)  # one write call outlasts the lease
    sync(worker, ledger_url)
    with transaction(engine) as session:
        statuses = Counter(session.scalars(select(SyncRun.status)).all())
    assert statuses["fenced"] == 0, statuses
    # the run was not thrown away and repeated: each record was written to sales once
    assert sales.count("company") == 3
    assert len([w for w in sales.applied_writes() if w.object_type == "company"]) == 3


def test_a_records_ops_beyond_one_claim_are_sent_with_it_as_one_write(ledger_url: str) -> None:
    from sync_core.persistence import ledger
    from sync_core.persistence.database import db_now

    engine = ledger_engine(ledger_url)
    install_policy(engine)
    marketing, sales = InMemorySystem("marketing"), InMemorySystem("sales")
    # One record per call and five calls per claim: a claim holds the first five ops.
    connectors = {"marketing": InMemoryConnector(marketing), "sales": InMemoryConnector(sales, max_batch_size=1)}
    worker = Worker(engine, connectors)
    with transaction(engine) as session:
        now = db_now(session)
        rows = [_planned(f"c-{i}", {"name": f"Co {i}", "domain": f"co{i}.example"}, "v1", now) for i in range(6)]
        rows.append(_planned("c-0", {"city": "Lyon"}, "flow", now))  # a flow's write for the first record, last
        ledger.add_ops(session, rows)
        lanes.mark_due(session, "sales", "company", lanes.OUTBOUND, now)
    drain(worker)
    first = [w for w in sales.applied_writes() if w.canonical_id == "c-0"]
    assert len(first) == 1  # both of its ops, in one write
    assert (first[0].fields["Name"], first[0].fields["BillingCity"]) == ("Co 0", "Lyon")
    assert sales.count("company") == 6


def _planned(canonical_id: str, fields: dict[str, Any], version: str, now: Any) -> dict[str, Any]:
    from sync_core.persistence import ledger

    return {
        "idempotency_key": ledger.idempotency_key("sales", "company", "marketing", canonical_id, version, "upsert"),
        "target_system": "sales", "object_type": "company", "canonical_id": canonical_id, "operation": "upsert",
        "source_system": "marketing", "source_id": canonical_id, "source_version": version, "payload": fields,
        "status": "pending", "attempts": 0, "next_attempt_at": now, "result": {}, "correlation_id": canonical_id,
        "created_at": now, "updated_at": now,
    }

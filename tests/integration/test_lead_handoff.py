"""Lead handoff on in-memory systems, on SQLite and PostgreSQL: qualification, assignment, the story's
milestones, conversion. "marketing" and "sales" use canonical field names; the sandbox suite runs the
same flow through HubSpot's and Salesforce's wire protocols."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from sync_core.domain.handoff import Assignment, HandoffRules
from sync_core.domain.mapping import ObjectMapping, identity_mapping
from sync_core.domain.ownership import FieldRule, Rule
from sync_core.persistence import lanes
from sync_core.persistence.database import snapshot, transaction
from sync_core.persistence.tables import AuditLog
from sync_core.services import lead_handoff, lead_to_cash, ledger_engine, policy, trace
from sync_core.testing import InMemoryConnector, InMemorySystem
from sync_core.worker import Worker, drain

CONTACT = ("email", "first_name", "last_name", "lifecycle_stage", "lead_score", "company_id", "company_name")
SALES_ONLY = ("owner", "lead_status", "converted_deal_id", "converted_company_id")


def _install(engine: Engine) -> None:
    sales = identity_mapping("sales", "contact", (*CONTACT, *SALES_ONLY))
    policy.save_mappings(engine, [
        identity_mapping("marketing", "contact", CONTACT),
        ObjectMapping("sales", "contact", sales.fields, creates=False),  # leads are handed over, not copied
        identity_mapping("marketing", "company", ("name", "domain")),
        identity_mapping("sales", "company", ("name", "domain")),
        identity_mapping("sales", "deal", ("name", "stage", "company_id")),
    ], "test")  # fmt: skip
    policy.save_rules(engine, "contact", [
        *[FieldRule(f, Rule.TWO_WAY) for f in ("email", "first_name", "last_name", "company_name")],
        FieldRule("lifecycle_stage", Rule.ALWAYS_OWNER, "marketing"),
        FieldRule("lead_score", Rule.ALWAYS_OWNER, "marketing"),
        FieldRule("company_id", Rule.OWNER_UNLESS_BLANK, "sales"),
        *[FieldRule(f, Rule.ALWAYS_OWNER, "sales") for f in SALES_ONLY],
    ], "test")  # fmt: skip
    policy.save_rules(engine, "company", [FieldRule("name", Rule.TWO_WAY), FieldRule("domain", Rule.TWO_WAY)], "t")
    policy.save_rules(engine, "deal", [FieldRule("name", Rule.OWNER_UNLESS_BLANK, "sales")], "test")
    with transaction(engine) as session:
        for system in ("marketing", "sales"):
            for object_type in ("company", "contact"):
                lanes.ensure_lanes(session, system, object_type)
        lanes.ensure_lanes(session, "sales", "deal")


class Handoff:
    def __init__(self, url: str, rules: HandoffRules | None = None) -> None:
        self.engine = ledger_engine(url)
        _install(self.engine)
        if rules is not None:
            lead_handoff.save_rules(self.engine, rules, "admin@example.com")
        self.marketing, self.sales = InMemorySystem("marketing"), InMemorySystem("sales")
        self.worker = Worker(self.engine, {"marketing": InMemoryConnector(self.marketing),
                                           "sales": InMemoryConnector(self.sales)})  # fmt: skip

    def sync(self) -> None:
        for _ in range(2):  # a second round: what the first one wrote is read back and settles
            with transaction(self.engine) as session:
                lanes.mark_all_due(session)
            drain(self.worker)

    def person(self, email: str, **fields: object) -> str:
        return self.marketing.put("contact", {"email": email, "first_name": "Ada", "last_name": email[:3], **fields})

    def in_sales(self, email: str) -> tuple[str, dict[str, object]] | None:
        found = [(k, v) for k, v in self.sales.all("contact").items() if v.get("email") == email]
        assert len(found) <= 1
        return found[0] if found else None


ROUND_ROBIN = HandoffRules(score_threshold=60, assignment=Assignment(owners=("ana@sales.example", "ben@sales.example")))


def test_qualified_contacts_become_leads_with_owners_in_turn(ledger_url: str) -> None:
    flow = Handoff(ledger_url, ROUND_ROBIN)
    flow.person("cold@acme.example", lifecycle_stage="subscriber", lead_score=10)
    hot = flow.person("hot@acme.example", lifecycle_stage="lead", lead_score=10)
    flow.sync()
    assert flow.sales.all("contact") == {}  # nobody qualified: nothing for sales

    flow.marketing.put("contact", {"lifecycle_stage": "mql"}, external_id=hot)  # by stage
    flow.person("scored@globex.example", lifecycle_stage="lead", lead_score=75)  # by score
    flow.person("third@initech.example", lifecycle_stage="sql")
    flow.sync()
    handed = {e: flow.in_sales(e) for e in ("hot@acme.example", "scored@globex.example", "third@initech.example")}
    assert all(handed.values())
    assert flow.in_sales("cold@acme.example") is None
    owners = [v[1]["owner"] for v in handed.values() if v]
    # three leads, two owners in turn
    assert sorted(owners) == ["ana@sales.example", "ana@sales.example", "ben@sales.example"]
    lead = handed["hot@acme.example"]
    assert lead is not None
    assert lead[1]["company_name"] == "acme.example"  # no company known: the email's domain names it
    assert lead[1]["lifecycle_stage"] == "mql"

    # the story: qualified in marketing, created in sales, and the hop between them measured
    (story_id,) = trace.search(flow.engine, "hot@acme.example")
    story = trace.story(flow.engine, story_id)
    assert story is not None
    assert [s.name for s in story.steps if s.name.startswith("lead.")] == ["lead.qualified", "lead.created"]
    assert set(story.hops) == {"lead_handoff"}
    day = timedelta(days=1)
    stats = lead_to_cash.hop_stats(flow.engine, datetime.now(UTC) - day, datetime.now(UTC) + day)
    assert stats["lead_handoff"].count == 3

    # handed over once: more changes in marketing update the lead, they do not create another
    flow.marketing.put("contact", {"last_name": "Lovelace"}, external_id=hot)
    flow.sync()
    assert len(flow.sales.all("contact")) == 3
    assert lead[0] in flow.sales.all("contact")
    assert flow.sales.get("contact", lead[0])["last_name"] == "Lovelace"  # type: ignore[index]


def test_a_contact_of_a_company_sales_has_joins_that_account(ledger_url: str) -> None:
    flow = Handoff(ledger_url)
    account = flow.sales.put("company", {"name": "Acme", "domain": "acme.example"})
    company = flow.marketing.put("company", {"name": "Acme", "domain": "acme.example"})
    flow.sync()
    flow.person("buyer@acme.example", lifecycle_stage="mql", company_id=company)
    flow.sync()
    found = flow.in_sales("buyer@acme.example")
    assert found is not None
    assert found[1]["company_id"] == account  # sales' own id of the account
    assert "owner" not in found[1]  # no assignment rule: sales assigns


def test_territories_assign_by_country_with_a_default(ledger_url: str) -> None:
    rules = HandoffRules(assignment=Assignment(mode="territory", field="company_name",
                                               territories={"Acme": "emea@sales.example"},
                                               default_owner="rest@sales.example"))  # fmt: skip
    flow = Handoff(ledger_url, rules)
    flow.person("a@acme.example", lifecycle_stage="mql", company_name="ACME")
    flow.person("b@globex.example", lifecycle_stage="mql", company_name="Globex")
    flow.sync()
    assert flow.in_sales("a@acme.example")[1]["owner"] == "emea@sales.example"  # type: ignore[index]
    assert flow.in_sales("b@globex.example")[1]["owner"] == "rest@sales.example"  # type: ignore[index]
    with snapshot(flow.engine) as session:
        saved = session.execute(select(AuditLog.action, AuditLog.actor).where(AuditLog.subject == "lead_handoff"))
        assert [tuple(r) for r in saved] == [("lead_handoff.saved", "admin@example.com")]


def test_sales_works_and_converts_the_lead_and_the_story_follows(ledger_url: str) -> None:
    flow = Handoff(ledger_url, ROUND_ROBIN)
    person = flow.person("hot@acme.example", lifecycle_stage="mql")
    flow.sync()
    lead = flow.in_sales("hot@acme.example")
    assert lead is not None
    flow.sales.put("contact", {"lead_status": "working"}, external_id=lead[0])
    flow.sync()
    deal = flow.sales.put("deal", {"name": "Acme rollout", "stage": "qualification"})
    flow.sync()
    flow.sales.put("contact", {"lead_status": "converted", "converted_deal_id": deal}, external_id=lead[0])
    flow.sync()

    assert flow.marketing.get("contact", person)["lifecycle_stage"] == "opportunity"  # type: ignore[index]
    (story_id,) = trace.search(flow.engine, "hot@acme.example")
    story = trace.story(flow.engine, story_id)
    assert story is not None
    milestones = [s.name for s in story.steps if s.name in trace.MILESTONES]
    assert milestones == ["lead.qualified", "lead.created", "lead.first_activity", "lead.converted"]
    assert set(story.hops) == {"lead_handoff", "lead_response"}
    # the opportunity joined the contact's story: the deal's own id finds it
    assert trace.search(flow.engine, deal) == [story_id]

"""Ownership policies a team can start from; the first: HubSpot (marketing) with Salesforce (sales)."""

from __future__ import annotations

from sqlalchemy import Engine

from sync_core.domain.mapping import ObjectMapping
from sync_core.domain.ownership import FieldRule, Rule
from sync_core.persistence import lanes
from sync_core.persistence.database import snapshot, transaction
from sync_core.services import policy

HUBSPOT, SALESFORCE, ERP = "hubspot", "salesforce", "erp"
# What the ERP keeps and everyone else shows: order, delivery, invoice and payment state.
DEAL_FULFILMENT = (
    "order_number", "order_status", "delivery_status", "tracking_ref", "shipped_date", "invoice_number",
    "invoice_status", "invoice_due_date", "amount_invoiced", "amount_paid", "amount_overdue", "payment_status",
)  # fmt: skip
COMPANY_BILLING = ("customer_number", "payment_terms", "credit_hold", "open_invoice_amount", "amount_overdue",
                   "billing_risk")  # fmt: skip


def hubspot_salesforce_mappings(hubspot: str = HUBSPOT, salesforce: str = SALESFORCE) -> list[ObjectMapping]:
    """Each connector's own field names for companies and contacts, under the connections' names."""
    from connectors.hubspot.mapping import default_mappings as hubspot_mappings
    from connectors.salesforce.mapping import default_mappings as salesforce_mappings

    renamed = [ObjectMapping(hubspot, m.object_type, m.fields) for m in hubspot_mappings()]
    return [*renamed, *salesforce_mappings(salesforce)]


def hubspot_salesforce_rules(hubspot: str = HUBSPOT, salesforce: str = SALESFORCE) -> dict[str, list[FieldRule]]:
    """What a HubSpot-plus-Salesforce company expects: people's names and emails both ways,
    attribution and scoring from marketing, accounts, firmographics, owners and deals from sales,
    and each system's record ids written back to the other.

    An owner is a person, known to both systems by email: a record whose owner has no user (or
    owner) in the system it is written to is a mapping error there (see sync_core/domain/people.py).
    """
    ids = [
        FieldRule("hubspot_id", Rule.ALWAYS_OWNER, hubspot),
        FieldRule("salesforce_id", Rule.ALWAYS_OWNER, salesforce),
    ]
    return {
        "company": [
            *ids,
            FieldRule("name", Rule.TWO_WAY),
            FieldRule("domain", Rule.OWNER_UNLESS_BLANK, hubspot),
            FieldRule("phone", Rule.TWO_WAY),
            FieldRule("industry", Rule.OWNER_UNLESS_BLANK, salesforce),
            FieldRule("annual_revenue", Rule.OWNER_UNLESS_BLANK, salesforce),
            # Owners are people, matched by email: sales assigns accounts, people and deals.
            FieldRule("owner", Rule.OWNER_UNLESS_BLANK, salesforce),
            FieldRule("city", Rule.TWO_WAY),
            FieldRule("country", Rule.TWO_WAY),
            FieldRule("street", Rule.OWNER_UNLESS_BLANK, salesforce),
            FieldRule("postal_code", Rule.OWNER_UNLESS_BLANK, salesforce),
            FieldRule("vat_number", Rule.OWNER_UNLESS_BLANK, salesforce),
        ],
        "contact": [
            *ids,
            FieldRule("email", Rule.TWO_WAY),
            FieldRule("first_name", Rule.TWO_WAY),
            FieldRule("last_name", Rule.TWO_WAY),
            FieldRule("phone", Rule.TWO_WAY),
            FieldRule("title", Rule.TWO_WAY),
            FieldRule("original_source", Rule.ALWAYS_OWNER, hubspot),
            FieldRule("lifecycle_stage", Rule.ALWAYS_OWNER, hubspot),
            FieldRule("lead_score", Rule.ALWAYS_OWNER, hubspot),
            FieldRule("company_id", Rule.OWNER_UNLESS_BLANK, salesforce),
            FieldRule("owner", Rule.OWNER_UNLESS_BLANK, salesforce),
        ],
        # Sales works deals in Salesforce; HubSpot shows them.
        "deal": [
            *ids,
            FieldRule("name", Rule.OWNER_UNLESS_BLANK, salesforce),
            FieldRule("amount", Rule.OWNER_UNLESS_BLANK, salesforce),
            FieldRule("currency", Rule.TWO_WAY),
            # Sales owns the stage; a deal HubSpot creates brings its own until Salesforce has one.
            FieldRule("stage", Rule.OWNER_UNLESS_BLANK, salesforce),
            FieldRule("close_date", Rule.OWNER_UNLESS_BLANK, salesforce),
            FieldRule("company_id", Rule.OWNER_UNLESS_BLANK, salesforce),
            # The people on the deal (contact roles, associations): Salesforce's list, HubSpot's until it has one.
            FieldRule("contact_ids", Rule.OWNER_UNLESS_BLANK, salesforce),
            FieldRule("owner", Rule.OWNER_UNLESS_BLANK, salesforce),
            FieldRule("lines", Rule.DONT_SYNC),  # the closed-won flow carries them to the ERP order
        ],
    }


def lead_to_cash_rules(
    hubspot: str = HUBSPOT, salesforce: str = SALESFORCE, erp: str = ERP
) -> dict[str, list[FieldRule]]:
    """The HubSpot + Salesforce rules, with the ERP owning what it knows: a customer's number, terms and
    unpaid invoices, and each won deal's order, delivery, invoice and payment."""
    rules = hubspot_salesforce_rules(hubspot, salesforce)
    rules["contact"] += [
        FieldRule("company_name", Rule.OWNER_UNLESS_BLANK, salesforce),  # a lead needs one: never blanked
        *[FieldRule(name, Rule.ALWAYS_OWNER, salesforce)
          for name in ("lead_status", "converted_company_id", "converted_deal_id")],
    ]  # fmt: skip
    rules["company"] += [FieldRule(name, Rule.ALWAYS_OWNER, erp) for name in COMPANY_BILLING]
    rules["deal"] += [FieldRule(name, Rule.ALWAYS_OWNER, erp) for name in DEAL_FULFILMENT]
    rules["product"] = [FieldRule(name, Rule.ALWAYS_OWNER, erp) for name in ("code", "name", "list_price", "active")]
    return rules


def lead_to_cash_mappings(
    hubspot: str = HUBSPOT, salesforce: str = SALESFORCE, erp: str = ERP
) -> list[ObjectMapping]:
    """The CRMs' mappings plus the ERP's. Revline creates nothing in the ERP on its own: customers and
    orders are created there by the closed-won flow, when a deal is won; and people reach Salesforce
    when marketing qualifies them, as leads (the lead handoff flow)."""
    from connectors.erp.mapping import default_mappings as erp_mappings

    wanted = ("company", "product", "deal")
    kept = [ObjectMapping(erp, m.object_type, m.fields, creates=False) for m in erp_mappings(erp)
            if m.object_type in wanted]  # fmt: skip
    crm: list[ObjectMapping] = []
    for mapping in hubspot_salesforce_mappings(hubspot, salesforce):
        if mapping.object_type == "contact" and mapping.system == salesforce:
            mapping = ObjectMapping(salesforce, "contact", mapping.fields, creates=False)
        crm.append(mapping)
    return [*crm, *kept]


def install_lead_to_cash(
    engine: Engine, hubspot: str = HUBSPOT, salesforce: str = SALESFORCE, erp: str = ERP
) -> None:
    """Save the lead-to-cash preset (when no policy is saved yet) and create its lanes."""
    with snapshot(engine) as session:
        current = policy.load(session, "company")
    if not current.mappings:
        policy.save_mappings(engine, lead_to_cash_mappings(hubspot, salesforce, erp), "preset")
        for object_type, rules in lead_to_cash_rules(hubspot, salesforce, erp).items():
            policy.save_rules(engine, object_type, rules, "preset")
    with transaction(engine) as session:
        for system in (hubspot, salesforce):
            for object_type in ("company", "contact", "deal", "product"):
                lanes.ensure_lanes(session, system, object_type)
        for object_type in ("company", "product", "deal"):
            lanes.ensure_lanes(session, erp, object_type)


def install_hubspot_salesforce(engine: Engine, hubspot: str = HUBSPOT, salesforce: str = SALESFORCE) -> None:
    """Save the preset's mappings and rules (when none are saved yet) and create the lanes it needs."""
    with snapshot(engine) as session:
        current = policy.load(session, "company")
    if not current.mappings:
        policy.save_mappings(engine, hubspot_salesforce_mappings(hubspot, salesforce), "preset")
        for object_type, rules in hubspot_salesforce_rules(hubspot, salesforce).items():
            policy.save_rules(engine, object_type, rules, "preset")
    with transaction(engine) as session:
        for system in (hubspot, salesforce):
            for object_type in ("company", "contact"):
                lanes.ensure_lanes(session, system, object_type)

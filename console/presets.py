"""Ownership policies a team can start from; the first: HubSpot (marketing) with Salesforce (sales)."""

from __future__ import annotations

from sqlalchemy import Engine

from sync_core.domain.mapping import ObjectMapping
from sync_core.domain.ownership import FieldRule, Rule
from sync_core.persistence import lanes
from sync_core.persistence.database import snapshot, transaction
from sync_core.services import policy

HUBSPOT, SALESFORCE = "hubspot", "salesforce"


def hubspot_salesforce_mappings(hubspot: str = HUBSPOT, salesforce: str = SALESFORCE) -> list[ObjectMapping]:
    """Each connector's own field names for companies and contacts, under the connections' names."""
    from connectors.hubspot.mapping import default_mappings as hubspot_mappings
    from connectors.salesforce.mapping import default_mappings as salesforce_mappings

    renamed = [ObjectMapping(hubspot, m.object_type, m.fields) for m in hubspot_mappings()]
    return [*renamed, *salesforce_mappings(salesforce)]


def hubspot_salesforce_rules(hubspot: str = HUBSPOT, salesforce: str = SALESFORCE) -> dict[str, list[FieldRule]]:
    """What a HubSpot-plus-Salesforce company expects: people's names and emails both ways,
    attribution and scoring from marketing, accounts and firmographics from sales, and each
    system's record ids written back to the other."""
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
            FieldRule("city", Rule.TWO_WAY),
            FieldRule("country", Rule.TWO_WAY),
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
        ],
    }


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

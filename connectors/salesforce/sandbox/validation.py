"""Record validation as Salesforce does it, each failure an error with Salesforce's code, message and fields."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connectors.salesforce.sandbox.api_errors import SfError
from connectors.salesforce.sandbox.ids import normalize
from connectors.salesforce.sandbox.schema import SOBJECTS, SObjectType
from connectors.salesforce.sandbox.store import Store

# Salesforce's own check is looser than RFC 5322 and stricter than "has an @"; this is close.
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")


def unknown_field(t: SObjectType, name: str) -> SfError:
    return SfError("INVALID_FIELD", f"No such column '{name}' on sobject of type {t.name}")


def not_writable(names: list[str]) -> SfError:
    return SfError(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"Unable to create/update fields: {', '.join(names)}. Please check the security settings of this field"
        " and verify that it is read/write for your profile or permission set.",
        tuple(names),
    )


def check_values(t: SObjectType, values: Mapping[str, Any], store: Store) -> list[SfError]:
    """Restricted picklists, lengths, e-mail addresses and lookups of the values being written."""
    errors: list[SfError] = []
    for name, value in values.items():
        f = t.field(name)
        if f is None or value is None:
            continue
        label = f.display_label
        if f.type == "picklist" and f.restricted and value not in f.picklist:
            errors.append(
                SfError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{label}: bad value for restricted picklist field: {value}",
                    (f.name,),
                )
            )
        elif f.type in ("string", "textarea", "email", "phone", "url", "picklist") and len(value) > f.length:
            errors.append(
                SfError(
                    "STRING_TOO_LONG",
                    f"{label}: data value too large: {value[:40]} (max length={f.length})",
                    (f.name,),
                )
            )
        elif f.type == "email" and not _EMAIL.match(value):
            errors.append(SfError("INVALID_EMAIL_ADDRESS", f"{label}: invalid email address: {value}", (f.name,)))
        elif f.type == "reference":
            errors.extend(_check_reference(f.name, label, f.reference_to, value, store))
    return errors


def _check_reference(name: str, label: str, targets: tuple[str, ...], value: str, store: Store) -> list[SfError]:
    full = normalize(value)
    if full is None or not any(full.startswith(SOBJECTS[t].key_prefix) for t in targets):
        return [SfError("MALFORMED_ID", f"{label}: id value of incorrect type: {value}", (name,))]
    if store.get(full) is None:
        return [SfError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ())]
    return []


def check_required(t: SObjectType, merged: Mapping[str, Any]) -> SfError | None:
    """One error naming every required field left blank, as Salesforce aggregates them."""
    missing = [f.name for f in t.fields if f.required and merged.get(f.name) in (None, "")]
    if not missing:
        return None
    return SfError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", tuple(missing))


def check_unique(t: SObjectType, values: Mapping[str, Any], store: Store, record_id: str | None) -> list[SfError]:
    """DUPLICATE_VALUE for a unique field whose value another live record already holds."""
    errors = []
    for name, value in values.items():
        f = t.field(name)
        if f is None or not f.unique or value is None:
            continue
        others = [r for r in store.find(t.name, f.name, value) if r.id != record_id]
        if others:
            errors.append(
                SfError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {f.name} duplicates value on record with id: {others[0].id}",
                    (),
                )
            )
    return errors

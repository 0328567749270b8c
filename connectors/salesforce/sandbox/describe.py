"""The describe resources: the global list of sObjects and each sObject's fields, as Salesforce words them."""

from __future__ import annotations

from typing import Any

from connectors.salesforce.sandbox.schema import (
    NUMBER_TYPES,
    SOAP_TYPES,
    SOBJECTS,
    Field,
    SObjectType,
    child_relationships,
)


def _urls(t: SObjectType, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{t.name}"
    return {
        "sobject": base,
        "describe": f"{base}/describe",
        "rowTemplate": f"{base}/{{ID}}",
        "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
    }


def _summary(t: SObjectType, version: str) -> dict[str, Any]:
    return {
        "name": t.name,
        "label": t.label,
        "labelPlural": t.label_plural,
        "keyPrefix": t.key_prefix,
        "custom": False,
        "createable": t.createable,
        "updateable": t.createable,
        "deletable": t.createable,
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "layoutable": True,
        "replicateable": True,
        "undeletable": t.createable,
        "triggerable": True,
        "urls": _urls(t, version),
    }


def _default(f: Field) -> Any:
    return f.default if isinstance(f.default, bool) or (f.default is not None and f.default != "$user") else None


def field_describe(f: Field) -> dict[str, Any]:
    """One entry of a describe's `fields`."""
    text = f.type not in NUMBER_TYPES and f.type not in ("boolean", "date", "datetime")
    return {
        "name": f.name,
        "label": f.display_label,
        "type": f.type,
        "soapType": SOAP_TYPES.get(f.type, "xsd:string"),
        "length": f.length if text else 0,
        "byteLength": f.length * 3 if text else 0,
        "precision": f.precision,
        "scale": f.scale,
        "digits": 9 if f.type == "int" else 0,
        "nillable": f.nillable,
        "createable": f.createable,
        "updateable": f.updateable,
        "defaultedOnCreate": f.default is not None or f.type == "boolean" or f.name in ("Id", "OwnerId"),
        "defaultValue": _default(f),
        "unique": f.unique,
        "externalId": f.external_id,
        "idLookup": f.name == "Id" or f.external_id,
        "caseSensitive": f.case_sensitive,
        "calculated": f.calculated,
        "custom": f.custom,
        "nameField": f.name_field,
        "autoNumber": False,
        "filterable": f.type != "textarea" or f.length <= 255,
        "sortable": f.type != "textarea" or f.length <= 255,
        "groupable": f.type not in NUMBER_TYPES and f.type not in ("textarea", "datetime"),
        "picklistValues": [
            {"active": True, "defaultValue": value == f.default, "label": value, "validFor": None, "value": value}
            for value in f.picklist
        ],
        "restrictedPicklist": f.restricted,
        "dependentPicklist": False,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship,
        "relationshipOrder": None,
        "cascadeDelete": False,
        "htmlFormatted": False,
        "permissionable": f.nillable and not f.name.startswith(("Id", "Created", "LastModified", "System")),
    }


def describe(t: SObjectType, version: str) -> dict[str, Any]:
    """The body of GET /sobjects/{type}/describe."""
    body = _summary(t, version)
    body["fields"] = [field_describe(f) for f in t.fields]
    body["childRelationships"] = [
        {
            "childSObject": c.child,
            "field": c.field,
            "relationshipName": c.name,
            "cascadeDelete": c.cascade_delete,
            "deprecatedAndHidden": False,
            "restrictedDelete": False,
        }
        for c in child_relationships(t.name)
    ]
    body["recordTypeInfos"] = []
    body["supportedScopes"] = [{"label": "All", "name": "everything"}]
    return body


def describe_global(version: str) -> dict[str, Any]:
    """The body of GET /sobjects/."""
    return {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [_summary(t, version) for t in SOBJECTS.values()]}


def basic_info(t: SObjectType, version: str) -> dict[str, Any]:
    """The body of GET /sobjects/{type}/."""
    return {"objectDescribe": _summary(t, version), "recentItems": []}

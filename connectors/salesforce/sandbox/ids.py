"""Salesforce record ids: a 3-character key prefix, 12 more case-sensitive characters, a 3-character case checksum."""

from __future__ import annotations

import re

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SHAPE = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?$")
# The sandbox's pod and reserved characters; real orgs have their own here.
_POD = "8d0"

KEY_PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "User": "005",
    "Lead": "00Q",
    "OpportunityLineItem": "00k",
    "OpportunityContactRole": "00K",
    "Pricebook2": "01s",
    "Product2": "01t",
    "PricebookEntry": "01u",
}
ORGANIZATION_PREFIX = "00D"
JOB_PREFIX = "750"
QUERY_LOCATOR_PREFIX = "01g"


def checksum(id15: str) -> str:
    """The three characters that make a 15-character id safe for case-insensitive systems."""
    out = []
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        out.append(_CHECKSUM[bits])
    return "".join(out)


def make_id(prefix: str, number: int) -> str:
    """The 18-character id of the `number`-th record the sandbox creates under `prefix`."""
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    id15 = prefix + _POD + "".join(reversed(digits)).rjust(9, "0")
    return id15 + checksum(id15)


def normalize(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id; None when `value` is not an id."""
    if not _SHAPE.match(value):
        return None
    if len(value) == 15:
        return value + checksum(value)
    return value if value[15:] == checksum(value[:15]) else None

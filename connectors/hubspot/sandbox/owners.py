"""The account's owners: the people records can be assigned to, as GET /crm/v3/owners describes them.

An owner has an owner id (what `hubspot_owner_id` holds) and a user id (HubSpot's login, which
assigning a record to is an error). Deactivating a user archives its owner: it stays readable with
`archived=true`, and records can no longer be assigned to it.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any

from connectors.hubspot.sandbox.times import iso_ms, now_ms

OWNER_PROPERTY = "hubspot_owner_id"
FIRST_OWNER_ID = 101
_USER_ID_OFFSET = 9_000_000  # user ids differ from owner ids, as in HubSpot
# The portal's sales team before anyone is added.
DEFAULT_OWNERS = (
    ("alex.rivera@revline.sandbox", "Alex", "Rivera"),
    ("sam.chen@revline.sandbox", "Sam", "Chen"),
    ("jordan.blake@revline.sandbox", "Jordan", "Blake"),
)


@dataclass
class Owner:
    id: str
    email: str
    first_name: str
    last_name: str
    user_id: int
    created_ms: int
    updated_ms: int
    archived: bool = False

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "email": self.email,
            "type": "PERSON",
            "firstName": self.first_name,
            "lastName": self.last_name,
            "userIdIncludingInactive": self.user_id,
            "createdAt": iso_ms(self.created_ms),
            "updatedAt": iso_ms(self.updated_ms),
            "archived": self.archived,
            "teams": [],
        }
        if not self.archived:
            body["userId"] = self.user_id  # an archived owner's user is inactive: HubSpot leaves it out
        return body

    @property
    def label(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email


class Owners:
    """Thread-safe owner registry, ordered by owner id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owners: dict[str, Owner] = {}
        self._ids = itertools.count(FIRST_OWNER_ID)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._owners = {}
            self._ids = itertools.count(FIRST_OWNER_ID)
        for email, first, last in DEFAULT_OWNERS:
            self.add(email, first, last)

    def add(self, email: str, first_name: str = "", last_name: str = "") -> Owner:
        """A new user of the portal (or the archived owner with that email, active again)."""
        address = email.strip().lower()
        if "@" not in address:
            raise ValueError(f"{email!r} is not an email address")
        with self._lock:
            ms = now_ms()
            for owner in self._owners.values():
                if owner.email == address:
                    owner.archived, owner.updated_ms = False, ms
                    return owner
            number = next(self._ids)
            owner = Owner(str(number), address, first_name, last_name, _USER_ID_OFFSET + number, ms, ms)
            self._owners[owner.id] = owner
            return owner

    def archive(self, owner_id: str) -> bool:
        with self._lock:
            owner = self._owners.get(owner_id)
            if owner is None or owner.archived:
                return False
            owner.archived, owner.updated_ms = True, now_ms()
            return True

    def listed(self, archived: bool = False, email: str | None = None) -> list[Owner]:
        """The active owners (or the archived ones), optionally only the one with `email`."""
        with self._lock:
            found = [o for o in self._owners.values() if o.archived == archived]
        if email:
            found = [o for o in found if o.email == email.strip().lower()]
        return sorted(found, key=lambda o: int(o.id))

    def get(self, value: str, id_property: str = "id", archived: bool = False) -> Owner | None:
        with self._lock:
            owners = list(self._owners.values())
        for owner in owners:
            key = owner.id if id_property == "id" else str(owner.user_id)
            if key == value and owner.archived == archived:
                return owner
        return None

    def assignable(self, owner_id: str) -> bool:
        """Whether a record may be assigned to `owner_id` (an active owner's id, not a user id)."""
        with self._lock:
            owner = self._owners.get(owner_id)
            return owner is not None and not owner.archived

    def options(self) -> tuple[tuple[str, str], ...]:
        """The owner property's options: every active owner."""
        return tuple((o.id, o.label) for o in self.listed())

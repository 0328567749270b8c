"""Who owns records: one system's users, by their id there and by email, the owner's canonical identity.

A record's owner crosses systems as the person's email address: each connector reads its owner
field (a Salesforce User Id, a HubSpot owner id) as that user's email, and writes an email as the id
of the active user holding it. The directory is loaded from the system and kept for a while; a
lookup that misses reloads it once (then again only after a minute), so a user added since is found
at once, and a value no user has (a lead queue's id) costs no reload per record.

A write naming a person the system has no active user for is refused for that record, as a
mapping error: the owner decides who is credited and followed up with, and writing the record
without its owner would give it to someone else (Salesforce makes the integration user the owner
of what it creates). A person adds the user, or gives the record another owner, then retries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sync_core.domain.errors import ErrorCategory, PermanentError


@dataclass(frozen=True)
class Person:
    """One user of a system: its id there, its email address, and whether records can be given to it."""

    id: str
    email: str | None
    active: bool = True


class Directory:
    """A system's users by id and by (lower-cased) email, loaded through `load`."""

    def __init__(
        self,
        system: str,
        load: Callable[[], Iterable[Person]],
        now: Callable[[], datetime],
        *,
        max_age: timedelta = timedelta(minutes=15),
        retry_after: timedelta = timedelta(minutes=1),
    ) -> None:
        self.system = system
        self._load = load
        self._now = now
        self._max_age = max_age
        self._retry_after = retry_after
        self._lock = threading.Lock()
        self._loaded_at: datetime | None = None
        self._emails: dict[str, str] = {}  # id -> email, every user
        self._ids: dict[str, str] = {}  # email -> id, active users only
        self._missed: set[str] = set()  # lookups that found nobody since the last load

    def email_of(self, person_id: str) -> str | None:
        """The email of user `person_id` (active or not); None for an id the system has no person for."""
        return self._lookup(f"id:{person_id}", lambda: self._emails.get(person_id))

    def id_for(self, email: str) -> str | None:
        """The id of the active user with `email`; None when there is none."""
        key = email.strip().lower()
        return self._lookup(f"email:{key}", lambda: self._ids.get(key))

    def require_id(self, email: str) -> str:
        """The id of the active user with `email`, or a mapping error naming the missing person."""
        found = self.id_for(email)
        if found is None:
            raise PermanentError(
                f"{self.system} has no active user with email {email.strip().lower()} to own this record: add "
                "the user there (or give the record an owner who has one), then retry",
                ErrorCategory.MAPPING,
            )
        return found

    def _lookup(self, key: str, find: Callable[[], str | None]) -> str | None:
        with self._lock:
            now = self._now()
            fresh = self._loaded_at is None or now - self._loaded_at >= self._max_age
            if fresh:
                self._reload(now)
            found = find()
            stale = self._loaded_at is None or now - self._loaded_at >= self._retry_after
            if found is None and not fresh and (key not in self._missed or stale):
                self._reload(now)  # a user added since the last load
                found = find()
            if found is None:
                self._missed.add(key)
            return found

    def _reload(self, now: datetime) -> None:
        emails: dict[str, str] = {}
        ids: dict[str, str] = {}
        # Several users may share an address (an admin's second login): the active one with the lowest id wins.
        for person in sorted(self._load(), key=lambda p: p.id):
            if not person.email:
                continue
            email = person.email.strip().lower()
            emails[person.id] = email
            if person.active:
                ids.setdefault(email, person.id)
        self._emails, self._ids, self._loaded_at, self._missed = emails, ids, now, set()

"""OAuth 2.0 access tokens: issued to a user, checked on every call, expired on demand or after a time to live."""

from __future__ import annotations

import itertools
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

CLIENT_ID = "sandbox"
CLIENT_SECRET = "sandbox"  # the published default, like the HubSpot sandbox token
USER_PASSWORD = "sandbox"  # every seeded user's password, for the username-password flow


@dataclass(frozen=True)
class Session:
    token: str
    user_id: str
    issued_at: datetime
    serial: int


class Sessions:
    """Tokens the sandbox issued, and which user each one acts as."""

    def __init__(self, organization_id: str) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._serials = itertools.count(1)
        self._first_valid = 0  # sessions with a lower serial were expired
        self.organization_id = organization_id
        self.ttl: timedelta | None = None

    def issue(self, user_id: str, now: datetime) -> Session:
        # Real tokens are the org id, '!', then an opaque part.
        with self._lock:
            session = Session(f"{self.organization_id}!{secrets.token_urlsafe(48)}", user_id, now, next(self._serials))
            self._sessions[session.token] = session
        return session

    def user_of(self, token: str, now: datetime) -> str | None:
        """The user a live token acts as; None when it is unknown or expired."""
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if session.serial < self._first_valid:
                return None
            if self.ttl is not None and now - session.issued_at >= self.ttl:
                return None
            return session.user_id

    def expire_all(self) -> None:
        """Every token issued so far stops working, as when an admin revokes sessions."""
        with self._lock:
            self._first_valid = next(self._serials)

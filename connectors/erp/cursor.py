"""The change cursor: the newest write_date delivered, and what was delivered inside the overlap window.

Encoded as compact JSON, opaque to the engine:

    {"v": 1, "since": "2026-01-05 09:00:03", "seen": {"42": "2026-01-05 09:00:03#5d41402abc"}}

`since` is the largest write_date delivered so far (Odoo's own format, UTC), or the ERP's time
when a feed last read to the end (`caught_up`); absent, the feed starts from the beginning. The
next read asks for `write_date >= since - overlap`, ordered by (write_date, id), and skips exactly
the (id, version) pairs in `seen`: everything delivered with a write_date inside the window. Odoo
stamps write_date with the transaction's start, so a transaction that commits late lands behind
`since`; the overlap is how far behind it can land and still be read. A record changed again gets
a new version (write_date plus a digest of its values, so two changes in one second differ) and is
delivered again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connectors.erp.mapping import format_datetime, parse_datetime
from sync_core.domain.errors import ErrorCategory, PermanentError

VERSION = 1


def _stamp(version: str) -> str:
    return version.partition("#")[0]


@dataclass(frozen=True)
class ChangeCursor:
    since: str | None = None
    seen: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def decode(cls, text: str | None) -> ChangeCursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            if data.get("v") != VERSION:
                raise ValueError(f"unknown cursor version {data.get('v')!r}")
            since = data.get("since")
            if since is not None:
                parse_datetime(str(since))
            seen = {str(k): str(v) for k, v in dict(data.get("seen", {})).items()}
            return cls(None if since is None else str(since), seen)
        except (ValueError, TypeError, AttributeError) as error:
            raise PermanentError(
                f"odoo: unreadable change cursor {text[:80]!r}: {error}", ErrorCategory.UNEXPECTED
            ) from None

    def encode(self) -> str | None:
        if self.since is None:
            return None
        return json.dumps({"v": VERSION, "since": self.since, "seen": dict(self.seen)}, separators=(",", ":"),
                          sort_keys=True)

    def lower_bound(self, overlap: timedelta) -> str | None:
        """The write_date the next read starts at: `overlap` before the newest one delivered."""
        if self.since is None:
            return None
        return format_datetime(parse_datetime(self.since) - overlap)

    def is_new(self, record_id: str, version: str) -> bool:
        """False for exactly the version of a record already delivered inside the window."""
        return self.seen.get(record_id) != version

    def after(self, delivered: Iterable[tuple[str, str]], overlap: timedelta) -> ChangeCursor:
        """The cursor once the (id, version) pairs in `delivered` are handed over."""
        pairs = list(delivered)
        if not pairs:
            return self
        stamps = [parse_datetime(_stamp(v)) for _, v in pairs]
        newest: datetime = max(stamps)
        if self.since is not None:
            newest = max(newest, parse_datetime(self.since))  # late commits never move the boundary back
        floor = newest - overlap
        merged = {**self.seen, **dict(pairs)}
        seen = {k: v for k, v in merged.items() if parse_datetime(_stamp(v)) >= floor}
        return ChangeCursor(format_datetime(newest), seen)

    def caught_up(self, moment: datetime, overlap: timedelta) -> ChangeCursor:
        """The cursor after reading to the end at `moment` (the ERP's time before the read): whatever commits
        later started less than the overlap before it, so the window may move up to `moment`."""
        newest = parse_datetime(self.since) if self.since is not None else moment
        since = max(newest, moment)
        floor = since - overlap
        seen = {k: v for k, v in self.seen.items() if parse_datetime(_stamp(v)) >= floor}
        return ChangeCursor(format_datetime(since), seen)

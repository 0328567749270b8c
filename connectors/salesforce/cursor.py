"""The change cursor: the last (SystemModstamp, Id) delivered, and with an overlap, what was delivered inside it.

Encoded as compact JSON, opaque to the engine:

    {"v": 1, "since": "2026-01-05T09:00:03.000+0000", "id": "0038d0000000042AAA", "seen": {}}

`since` and `id` are the SystemModstamp and Id of the last record delivered, in the feed's
(SystemModstamp, Id) order; absent, the feed starts from the beginning. Without an overlap the
next read is an exact keyset continuation: stamps after `since`, or equal to it with a greater Id.
With an overlap window, the next read goes back `overlap` before `since` and skips exactly the
(Id, stamp) pairs in `seen`: every record delivered with a stamp inside the window. Either way a
record stamped in the boundary second is neither lost nor delivered twice, and a record changed
again gets a new stamp and is delivered again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connectors.salesforce.mapping import parse_stamp
from sync_core.domain.errors import ErrorCategory, PermanentError

VERSION = 1


@dataclass(frozen=True)
class ChangeCursor:
    since: str | None = None
    last_id: str | None = None
    seen: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def decode(cls, text: str | None) -> ChangeCursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            if data.get("v") != VERSION:
                raise ValueError(f"unknown cursor version {data.get('v')!r}")
            since, last_id = data.get("since"), data.get("id")
            if (since is None) != (last_id is None):
                raise ValueError("since and id go together")
            if since is not None:
                parse_stamp(str(since))
            seen = {str(k): str(v) for k, v in dict(data.get("seen", {})).items()}
            return cls(None if since is None else str(since), None if last_id is None else str(last_id), seen)
        except (ValueError, TypeError, AttributeError) as error:
            raise PermanentError(
                f"salesforce: unreadable change cursor {text[:80]!r}: {error}", ErrorCategory.UNEXPECTED
            ) from None

    def encode(self) -> str | None:
        if self.since is None:
            return None
        body = {"v": VERSION, "since": self.since, "id": self.last_id, "seen": dict(self.seen)}
        return json.dumps(body, separators=(",", ":"), sort_keys=True)

    def lower_bound(self, overlap: timedelta) -> datetime | None:
        """Where a read with an overlap window starts: `overlap` before the last stamp delivered."""
        return None if self.since is None else parse_stamp(self.since) - overlap

    def is_new(self, record_id: str, stamp: str) -> bool:
        """False for exactly the version of a record delivered inside the overlap window."""
        return self.seen.get(record_id) != stamp

    def after(self, delivered: Iterable[tuple[str, str]], overlap: timedelta) -> ChangeCursor:
        """The cursor once `delivered` (Id, stamp) pairs, in feed order, are handed over."""
        pairs = list(delivered)
        if not pairs:
            return self
        # The server's (SystemModstamp, Id) order decides which record is last; Python's string
        # order of Ids need not agree with it, so take the last pair rather than a maximum.
        last_id, since = pairs[-1]
        if self.since is not None and parse_stamp(since) < parse_stamp(self.since):
            last_id, since = str(self.last_id), self.since  # only late commits came: the boundary stays
        moment = parse_stamp(since)
        seen: dict[str, str] = {}
        if overlap > timedelta(0):
            floor = moment - overlap
            seen = {k: v for k, v in {**self.seen, **dict(pairs)}.items() if parse_stamp(v) >= floor}
        return ChangeCursor(since, last_id, seen)

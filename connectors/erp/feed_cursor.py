"""The composite change cursor: one feed read from several models, each polled on its own write_date window.

Encoded as compact JSON, opaque to the engine:

    {"v": 2,
     "streams": {"deal": {"since": "2026-01-05 09:00:03", "seen": {"42": "2026-01-05 09:00:03#5d41402abc"}},
                 "invoices": {"since": "2026-01-05 09:00:00", "seen": {}},
                 "pickings": {"since": "2026-01-05 09:00:00", "seen": {}}},
     "overdue": ["2026-01-04", null],
     "delivered": {"42": "2026-01-05 09:00:03#9a0b1c2d3e"}}

`streams` holds one window per polled model, named by the feed (the records themselves under their
object type; the invoices and pickings they derive fields from), each with cursor.py's semantics:
`since` is the newest write_date handed on (or the ERP's time when the stream was last read to its
end: nothing can commit older than the overlap before that), `seen` the (id, version) pairs of that
model's rows handed on inside the overlap window, skipped when read again.

`overdue` is how far the overdue sweep has come, as [due date, invoice id]: every invoice due before
that date, and on it up to that id (null: all of that day), was handed on when the ERP's today passed
its due date. It holds no write_date: becoming overdue changes none.

`delivered` is the version last delivered of each record whose version is recent enough that another
stream could still find it; a record found again with the same version is not delivered again.

A version-1 cursor (cursor.py's, from when the feed polled the records alone) reads as the records'
own window; the other streams start at the ERP's time of the first read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from connectors.erp import cursor as single
from connectors.erp.billing import overdue_since
from connectors.erp.cursor import ChangeCursor
from connectors.erp.mapping import format_datetime, parse_datetime
from sync_core.domain.errors import ErrorCategory, PermanentError

VERSION = 2
Position = tuple[date, int | None]  # (due date, invoice id; None: every invoice due that day)


def _stamp(version: str) -> str:
    return version.partition("#")[0]


def overdue_floor(position: Position) -> datetime:
    """The earliest moment an invoice not yet swept can have become overdue."""
    due, last_id = position
    return overdue_since(due if last_id is not None else due + timedelta(days=1))


@dataclass(frozen=True)
class FeedCursor:
    streams: Mapping[str, ChangeCursor] = field(default_factory=dict)
    overdue: Position | None = None
    delivered: Mapping[str, str] = field(default_factory=dict)

    @property
    def fresh(self) -> bool:
        return not self.streams and self.overdue is None

    @classmethod
    def decode(cls, text: str | None, primary: str) -> FeedCursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            if data.get("v") == single.VERSION:
                return cls({primary: ChangeCursor.decode(text)})
            if data.get("v") != VERSION:
                raise ValueError(f"unknown cursor version {data.get('v')!r}")
            streams = {}
            for name, value in dict(data.get("streams", {})).items():
                since = value.get("since")
                if since is not None:
                    parse_datetime(str(since))
                seen = {str(k): str(v) for k, v in dict(value.get("seen", {})).items()}
                streams[str(name)] = ChangeCursor(None if since is None else str(since), seen)
            overdue = data.get("overdue")
            position = None
            if overdue is not None:
                due, last_id = overdue
                position = (date.fromisoformat(str(due)), None if last_id is None else int(last_id))
            delivered = {str(k): str(v) for k, v in dict(data.get("delivered", {})).items()}
            return cls(streams, position, delivered)
        except PermanentError:
            raise
        except (ValueError, TypeError, AttributeError, KeyError) as error:
            raise PermanentError(
                f"odoo: unreadable change cursor {text[:80]!r}: {error}", ErrorCategory.UNEXPECTED
            ) from None

    def encode(self) -> str:
        data: dict[str, Any] = {
            "v": VERSION,
            "streams": {name: {"since": s.since, "seen": dict(s.seen)} for name, s in self.streams.items()},
            "overdue": None if self.overdue is None else [self.overdue[0].isoformat(), self.overdue[1]],
            "delivered": dict(self.delivered),
        }
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    def is_new(self, record_id: str, version: str) -> bool:
        return self.delivered.get(record_id) != version

    def after(self, streams: Mapping[str, ChangeCursor], overdue: Position, delivered: Mapping[str, str],
              overlap: timedelta) -> FeedCursor:
        """The cursor once these streams' windows, this sweep position and these records are handed on.

        A delivered version is kept while some stream may still find its record at that version: its
        stamp (the record's latest change) is not older than the oldest window's start or the earliest
        moment an invoice not yet swept can become overdue."""
        floors = [overdue_floor(overdue)]
        floors += [parse_datetime(s.since) - overlap for s in streams.values() if s.since is not None]
        floor = format_datetime(min(floors))
        merged = {**self.delivered, **delivered}
        kept = {k: v for k, v in merged.items() if _stamp(v) >= floor}
        return FeedCursor(dict(streams), overdue, kept)

"""Change notices pushed by systems (webhooks): stored once each, then read by the inbound lane."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine

from sync_core.domain.changes import ChangeNotice
from sync_core.persistence import lanes, statements
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import InboxEvent

_INBOX = InboxEvent.__table__  # type: ignore[attr-defined]


def store(engine: Engine, notices: Sequence[ChangeNotice]) -> int:
    """Keep each notice once (redeliveries are dropped) and wake the lanes that read them."""
    if not notices:
        return 0
    now = datetime.now(UTC)
    rows = [
        {
            "dedupe_key": n.dedupe_key, "system": n.system, "object_type": n.object_type,
            "external_id": n.external_id, "payload": dict(n.payload), "received_at": now,
        }
        for n in notices
    ]
    with transaction(engine) as session:
        stored = statements.insert_ignore_counted(session, _INBOX, rows, ["dedupe_key"])
        for system, object_type in sorted({(n.system, n.object_type) for n in notices}):
            lanes.mark_due(session, system, object_type, lanes.INBOUND, now)
    return stored

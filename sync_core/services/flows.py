"""The lead-to-cash flows that run on what the sync loop reads, in the same transaction.

Each flow looks at the records of one page that changed and plans its own writes (an ERP
order for a won deal, ...) into the outbox, so they commit, or not, with the cursor advance.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy.orm import Session

from sync_core.services import closed_won, fulfilment
from sync_core.services.policy import ObjectPolicy


def after_ingest(
    session: Session, system: str, policy: ObjectPolicy, canonical_ids: Collection[str], now: datetime
) -> None:
    """Run the flows interested in `policy.object_type` records of `system` that changed."""
    if policy.object_type == "deal":
        closed_won.after_ingest(session, system, policy, canonical_ids, now)
        fulfilment.after_ingest(session, system, policy, canonical_ids, now)
    elif policy.object_type == "product":
        closed_won.after_catalog(session, system, canonical_ids, now)

"""How the executor points a write at the target's own records: one reference waits, a set keeps what it can."""

from __future__ import annotations

import pytest

from sync_core import executor
from sync_core.domain.errors import RetryableError, WaitingError


def test_a_missing_single_reference_holds_the_write_back() -> None:
    with pytest.raises(RetryableError, match="has no company c9"):
        executor._referenced({"company_id": "c9"}, "deal", "salesforce", {})
    with pytest.raises(WaitingError, match="queued"):
        executor._referenced({"company_id": "c9"}, "deal", "salesforce", {}, queued={"c9"})
    assert executor._referenced({"company_id": "c9"}, "deal", "salesforce", {"c9": "001A"}) == {"company_id": "001A"}


def test_a_set_keeps_the_members_the_target_holds_and_waits_for_queued_ones() -> None:
    external = {"p1": "003A", "p3": "003C"}
    resolved = executor._referenced({"contact_ids": ["p1", "p2", "p3"]}, "deal", "salesforce", external)
    assert resolved == {"contact_ids": ["003A", "003C"]}  # p2 is a person only marketing has
    with pytest.raises(WaitingError):
        executor._referenced({"contact_ids": ["p1", "p2"]}, "deal", "salesforce", external, queued={"p2"})
    assert executor._referenced({"contact_ids": ["p2"]}, "deal", "salesforce", external) == {"contact_ids": []}

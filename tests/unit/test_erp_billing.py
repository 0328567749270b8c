"""The ERP's billing and fulfilment facts, derived from invoice and picking rows; deal origins; the feed's cursor."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from connectors.erp.billing import Move, company_fields, last_change, overdue_since, payment_status, summarise
from connectors.erp.cursor import ChangeCursor
from connectors.erp.feed import overdue_domain
from connectors.erp.feed_cursor import FeedCursor, overdue_floor
from connectors.erp.fulfilment import deal_fields, shipped
from connectors.erp.mapping import deal_origin, default_mappings, mapping_for, opportunity_of
from sync_core.domain import mapping as field_mapping
from sync_core.domain import records
from sync_core.domain.errors import PermanentError

TODAY = date(2026, 5, 20)


def move(id_: int, total: float, residual: float, state: str = "not_paid", due: date | None = TODAY,
         refund: bool = False, posted: bool = True, invoiced: date | None = None, write: str = "2026-05-01 10:00:00"
         ) -> Move:
    return Move.of({
        "id": id_, "name": f"{'RINV' if refund else 'INV'}/2026/{id_:05d}",
        "move_type": "out_refund" if refund else "out_invoice", "state": "posted" if posted else "draft",
        "payment_state": state, "invoice_date": (invoiced or date(2026, 4, 20)).isoformat(),
        "invoice_date_due": due.isoformat() if due else False, "amount_total": total, "amount_residual": residual,
        "write_date": write,
    })  # fmt: skip


@pytest.mark.parametrize(("states", "overdue", "expected"), [
    ([], Decimal(0), None),
    (["not_paid"], Decimal(0), "not_paid"),
    (["not_paid", "not_paid"], Decimal(0), "not_paid"),
    (["partial"], Decimal(0), "partial"),
    (["paid", "not_paid"], Decimal(0), "partial"),
    (["in_payment", "not_paid"], Decimal(0), "partial"),
    (["paid", "in_payment"], Decimal(0), "in_payment"),
    (["paid", "paid"], Decimal(0), "paid"),
    (["paid", "reversed"], Decimal(0), "paid"),
    (["reversed"], Decimal(0), "reversed"),
    (["reversed", "reversed"], Decimal(0), "reversed"),
    (["partial"], Decimal("10.00"), "overdue"),
    (["paid", "not_paid"], Decimal("1.00"), "overdue"),
])  # fmt: skip
def test_payment_status_of_the_posted_invoices(states: list[str], overdue: Decimal, expected: str | None) -> None:
    assert payment_status(states, overdue) == expected
    assert expected is None or expected in records.PAYMENT_STATUSES


def test_overdue_is_posted_unpaid_and_due_before_today() -> None:
    assert move(1, 100, 100, due=TODAY - timedelta(days=1)).is_overdue(TODAY)
    assert move(1, 100, 40, "partial", due=TODAY - timedelta(days=30)).is_overdue(TODAY)
    assert not move(1, 100, 100, due=TODAY).is_overdue(TODAY)  # due today: not yet
    assert not move(1, 100, 0, "paid", due=TODAY - timedelta(days=9)).is_overdue(TODAY)
    assert not move(1, 100, 0, "in_payment", due=TODAY - timedelta(days=9)).is_overdue(TODAY)
    assert not move(1, 100, 100, due=TODAY - timedelta(days=9), posted=False).is_overdue(TODAY)
    assert not move(1, 100, 100, due=TODAY - timedelta(days=9), refund=True).is_overdue(TODAY)
    assert not move(1, 100, 100, due=None).is_overdue(TODAY)
    assert overdue_since(date(2026, 5, 19)) == datetime(2026, 5, 20, tzinfo=UTC)


def test_invoiced_paid_open_and_overdue_amounts_net_of_credit_notes() -> None:
    moves = [
        move(1, 1000, 0, "paid", due=TODAY - timedelta(days=40)),
        move(2, 500, 200, "partial", due=TODAY - timedelta(days=3)),  # 200 overdue
        move(3, 300, 300, due=TODAY + timedelta(days=10)),  # open, not yet due
        move(4, 120, 0, "paid", refund=True),  # a credit note used up (refunded or set against an invoice)
        move(5, 50, 50, refund=True),  # a credit note not used yet
        move(6, 999, 999, posted=False),  # a draft counts for nothing
    ]
    facts = summarise(moves, TODAY)
    assert facts.invoiced == Decimal("1800.00") - Decimal("170.00")
    assert facts.paid == Decimal("1300.00") - Decimal("120.00")
    assert facts.open == Decimal("500.00") - Decimal("50.00")
    assert facts.overdue == Decimal("200.00")
    assert facts.status == "overdue"
    assert summarise([move(1, 100, 0, "reversed"), move(2, 100, 0, "paid", refund=True)], TODAY).status == "reversed"
    assert summarise([], TODAY).status is None


def test_a_deals_fulfilment_from_its_pickings_and_invoices() -> None:
    pickings = [
        {"id": 7, "picking_type_code": "outgoing", "state": "done", "date_done": "2026-04-02 15:00:00",
         "carrier_tracking_ref": "1Z-FIRST"},
        {"id": 9, "picking_type_code": "outgoing", "state": "done", "date_done": "2026-04-09 08:30:00",
         "carrier_tracking_ref": "1Z-BACKORDER"},
        {"id": 11, "picking_type_code": "outgoing", "state": "assigned", "date_done": False,
         "carrier_tracking_ref": False},
    ]  # fmt: skip
    assert shipped(pickings) == {"carrier_tracking_ref": "1Z-BACKORDER", "date_done": "2026-04-09"}
    assert shipped(pickings[2:]) == {"carrier_tracking_ref": None, "date_done": None}
    down_payment = move(1, 300, 0, "paid", invoiced=date(2026, 4, 1), due=date(2026, 4, 15))
    final = move(2, 700, 700, invoiced=date(2026, 4, 10), due=date(2026, 5, 10))
    fields = deal_fields(pickings, [down_payment, final], TODAY)
    assert fields == {
        "carrier_tracking_ref": "1Z-BACKORDER", "date_done": "2026-04-09", "invoice_name": "INV/2026/00002",
        "invoice_date_due": "2026-05-10", "amount_invoiced": 1000.0, "amount_paid": 300.0, "amount_overdue": 700.0,
        "payment_state": "overdue",
    }  # fmt: skip
    assert deal_fields([], [], TODAY)["payment_state"] is None
    # the canonical deal reads them through the mapping
    mapping = mapping_for(default_mappings(), "deal")
    assert mapping is not None
    canonical = records.validate("deal", field_mapping.to_canonical(mapping, fields))
    assert canonical == {
        "tracking_ref": "1Z-BACKORDER", "shipped_date": "2026-04-09", "invoice_number": "INV/2026/00002",
        "invoice_due_date": "2026-05-10", "amount_invoiced": "1000", "amount_paid": "300",
        "amount_overdue": "700", "payment_status": "overdue",
    }  # fmt: skip


def test_a_companys_billing_facts() -> None:
    open_moves = [move(2, 500, 200, "partial", due=TODAY - timedelta(days=3)), move(3, 300, 300),
                  move(5, 50, 50, refund=True)]
    assert company_fields(42, open_moves, TODAY) == {
        "customer_number": "42", "open_invoice_amount": 450.0, "amount_overdue": 200.0, "billing_risk": True,
    }
    assert company_fields(42, [], TODAY) == {
        "customer_number": "42", "open_invoice_amount": 0.0, "amount_overdue": 0.0, "billing_risk": False,
    }


def test_a_record_changes_when_its_invoices_do_and_when_one_becomes_overdue() -> None:
    late = move(2, 500, 500, due=date(2026, 5, 12), write="2026-04-20 10:00:00")
    assert last_change(["2026-04-01 09:00:00", "2026-04-22 11:00:00"], [late], TODAY) == "2026-05-13 00:00:00"
    assert last_change(["2026-04-01 09:00:00", "2026-04-22 11:00:00"], [late], date(2026, 5, 12)) == (
        "2026-04-22 11:00:00"
    )
    assert last_change([], [], TODAY) is None


def test_a_deals_origin_is_its_opportunity() -> None:
    assert deal_origin("0065g00000XyZ12AAB", "d-1") == "sf-opp:0065g00000XyZ12AAB"
    assert deal_origin("sf-opp:0065g00000XyZ12AAB", "d-1") == "sf-opp:0065g00000XyZ12AAB"  # already keyed
    assert deal_origin(" ", "d-1") == deal_origin(None, "d-1") == "revline:d-1"
    assert opportunity_of("sf-opp:0065g00000XyZ12AAB") == "0065g00000XyZ12AAB"
    assert opportunity_of("revline:d-1") is None
    assert opportunity_of(False) is None
    assert opportunity_of("sf-opp:") is None


def test_deal_value_maps_cover_every_canonical_status() -> None:
    mapping = mapping_for(default_mappings(), "deal")
    assert mapping is not None
    maps = {f.canonical: dict(f.values) for f in mapping.fields if f.values}
    assert set(maps["order_status"]) == set(records.ORDER_STATUSES)
    assert set(maps["delivery_status"]) == set(records.DELIVERY_STATUSES)
    assert set(maps["invoice_status"]) == set(records.INVOICE_STATUSES)
    assert set(maps["payment_status"]) == set(records.PAYMENT_STATUSES)
    vendor = field_mapping.to_vendor(mapping, {"company_id": "17", "salesforce_id": "006A", "lines": []})
    assert vendor == {"partner_id": "17", "origin": "006A", "order_line": []}
    assert field_mapping.to_canonical(mapping, {"state": "sale", "delivery_status": "full",
                                                "invoice_status": "to invoice"}) == {
        "order_status": "confirmed", "delivery_status": "delivered", "invoice_status": "to_invoice"}


# -- the composite cursor ------------------------------------------------------------------------------------------


def test_the_feed_cursor_round_trips_as_json() -> None:
    cursor = FeedCursor(
        {"deal": ChangeCursor("2026-05-20 09:00:03", {"42": "2026-05-20 09:00:03#5d41402abc"}),
         "invoices": ChangeCursor("2026-05-20 09:00:00", {})},
        (date(2026, 5, 19), None), {"42": "2026-05-20 09:00:03#9a0b1c2d3e"},
    )  # fmt: skip
    text = cursor.encode()
    assert json.loads(text) == {
        "v": 2, "overdue": ["2026-05-19", None], "delivered": {"42": "2026-05-20 09:00:03#9a0b1c2d3e"},
        "streams": {"deal": {"since": "2026-05-20 09:00:03", "seen": {"42": "2026-05-20 09:00:03#5d41402abc"}},
                    "invoices": {"since": "2026-05-20 09:00:00", "seen": {}}},
    }  # fmt: skip
    assert FeedCursor.decode(text, "deal") == cursor
    assert FeedCursor.decode(None, "deal").fresh


def test_a_version_1_cursor_is_the_records_own_window() -> None:
    old = ChangeCursor("2026-05-20 09:00:03", {"7": "2026-05-20 09:00:03#abc"})
    assert FeedCursor.decode(old.encode(), "company") == FeedCursor({"company": old})


@pytest.mark.parametrize("text", ["not json", "[]", '{"v": 9}', '{"v": 2, "overdue": ["soon", null]}',
                                  '{"v": 2, "streams": {"deal": {"since": "yesterday"}}}'])
def test_an_unreadable_feed_cursor_is_refused(text: str) -> None:
    with pytest.raises(PermanentError):
        FeedCursor.decode(text, "deal")


def test_delivered_versions_are_kept_while_a_stream_could_find_them_again() -> None:
    overlap = timedelta(minutes=10)
    streams = {"deal": ChangeCursor("2026-05-20 09:30:00", {}), "invoices": ChangeCursor("2026-05-20 09:20:00", {})}
    delivered: dict[str, Any] = {"1": "2026-05-20 09:09:59#a", "2": "2026-05-20 09:10:00#b",
                                 "3": "2026-05-19 08:00:00#c"}
    after = FeedCursor().after(streams, (date(2026, 5, 19), None), delivered, overlap)
    assert after.delivered == {"2": "2026-05-20 09:10:00#b"}  # the invoices' window starts at 09:10
    # an overdue sweep stopped inside a day keeps what that day's invoices may still bring back
    midway = FeedCursor().after(streams, (date(2026, 5, 18), 77), delivered, overlap)
    assert midway.delivered == delivered
    assert overdue_floor((date(2026, 5, 18), 77)) == datetime(2026, 5, 19, tzinfo=UTC)
    assert overdue_floor((date(2026, 5, 18), None)) == datetime(2026, 5, 20, tzinfo=UTC)


def test_a_window_read_to_its_end_moves_up_to_the_erps_time() -> None:
    window = ChangeCursor("2026-05-20 08:00:00", {"1": "2026-05-20 07:55:00#a", "2": "2026-05-20 08:00:00#b"})
    moved = window.caught_up(datetime(2026, 5, 20, 9, 0, tzinfo=UTC), timedelta(minutes=10))
    assert moved == ChangeCursor("2026-05-20 09:00:00", {})
    assert moved.lower_bound(timedelta(minutes=10)) == "2026-05-20 08:50:00"
    ahead = ChangeCursor("2026-05-20 10:00:00", {"2": "2026-05-20 10:00:00#b"})
    assert ahead.caught_up(datetime(2026, 5, 20, 9, 0, tzinfo=UTC), timedelta(minutes=10)) == ahead


def test_the_overdue_sweep_asks_for_what_passed_its_due_date_since_the_last_read() -> None:
    assert overdue_domain(TODAY, (date(2026, 5, 17), None))[-2:] == [
        ["invoice_date_due", "<", "2026-05-20"], ["invoice_date_due", ">", "2026-05-17"]]
    assert overdue_domain(TODAY, (date(2026, 5, 17), 9))[-5:] == [
        "|", ["invoice_date_due", ">", "2026-05-17"], "&", ["invoice_date_due", "=", "2026-05-17"], ["id", ">", 9]]

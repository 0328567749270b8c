"""The in-memory system shipped as a fake: its change feed and its transport to other processes."""

from __future__ import annotations

import socket
import threading
from multiprocessing import connection

from sync_core.testing import InMemorySystem, _client, _Listener, connect_systems, serve_systems


def _feed(system: InMemorySystem, limit: int) -> list[list[str]]:
    """Every page of the change feed from the start, as lists of names."""
    pages, cursor, more = [], 0, True
    while more:
        records, cursor, more = system.changes("company", cursor, limit)
        pages.append([str(r.fields["name"]) for r in records])
    return pages


def test_the_change_feed_pages_records_in_change_order() -> None:
    system = InMemorySystem("crm")
    system.put_many("company", [{"name": f"c{n}"} for n in range(5)])
    assert _feed(system, 2) == [["c0", "c1"], ["c2", "c3"], ["c4"]]


def test_a_record_changed_again_moves_to_the_end_of_the_feed_once() -> None:
    system = InMemorySystem("crm")
    first, *_ = system.put_many("company", [{"name": f"c{n}"} for n in range(4)])
    system.put("company", {"name": "c0 again"}, external_id=first)
    assert _feed(system, 3) == [["c1", "c2", "c3"], ["c0 again"]]


def test_a_full_last_page_says_nothing_more_is_left() -> None:
    system = InMemorySystem("crm")
    system.put_many("company", [{"name": f"c{n}"} for n in range(4)])
    records, cursor, more = system.changes("company", 0, 4)
    assert len(records) == 4
    assert not more
    assert system.changes("company", cursor, 4) == ([], cursor, False)


def test_reading_from_a_cursor_returns_only_later_changes() -> None:
    system = InMemorySystem("crm")
    ids = system.put_many("company", [{"name": f"c{n}"} for n in range(3)])
    _, cursor, _ = system.changes("company", 0, 2)
    system.put("company", {"name": "c0 again"}, external_id=ids[0])
    records, _, more = system.changes("company", cursor, 10)
    assert [r.fields["name"] for r in records] == ["c2", "c0 again"]
    assert not more


def _no_delay_is_set(conn: connection.Connection) -> bool:
    sock = socket.socket(fileno=conn.fileno())
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        sock.detach()


def test_connections_to_served_systems_send_without_delay() -> None:
    listener = _Listener(("127.0.0.1", 0), authkey=b"k")
    accepted: list[connection.Connection] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()))
    thread.start()
    try:
        client = _client(listener.address, authkey=b"k")
        thread.join(10)
        assert _no_delay_is_set(client)
        assert _no_delay_is_set(accepted[0])
        client.close()
        accepted[0].close()
    finally:
        listener.close()


def test_a_served_system_answers_large_calls() -> None:
    manager = serve_systems()
    try:
        system = connect_systems(manager.address)("crm")  # type: ignore[arg-type]
        system.put_many("company", [{"name": f"c{n}", "notes": "x" * 100} for n in range(2000)])
        records, _, more = system.changes("company", 0, 1500)
        assert len(records) == 1500
        assert more
    finally:
        manager.shutdown()


def test_a_deleted_record_leaves_the_change_feed_and_the_scan() -> None:
    system = InMemorySystem("sales")
    kept = system.put("contact", {"Email": "a@example.com"})
    gone = system.put("contact", {"Email": "b@example.com"})
    system.delete("contact", gone)
    records, _, _ = system.changes("contact", 0, 10)
    assert [r.external_id for r in records] == [kept]
    scanned, after = system.scan("contact", None, 10)
    assert ([r.external_id for r in scanned], after) == ([kept], None)

"""The SQLite ledger's writers in one process take turns in arrival order, nest, and never wait forever."""

from __future__ import annotations

import threading
import time

from sync_core.persistence.database import WriterQueue


def test_writers_take_turns_in_the_order_they_came() -> None:
    queue = WriterQueue()
    order: list[int] = []
    inside = threading.Event()
    release = threading.Event()

    def first() -> None:
        with queue.turn():
            inside.set()
            release.wait(5)
            order.append(0)

    def later(n: int) -> None:
        with queue.turn():
            order.append(n)

    threads = [threading.Thread(target=first)]
    threads[0].start()
    assert inside.wait(5)
    for n in range(1, 6):
        thread = threading.Thread(target=later, args=(n,))
        thread.start()
        threads.append(thread)
        time.sleep(0.02)  # each one queued before the next comes
    release.set()
    for thread in threads:
        thread.join(5)
    assert order == [0, 1, 2, 3, 4, 5]


def test_one_writer_at_a_time() -> None:
    queue = WriterQueue()
    held, most = 0, 0
    lock = threading.Lock()

    def write() -> None:
        nonlocal held, most
        for _ in range(50):
            with queue.turn():
                with lock:
                    held += 1
                    most = max(most, held)
                time.sleep(0.0005)
                with lock:
                    held -= 1

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert most == 1


def test_a_nested_turn_goes_ahead_and_a_long_wait_gives_up_to_sqlites_own_lock() -> None:
    queue = WriterQueue()
    waited: list[float] = []

    def other() -> None:
        started = time.monotonic()
        with queue.turn(timeout=0.05):
            waited.append(time.monotonic() - started)

    with queue.turn(), queue.turn():  # the same thread: no waiting for itself
        thread = threading.Thread(target=other)
        thread.start()
        thread.join(5)
        assert len(waited) == 1  # it went ahead while the turn was still held
        assert waited[0] >= 0.05
    with queue.turn(timeout=0.05):  # the queue is free again afterwards
        waited.append(0.0)
    assert len(waited) == 2

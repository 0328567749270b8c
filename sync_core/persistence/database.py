"""The ledger's engine: one writer at a time on SQLite (WAL, BEGIN IMMEDIATE), pooled on PostgreSQL."""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session

from sync_core.persistence.types import UTCDateTime


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# JSON columns (shadows, payloads) are on the sync loop's hot path: orjson keeps them cheap.
_JSON = {"json_serializer": _dumps, "json_deserializer": orjson.loads}


BUSY_SECONDS = 60.0  # how long a writer waits for SQLite's write lock before giving up


class WriterQueue:
    """The threads of one process waiting to write to one SQLite ledger, served in arrival order.

    SQLite lets one writer in at a time and makes the others poll: a waiting connection sleeps
    1, 2, 5, ... up to 100 ms between tries, so under a steady stream of short transactions a
    waiter can keep missing the moments the lock is free (seconds, for a lock held a few
    milliseconds at a time). Queueing the process's own writers hands the lock straight to the
    next in line instead. Writers in other processes still meet at SQLite's lock, as before.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._owner: int | None = None

    @contextmanager
    def turn(self, timeout: float = BUSY_SECONDS) -> Iterator[None]:
        """Hold the process's write turn for the block; a thread already holding it (a nested
        transaction) or one that waited `timeout` goes ahead and meets SQLite's own lock."""
        me = threading.get_ident()
        with self._guard:
            if self._owner == me:
                taken = False
            elif self._owner is None and not self._waiting:
                self._owner, taken = me, True
            else:
                ticket = threading.Event()
                self._waiting.append(ticket)
                taken = None
        if taken is None:
            handed = ticket.wait(timeout)
            with self._guard:
                if handed or ticket.is_set():
                    self._owner, taken = me, True
                else:
                    self._waiting.remove(ticket)
                    taken = False
        try:
            yield
        finally:
            if taken:
                self._pass_on()

    def _pass_on(self) -> None:
        with self._guard:
            self._owner = None
            if self._waiting:
                self._waiting.popleft().set()  # the next writer's turn: it sets itself as the owner
                self._owner = -1  # reserved for it until it wakes


_WRITERS: weakref.WeakKeyDictionary[Engine, WriterQueue] = weakref.WeakKeyDictionary()


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for the ledger at `url`, configured for concurrent workers."""
    if url.startswith("sqlite"):
        # Last in, first out: a thread taking connections one after another gets the one it just gave back,
        # whose page cache is warm, rather than cycling through the pool and warming every connection's.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_SECONDS},
                               pool_use_lifo=True, **_JSON)
        _WRITERS[engine] = WriterQueue()

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, decide when transactions start.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")
            # A bigger page cache than SQLite's 2 MB and rarer checkpoints: the loop commits large transactions
            # often. The cache is per connection and stays allocated once filled, so it is 16 MB, not more: at
            # 64 MB the pooled connections held some 165 MB of a reconciliation pass's 320 MB (a ledger of a
            # few hundred MB fills any cache), and pages that drop out are in the OS's file cache anyway.
            cursor.execute("PRAGMA cache_size=-16384")
            cursor.execute("PRAGMA wal_autocheckpoint=8192")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            # One writer at a time: take the write lock when the transaction starts, so two
            # workers never both read a lane as free and then both try to claim it. Reads
            # (the console's pages) begin deferred and never wait for the writer.
            readonly = connection.get_execution_options().get("revline_readonly", False)
            connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, **_JSON)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work commits on leaving the block and rolls back on an exception.

    On SQLite the process's writers take turns in arrival order (WriterQueue) around the whole
    transaction, commit included.
    """
    writers = _WRITERS.get(engine)
    with (
        writers.turn() if writers is not None else nullcontext(),
        Session(engine, expire_on_commit=False) as session,
        session.begin(),
    ):
        yield session


@contextmanager
def snapshot(engine: Engine) -> Iterator[Session]:
    """A session for reading only: on SQLite it neither takes nor waits for the write lock."""
    readonly = engine.execution_options(revline_readonly=True)
    with Session(readonly, expire_on_commit=False) as session, session.begin():
        yield session


def db_now(session: Session) -> datetime:
    """The database's clock, the one leases are measured on."""
    if session.get_bind().dialect.name == "sqlite":
        raw: str = session.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    value: datetime = session.execute(text("SELECT now()")).scalar_one()
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


__all__ = ["UTCDateTime", "db_now", "make_engine", "snapshot", "transaction"]

"""The tables and their transactions: one lock, an undo log, write_date = the transaction's start."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from connectors.erp.sandbox.schema import MODELS

Row = dict[str, Any]


def _copy(row: Row) -> Row:
    return {k: list(v) if isinstance(v, list) else v for k, v in row.items()}


class Store:
    """Every record of every model, as Python values (many2one: an id, many2many: a list of ids).

    Ids and name sequences are never handed out twice, rolled back or not (as PostgreSQL
    sequences behave).
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tables: dict[str, dict[int, Row]] = {name: {} for name in MODELS}
        self._ids: dict[str, int] = {}
        self._numbers: dict[str, int] = {}

    def clear(self) -> None:
        with self.lock:
            for table in self.tables.values():
                table.clear()
            self._ids.clear()
            self._numbers.clear()

    def next_id(self, model: str) -> int:
        self._ids[model] = self._ids.get(model, 0) + 1
        return self._ids[model]

    def last_id(self, model: str) -> int:
        """The highest id ever handed out for `model` (ids count up from 1, with gaps where rows went)."""
        return self._ids.get(model, 0)

    def next_number(self, key: str) -> int:
        self._numbers[key] = self._numbers.get(key, 0) + 1
        return self._numbers[key]

    @contextmanager
    def transaction(self, started: datetime, uid: int) -> Iterator[Transaction]:
        """One call's transaction by user `uid`, stamped `started` (UTC, whole seconds, as Odoo stores it).

        Calls are serialised on the store's lock; an exception undoes every change the call made.
        """
        with self.lock:
            tx = Transaction(self, started, uid)
            try:
                yield tx
            except BaseException:
                tx.rollback()
                raise


class Transaction:
    def __init__(self, store: Store, started: datetime, uid: int) -> None:
        self.store = store
        self.uid = uid
        self.now = started.astimezone(UTC).replace(microsecond=0)
        self._undo: list[Callable[[], None]] = []

    def table(self, model: str) -> dict[int, Row]:
        return self.store.tables[model]

    def get(self, model: str, record_id: int) -> Row | None:
        return self.store.tables[model].get(record_id)

    def rows(self, model: str) -> list[Row]:
        return list(self.store.tables[model].values())

    def insert(self, model: str, values: Row) -> int:
        table = self.store.tables[model]
        record_id = self.store.next_id(model)
        table[record_id] = {**values, "id": record_id, "create_date": self.now, "create_uid": self.uid,
                            "write_date": self.now, "write_uid": self.uid}
        self._undo.append(lambda: table.__delitem__(record_id))
        return record_id

    def update(self, model: str, record_id: int, values: Row, touch: bool = True) -> None:
        """Change stored values; `touch` stamps write_date even if nothing changed (as write() does)."""
        table = self.store.tables[model]
        before = _copy(table[record_id])
        changed = {k: v for k, v in values.items() if before.get(k) != v}
        if not changed and not touch:
            return
        table[record_id] = {**before, **changed, "write_date": self.now, "write_uid": self.uid}
        self._undo.append(lambda: table.__setitem__(record_id, before))

    def delete(self, model: str, record_id: int) -> None:
        table = self.store.tables[model]
        before = table.pop(record_id)
        self._undo.append(lambda: table.__setitem__(record_id, before))

    def rollback(self) -> None:
        while self._undo:
            self._undo.pop()()

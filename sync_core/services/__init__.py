"""Use cases the console and the scheduler call; nothing else touches the ledger's tables."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from sync_core.persistence.database import make_engine
from sync_core.settings import Settings

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def ledger_engine(url: str | None = None) -> Engine:
    """The process-wide engine for the ledger at `url` (default: REVLINE_DATABASE_URL)."""
    url = url or Settings().database_url
    with _lock:
        if url not in _engines:
            _engines[url] = make_engine(url)
        return _engines[url]


def dispose_engines() -> None:
    """Close every pooled connection (tests dropping databases, processes shutting down)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()

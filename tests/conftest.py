"""Fixtures shared by every suite: ledgers on SQLite and on the machine's PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from sync_core.persistence.migrate import upgrade
from sync_core.services import dispose_engines

PG_ADMIN = os.environ.get("REVLINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    name = f"revline_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        dispose_engines()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty ledger on SQLite and on PostgreSQL."""
    sqlite = f"sqlite:///{tmp_path / 'ledger.db'}"
    url = sqlite if request.param == "sqlite" else str(request.getfixturevalue("pg_database"))
    upgrade(url)
    return url

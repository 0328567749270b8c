"""Configured connections: kind and settings in the ledger, secrets encrypted at rest, changes audited."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from sync_core.persistence.database import snapshot, transaction
from sync_core.persistence.tables import AuditLog, Connection
from sync_core.secrets import decrypt, encrypt


def save(
    engine: Engine,
    name: str,
    kind: str,
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    key: str,
    actor: str,
) -> None:
    """Create or replace connection `name`; `secrets` are stored encrypted under `key`."""
    now = datetime.now(UTC)
    token = encrypt(key, json.dumps(dict(secrets))) if secrets else None
    with transaction(engine) as session:
        row = session.get(Connection, name)
        if row is None:
            row = Connection(name=name, kind=kind, created_at=now, updated_at=now)
            session.add(row)
        row.kind, row.settings, row.secrets, row.updated_at = kind, dict(settings), token, now
        session.add(
            AuditLog(
                at=now, actor=actor, action="connection.saved", subject=name,
                # the names of the secrets, never their values
                details={"kind": kind, "settings": dict(settings), "secrets": sorted(secrets)},
            )
        )


def load(engine: Engine, key: str | None) -> dict[str, dict[str, Any]]:
    """name -> {"kind": ..., settings..., secrets...}, ready for `connectors.build`."""
    with snapshot(engine) as session:
        rows = session.scalars(select(Connection)).all()
    loaded: dict[str, dict[str, Any]] = {}
    for row in rows:
        secrets: dict[str, Any] = {}
        if row.secrets:
            if key is None:
                raise ValueError(f"connection {row.name!r} has encrypted secrets: set REVLINE_SECRET_KEY")
            secrets = json.loads(decrypt(key, row.secrets))
        loaded[row.name] = {"kind": row.kind, **row.settings, **secrets}
    return loaded

"""Configured connections: kind and settings in the ledger, secrets encrypted at rest, changes audited.

Secrets are write-only: nothing here hands a stored secret to the console, only the names of those
set. Testing a connection runs its connector's `check`; the connector is built by a factory the
caller passes in (the engine does not know the connectors).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, case, func, literal_column, select
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core.domain.connections import CheckResult, check_result, edited_settings, merged_secrets, settings_diff
from sync_core.persistence.database import snapshot, transaction
from sync_core.persistence.tables import ApiUsage, AuditLog, Connection, Lane, SyncRun
from sync_core.ports import Connector
from sync_core.secrets import decrypt, encrypt, existing_key
from sync_core.settings import Settings

ConnectorFactory = Callable[[str, Mapping[str, Any]], Connector]


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


def secret_key() -> str | None:
    """The key this process decrypts stored secrets with (REVLINE_SECRET_KEY, or the demo's key file)."""
    settings = Settings()
    return existing_key(settings.secret_key, settings.secret_file)


def _secrets(row: Connection, key: str | None) -> dict[str, str]:
    if not row.secrets:
        return {}
    if key is None:
        raise ValueError(f"Connection {row.name!r} has encrypted secrets: set REVLINE_SECRET_KEY to read them.")
    secrets: dict[str, str] = json.loads(decrypt(key, row.secrets))
    return secrets


@dataclass(frozen=True)
class Usage:
    """The API figures the connection's system last reported, and Revline's call count."""

    calls: int
    window_limit: int | None
    window_remaining: int | None
    window_seconds: float | None
    daily_limit: int | None
    daily_remaining: int | None
    updated_at: datetime


@dataclass(frozen=True)
class ConnectionStatus:
    """One connection as the Connections page shows it: never a secret's value, only which are set."""

    name: str
    kind: str
    settings: dict[str, Any]
    secret_names: tuple[str, ...]  # the secrets stored (empty when none, or when they cannot be read)
    secrets_unreadable: bool  # secrets are stored but this process has no key to read their names
    updated_at: datetime
    checked_at: datetime | None
    checked_by: str | None
    check_ok: bool | None
    check_message: str | None
    lanes: int
    lanes_failing: int
    last_run_at: datetime | None
    last_success_at: datetime | None
    usage: Usage | None


def _ok_run() -> Any:
    # Inlined, so SQLite's planner can use the partial index on successful runs (ix_run_system_ok).
    return literal_column("sync_run.status") == literal_column("'ok'")


def _status(session: Session, row: Connection, key: str | None) -> ConnectionStatus:
    try:
        names, unreadable = tuple(sorted(_secrets(row, key))), False
    except ValueError:
        names, unreadable = (), True
    lanes = session.execute(
        select(
            func.count(), func.coalesce(func.sum(case((col(Lane.last_status) == "failed", 1), else_=0)), 0),
            func.max(col(Lane.last_run_at)),
        ).where(col(Lane.system) == row.name)
    ).one()
    last_success = session.scalar(
        select(func.max(col(SyncRun.finished_at))).where(col(SyncRun.system) == row.name, _ok_run())
    )
    usage = session.get(ApiUsage, row.name)
    return ConnectionStatus(
        name=row.name, kind=row.kind, settings=dict(row.settings), secret_names=names, secrets_unreadable=unreadable,
        updated_at=row.updated_at, checked_at=row.checked_at, checked_by=row.checked_by, check_ok=row.check_ok,
        check_message=row.check_message, lanes=int(lanes[0]), lanes_failing=int(lanes[1]), last_run_at=lanes[2],
        last_success_at=last_success,
        usage=Usage(usage.calls, usage.window_limit, usage.window_remaining, usage.window_seconds, usage.daily_limit,
                    usage.daily_remaining, usage.updated_at) if usage else None,
    )  # fmt: skip


def list_connections(engine: Engine, key: str | None) -> list[ConnectionStatus]:
    """Every connection by name with its health: last test, lanes, last successful run, API usage."""
    with snapshot(engine) as session:
        rows = session.scalars(select(Connection).order_by(col(Connection.name))).all()
        return [_status(session, row, key) for row in rows]


@dataclass(frozen=True)
class Edit:
    """What a save changed: setting names (with before and after in the audit log) and secret names."""

    settings: tuple[str, ...]
    secrets: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.settings or self.secrets)


def edit(
    engine: Engine, name: str, settings: Mapping[str, str], secrets: Mapping[str, str], key: str | None, actor: str
) -> Edit:
    """Apply a person's form to connection `name`: typed settings (blank removes one), secrets (blank keeps
    the stored one). Audited with the settings before and after and the names of the secrets changed."""
    now = datetime.now(UTC)
    with transaction(engine) as session:
        row = session.scalars(select(Connection).where(col(Connection.name) == name).with_for_update()).first()
        if row is None:
            raise ValueError(f"There is no connection {name!r}.")
        after = edited_settings(row.settings, settings)
        diff = settings_diff(row.settings, after)
        typed = {field: value for field, value in secrets.items() if value}
        if typed and key is None:
            raise ValueError("Revline has no secret key to store secrets with: set REVLINE_SECRET_KEY.")
        stored = _secrets(row, key) if typed else {}
        merged, changed = merged_secrets(stored, typed)
        if not diff and not changed:
            return Edit((), ())
        row.settings, row.updated_at = after, now
        if changed:
            assert key is not None
            row.secrets = encrypt(key, json.dumps(merged))
        session.add(
            AuditLog(
                at=now, actor=actor, action="connection.saved", subject=name,
                # the names of the secrets changed, never their values
                details={"kind": row.kind, "settings": diff, "secrets": changed},
            )
        )  # fmt: skip
    return Edit(tuple(diff), tuple(changed))


def test(engine: Engine, name: str, key: str | None, build: ConnectorFactory, actor: str) -> CheckResult:
    """Build connection `name`'s connector and run its `check`; the result is kept on the connection (the
    page's health) and audited."""
    with snapshot(engine) as session:
        row = session.get(Connection, name)
        if row is None:
            raise ValueError(f"There is no connection {name!r}.")
        kind, settings = row.kind, dict(row.settings)
    started = time.monotonic()
    try:
        config = {"kind": kind, **settings, **_secrets(row, key)}
        build(name, config).check()
        result = check_result(None, time.monotonic() - started)
    except Exception as exc:  # whatever the connector raised is the test's answer
        result = check_result(exc, time.monotonic() - started)
    now = datetime.now(UTC)
    with transaction(engine) as session:
        found = session.get(Connection, name)
        if found is not None:
            found.checked_at, found.checked_by = now, actor
            found.check_ok, found.check_message = result.ok, result.message
        session.add(
            AuditLog(at=now, actor=actor, action="connection.tested", subject=name,
                     details={"ok": result.ok, "message": result.message})
        )  # fmt: skip
    return result

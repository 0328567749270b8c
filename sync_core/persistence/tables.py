"""The ledger's tables. Every datetime is timezone-aware UTC; JSON columns hold plain dicts.

identity     EntityLink
shadow       Shadow
intake       InboxEvent
lanes        Lane, Tick, ScheduleSetting
outbox       OutboundOp (dead letters are rows in status `dead`), RepairAction
runs/traces  SyncRun, TraceSpan
policy       OwnershipRule, FieldMapping (versioned)
reconcile    Finding, ReconcileRun, ReconcileSeen
access       UserAccount, UserSession, AuditLog (append-only)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, Text, UniqueConstraint, literal_column, text
from sqlmodel import Field, SQLModel

from sync_core.persistence.types import UTCDateTime

# Big integer ids on PostgreSQL, plain INTEGER PRIMARY KEY (rowid) on SQLite.
_ID = BigInteger().with_variant(Integer(), "sqlite")


def _id() -> Any:
    return Field(default=None, sa_column=Column(_ID, primary_key=True, autoincrement=True))


def _time(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class EntityLink(SQLModel, table=True):
    """One system's record id for one canonical record; unique on both sides."""

    __tablename__ = "entity_link"
    __table_args__ = (
        UniqueConstraint("object_type", "system", "external_id", name="uq_link_external"),
        UniqueConstraint("canonical_id", "system", name="uq_link_canonical"),
        Index("ix_link_type_created", "object_type", "created_at"),  # contacts linked in a period
        Index("ix_link_external_id", "external_id"),  # the trace search by any system's record id
    )
    id: int | None = _id()
    canonical_id: str = Field(max_length=36, index=True)
    object_type: str = Field(max_length=40)
    system: str = Field(max_length=40)
    external_id: str = Field(max_length=255)
    created_at: datetime = _time()


class PendingReference(SQLModel, table=True):
    """A record that points at another Revline has not linked yet: read it again once that one is linked."""

    __tablename__ = "pending_reference"
    __table_args__ = (
        UniqueConstraint("system", "target_type", "target_id", "object_type", "external_id", name="uq_pending_ref"),
        Index("ix_pending_ref_target", "system", "target_type", "target_id"),
    )
    id: int | None = _id()
    system: str = Field(max_length=40)
    target_type: str = Field(max_length=40)  # the object type pointed at
    target_id: str = Field(max_length=255)  # its id in `system`
    object_type: str = Field(max_length=40)  # the record pointing at it
    external_id: str = Field(max_length=255)
    created_at: datetime = _time()


class MatchKey(SQLModel, table=True):
    """A matching key (a contact's email, a company's domain) -> the canonical record that has it.

    Records that arrive from a second system with a key Revline already knows are linked to
    that record instead of becoming a new one, so connecting two populated systems creates
    no duplicates. The first system to show a key claims it.
    """

    __tablename__ = "match_key"
    object_type: str = Field(max_length=40, primary_key=True)
    key: str = Field(max_length=255, primary_key=True)
    canonical_id: str = Field(max_length=36)
    created_at: datetime = _time()


class Shadow(SQLModel, table=True):
    """The last values seen in and written to one system for one record."""

    __tablename__ = "shadow"
    __table_args__ = (Index("ix_shadow_object_canonical", "object_type", "canonical_id"),)
    canonical_id: str = Field(max_length=36, primary_key=True)
    system: str = Field(max_length=40, primary_key=True)
    object_type: str = Field(max_length=40)
    seen: dict[str, Any] = _json()  # canonical values last read from the system
    field_times: dict[str, Any] = _json()  # canonical field -> ISO time of its last real change
    written: dict[str, Any] = _json()  # canonical values Revline last wrote to the system
    source_version: str | None = Field(default=None, max_length=64)
    updated_at: datetime = _time()


class InboxEvent(SQLModel, table=True):
    """A change notice (webhook or poll) waiting to be read; unique on its dedupe key."""

    __tablename__ = "inbox_event"
    id: int | None = _id()
    dedupe_key: str = Field(max_length=255, unique=True)
    system: str = Field(max_length=40)
    object_type: str = Field(max_length=40)
    external_id: str = Field(max_length=255)
    payload: dict[str, Any] = _json()
    received_at: datetime = _time()
    processed_at: datetime | None = _time(nullable=True, index=True)


class Lane(SQLModel, table=True):
    """One connection x object x direction, run by one worker at a time under a lease."""

    __tablename__ = "lane"
    __table_args__ = (UniqueConstraint("system", "object_type", "direction", name="uq_lane"),)
    id: int | None = _id()
    system: str = Field(max_length=40)
    object_type: str = Field(max_length=40)
    direction: str = Field(max_length=16)  # inbound | outbound | reconcile
    # Opaque to the engine and as long as a connector needs (an overlap window's ids, several streams).
    cursor: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    paused: bool = False
    due_at: datetime | None = _time(nullable=True, index=True)
    # Not claimable before this time: the connection's API quota is spent (shared by all workers).
    held_until: datetime | None = _time(nullable=True)
    lease_owner: str | None = Field(default=None, max_length=80)
    lease_expires_at: datetime | None = _time(nullable=True)
    version: int = 0  # fencing token: bumped at every claim
    last_run_at: datetime | None = _time(nullable=True)
    last_status: str | None = Field(default=None, max_length=16)
    last_error: str | None = None


class OutboundOp(SQLModel, table=True):
    """A write Revline intends; dead letters are rows in status `dead`."""

    __tablename__ = "outbound_op"
    __table_args__ = (
        # The executor walks a lane's pending ops in id order: this index serves it without a
        # sort, and holds pending ops only, so done ops (nearly all of them) cost it nothing.
        Index(
            "ix_op_lane_pending", "target_system", "object_type", "id",
            sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_op_status", "status"),
        Index(
            "ix_op_dead_category", "error_category", "id",
            sqlite_where=text("status = 'dead'"), postgresql_where=text("status = 'dead'"),
        ),
        # The repair queue groups dead letters by root cause (count, money, oldest) and pages one
        # group in id order: this partial index covers both, and holds dead ops only.
        Index(
            "ix_op_dead_root_cause", "root_cause", "id", "updated_at", "money_at_stake",
            sqlite_where=text("status = 'dead'"), postgresql_where=text("status = 'dead'"),
        ),
        # Dead ops not filed under a root cause yet (a writer that predates it): empty but for those.
        Index(
            "ix_op_dead_unfiled", "id",
            sqlite_where=text("status = 'dead' AND root_cause IS NULL"),
            postgresql_where=text("status = 'dead' AND root_cause IS NULL"),
        ),
        # Dead letters newest first at any page, counted and skipped in the index alone.
        Index("ix_op_dead", "id", sqlite_where=text("status = 'dead'"), postgresql_where=text("status = 'dead'")),
        # Held orders and what they hold (the money in repair), read from the index alone.
        Index(
            "ix_op_dead_operation", "operation", "canonical_id", "error_category",
            sqlite_where=text("status = 'dead'"), postgresql_where=text("status = 'dead'"),
        ),
    )
    id: int | None = _id()
    idempotency_key: str = Field(max_length=64, unique=True)
    target_system: str = Field(max_length=40)
    object_type: str = Field(max_length=40)
    canonical_id: str = Field(max_length=36, index=True)
    operation: str = Field(default="upsert", max_length=16)
    source_system: str = Field(max_length=40)
    source_id: str = Field(max_length=255)
    source_version: str = Field(max_length=64)
    payload: dict[str, Any] = _json()  # canonical field -> value
    # pending | in_flight | done | dead | superseded (replaced by a newer plan) | discarded (by a person)
    status: str = Field(default="pending", max_length=12)
    attempts: int = 0
    next_attempt_at: datetime = _time()
    error_category: str | None = Field(default=None, max_length=24)
    error_message: str | None = None
    # Set when the op goes dead (domain/root_cause.py): what the repair queue groups it by, and the
    # money it holds up (order lines' total or deal amount).
    root_cause: str | None = Field(default=None, max_length=160)
    money_at_stake: float | None = None
    result: dict[str, Any] = _json()
    correlation_id: str = Field(max_length=36)
    created_at: datetime = _time()
    updated_at: datetime = _time()


def op_status_is(status: str) -> Any:
    """`outbound_op.status = '<status>'` with the status inlined, so partial indexes apply.

    A bound parameter would hide the value from SQLite's planner, which then cannot use the
    partial indexes on pending and dead ops.
    """
    assert status.isidentifier()  # only our own status words are ever inlined
    return literal_column("outbound_op.status") == literal_column(f"'{status}'")


class RepairAction(SQLModel, table=True):
    """One human action on a dead letter: who, when, what and why."""

    __tablename__ = "repair_action"
    id: int | None = _id()
    op_id: int = Field(index=True)
    action: str = Field(max_length=16)  # retry|approve|reject|edit|remap|relink|discard
    actor: str = Field(max_length=120)
    reason: str | None = None
    details: dict[str, Any] = _json()
    at: datetime = _time()


class Tick(SQLModel, table=True):
    """One firing of a schedule; the unique key makes N workers fire it once. A "run now" is a firing
    at the moment it was asked for, by the person who asked."""

    __tablename__ = "tick"
    __table_args__ = (
        UniqueConstraint("schedule", "fire_at", name="uq_tick"),
        # A schedule's latest failure, for the Schedules page, without walking its every firing.
        Index(
            "ix_tick_failed", "schedule", "fire_at",
            sqlite_where=text("outcome = 'failed'"), postgresql_where=text("outcome = 'failed'"),
        ),
    )
    id: int | None = _id()
    schedule: str = Field(max_length=120)
    fire_at: datetime = _time()
    worker_id: str = Field(max_length=80)
    created_at: datetime = _time()
    outcome: str = Field(default="ok", max_length=12)  # ok | failed
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    requested_by: str | None = Field(default=None, max_length=120)  # who asked for this run now (None: the clock)


class ScheduleSetting(SQLModel, table=True):
    """How often a schedule fires and whether it is paused, as the workers' tickers follow it; a pending
    "run now" until one ticker has fired it."""

    __tablename__ = "schedule"
    name: str = Field(max_length=120, primary_key=True)
    seconds: float
    paused: bool = False
    run_requested_at: datetime | None = _time(nullable=True)
    run_requested_by: str | None = Field(default=None, max_length=120)
    updated_at: datetime = _time()
    updated_by: str = Field(max_length=120)


class SyncRun(SQLModel, table=True):
    """One lane run by one worker, with its counts."""

    __tablename__ = "sync_run"
    __table_args__ = (
        Index("ix_run_lane_recent", "lane_id", "id"),
        # A connection's last successful run, for the Connections page.
        Index(
            "ix_run_system_ok", "system", "finished_at",
            sqlite_where=text("status = 'ok'"), postgresql_where=text("status = 'ok'"),
        ),
    )
    id: int | None = _id()
    lane_id: int = Field(index=True)
    system: str = Field(max_length=40)
    object_type: str = Field(max_length=40)
    direction: str = Field(max_length=16)
    worker_id: str = Field(max_length=80)
    started_at: datetime = _time(index=True)
    finished_at: datetime | None = _time(nullable=True)
    status: str = Field(default="running", max_length=16)  # running|ok|failed|fenced
    records_read: int = 0
    ops_planned: int = 0
    ops_done: int = 0
    ops_retried: int = 0
    ops_dead: int = 0
    api_calls: int = 0
    error: str | None = None


class TraceSpan(SQLModel, table=True):
    """One step of one record's path, grouped by correlation id."""

    __tablename__ = "trace_span"
    __table_args__ = (Index("ix_span_name_started", "name", "started_at"),)  # milestones reached in a period
    id: int | None = _id()
    correlation_id: str = Field(max_length=36, index=True)
    name: str = Field(max_length=60)
    system: str | None = Field(default=None, max_length=40)
    started_at: datetime = _time()
    ended_at: datetime = _time()
    status: str = Field(default="ok", max_length=12)
    attributes: dict[str, Any] = _json()


class Correlation(SQLModel, table=True):
    """Which deal's story a record belongs to: the contact that qualified, its lead, account,
    opportunity and order share one correlation id (the first record's canonical id)."""

    __tablename__ = "correlation"
    canonical_id: str = Field(max_length=36, primary_key=True)
    correlation_id: str = Field(max_length=36, index=True)
    object_type: str = Field(max_length=40)
    created_at: datetime = _time()


class TraceKey(SQLModel, table=True):
    """A value a person may search a deal's story by (email, company, record ids, order and invoice
    numbers), lower-cased."""

    __tablename__ = "trace_key"
    __table_args__ = (
        UniqueConstraint("key", "correlation_id", name="uq_trace_key"),  # also serves `key = ...`
        # `key LIKE 'abc%'`: PostgreSQL uses an index for it only in byte order, whatever the collation.
        Index("ix_trace_key_prefix", "key", postgresql_ops={"key": "varchar_pattern_ops"}),
    )
    id: int | None = _id()
    key: str = Field(max_length=255)
    correlation_id: str = Field(max_length=36, index=True)
    kind: str = Field(max_length=24)


class Hop(SQLModel, table=True):
    """One measured step of a deal's story (qualified -> lead created, won -> order confirmed, ...)."""

    __tablename__ = "hop"
    __table_args__ = (
        UniqueConstraint("correlation_id", "hop", name="uq_hop"),
        Index("ix_hop_ended", "hop", "ended_at", "seconds"),  # a period's hop times from the index alone
    )
    id: int | None = _id()
    correlation_id: str = Field(max_length=36)
    hop: str = Field(max_length=40)
    started_at: datetime = _time()
    ended_at: datetime = _time()
    seconds: float


class FlowSetting(SQLModel, table=True):
    """One flow's settings as an admin saved them, and the small state it keeps (a round robin's turn)."""

    __tablename__ = "flow_setting"
    name: str = Field(max_length=40, primary_key=True)
    settings: dict[str, Any] = _json()
    state: dict[str, Any] = _json()
    updated_at: datetime = _time()
    updated_by: str = Field(max_length=120)


class OwnershipRule(SQLModel, table=True):
    """The rule for one canonical field in one policy version."""

    __tablename__ = "ownership_rule"
    __table_args__ = (UniqueConstraint("version", "object_type", "field", name="uq_rule"),)
    id: int | None = _id()
    version: int = Field(index=True)
    object_type: str = Field(max_length=40)
    field: str = Field(max_length=80)
    rule: str = Field(max_length=24)
    owner: str | None = Field(default=None, max_length=40)
    created_at: datetime = _time()
    created_by: str = Field(max_length=120)


class FieldMapping(SQLModel, table=True):
    """Canonical field <-> one system's field, with its value map, in one mapping version."""

    __tablename__ = "field_mapping"
    __table_args__ = (UniqueConstraint("version", "system", "object_type", "canonical", name="uq_mapping"),)
    id: int | None = _id()
    version: int = Field(index=True)
    system: str = Field(max_length=40)
    object_type: str = Field(max_length=40)
    canonical: str = Field(max_length=80)
    vendor: str = Field(max_length=120)
    value_map: dict[str, Any] = _json()
    creates: bool = True  # the object mapping's `creates`, repeated on each of its fields
    created_at: datetime = _time()
    created_by: str = Field(max_length=120)


class Connection(SQLModel, table=True):
    """A configured system: its connector kind, plain settings and encrypted secrets."""

    __tablename__ = "connection"
    name: str = Field(max_length=40, primary_key=True)
    kind: str = Field(max_length=40)
    settings: dict[str, Any] = _json()  # URLs, batch sizes, CA bundle path: nothing secret
    secrets: str | None = None  # Fernet token of a JSON object (tokens, client secrets)
    created_at: datetime = _time()
    updated_at: datetime = _time()
    # The last test of the connection (its connector's `check`): when, by whom, and what it said.
    checked_at: datetime | None = _time(nullable=True)
    checked_by: str | None = Field(default=None, max_length=120)
    check_ok: bool | None = None
    check_message: str | None = None


class ApiUsage(SQLModel, table=True):
    """The last API quota figures a system reported, per connection (rate-limit headers)."""

    __tablename__ = "api_usage"
    system: str = Field(max_length=40, primary_key=True)
    calls: int = 0  # calls Revline made since the worker started, summed over workers
    window_limit: int | None = None
    window_remaining: int | None = None
    window_seconds: float | None = None
    daily_limit: int | None = None
    daily_remaining: int | None = None
    updated_at: datetime = _time()


class UserAccount(SQLModel, table=True):
    """A person who signs in to the console, with their role and a scrypt hash of their password."""

    __tablename__ = "user_account"
    name: str = Field(max_length=120, primary_key=True)
    role: str = Field(max_length=16)
    password_hash: str = Field(max_length=255)
    created_at: datetime = _time()
    created_by: str = Field(max_length=120)
    disabled_at: datetime | None = _time(nullable=True)


class UserSession(SQLModel, table=True):
    """One sign-in: the SHA-256 of its token (the token itself lives only in the browser), until when."""

    __tablename__ = "user_session"
    token_hash: str = Field(max_length=64, primary_key=True)
    user_name: str = Field(max_length=120, index=True)
    created_at: datetime = _time()
    expires_at: datetime = _time()
    ended_at: datetime | None = _time(nullable=True)


class AuditLog(SQLModel, table=True):
    """Append-only record of every change a person or the system made to policy or data."""

    __tablename__ = "audit_log"
    # Append-only in the database too: triggers (migration 0015) refuse UPDATE and DELETE.
    __table_args__ = (
        Index("ix_audit_log_actor", "actor", "id"),
        Index("ix_audit_log_action", "action", "id"),
        Index("ix_audit_log_action_subject", "action", "subject"),
    )
    id: int | None = _id()
    at: datetime = _time(index=True)
    actor: str = Field(max_length=120)
    action: str = Field(max_length=60)
    subject: str = Field(max_length=255)
    details: dict[str, Any] = _json()


class Finding(SQLModel, table=True):
    """A mismatch reconciliation found between what the systems hold and what they should.

    One row per mismatch (`key`: kind, record and, for drift, system and field), however often
    passes see it. `status`: open until it is gone (`healed` when Revline's own heal fixed it,
    `resolved` when a person's action or anything else did) or a person ignores it (`ignored`).
    """

    __tablename__ = "finding"
    __table_args__ = (
        Index("ix_finding_status_kind", "status", "kind"),
        Index("ix_finding_canonical", "canonical_id"),
    )

    id: int | None = _id()
    key: str = Field(max_length=255, unique=True)
    kind: str = Field(max_length=24)
    object_type: str = Field(max_length=40)
    canonical_id: str = Field(max_length=36)
    field: str | None = Field(default=None, max_length=80)
    systems: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    records: dict[str, Any] = _json()  # system -> its record id(s)
    values: dict[str, Any] = _json()  # system -> the value it holds ("expected": what it should hold)
    summary: str = ""
    money: float = 0.0  # deal amount or open invoice amount at stake
    currency: str | None = Field(default=None, max_length=3)
    status: str = Field(default="open", max_length=12)
    first_seen_at: datetime = _time()
    last_seen_at: datetime = _time()
    closed_at: datetime | None = _time(nullable=True)
    run_id: int | None = None  # the pass that saw it last
    heal_op_id: int | None = None  # the outbox row of the latest heal
    healed_by: str | None = Field(default=None, max_length=120)  # "reconciliation" or the person who asked
    reason: str | None = None  # why a person ignored or resolved it
    correlation_id: str | None = Field(default=None, max_length=36)


class ReconcileRun(SQLModel, table=True):
    """One reconciliation pass over every reconcile lane: full (every record) or incremental (changed ones)."""

    __tablename__ = "reconcile_run"

    id: int | None = _id()
    mode: str = Field(max_length=12)  # full | incremental
    status: str = Field(default="running", max_length=12)  # running | done | superseded
    started_at: datetime = _time(index=True)
    finished_at: datetime | None = _time(nullable=True)
    started_by: str = Field(max_length=120)
    lanes_total: int = 0
    lanes_done: int = 0
    records_read: int = 0
    findings_opened: int = 0
    findings_closed: int = 0
    heals: int = 0
    api_calls: int = 0
    open_findings: int | None = None  # open when the pass finished: mismatch counts over time


class ReconcileSeen(SQLModel, table=True):
    """The records a full pass has read, so the links it did not see can be checked for orphans, and
    records sharing a matching key found."""

    __tablename__ = "reconcile_seen"
    __table_args__ = (Index("ix_reconcile_seen_key", "run_id", "system", "object_type", "match_key"),)

    run_id: int = Field(primary_key=True)
    system: str = Field(max_length=40, primary_key=True)
    object_type: str = Field(max_length=40, primary_key=True)
    external_id: str = Field(max_length=255, primary_key=True)
    match_key: str | None = Field(default=None, max_length=255)  # email, domain: two records sharing one are duplicates

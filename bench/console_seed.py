"""A large ledger for the console benchmark, written straight into PostgreSQL with COPY.

The shape follows what `revline demo` and the lead-to-cash flows write: deal stories (a contact,
its company and its deal, sharing one correlation id) linked in two or three systems with a
shadow per link, milestones and measured hops, search keys; outbound ops mostly done, some
pending, a tenth dead with the categories and messages the connectors give; a `write` span per
op attempted; sync runs of every lane, reconciliation passes and findings, repair actions and
audit rows. Ids ascend with time, as they do in a ledger that grew.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from sync_core.services import trace

SYSTEMS = ("hubspot", "salesforce", "erp")
DAYS = 30  # how far back the ledger goes


@dataclass(frozen=True)
class Scale:
    """How many rows of each kind to seed."""

    ops: int = 1_000_000
    dead: int = 100_000
    stories: int = 50_000
    loose_records: int = 100_000  # contacts and companies in no deal story
    runs: int = 200_000
    findings: int = 20_000
    passes: int = 2_880  # a pass every 15 minutes for 30 days
    audit: int = 100_000
    repairs: int = 10_000

    def times(self, factor: float) -> Scale:
        return Scale(*(max(1, int(n * factor)) for n in (
            self.ops, self.dead, self.stories, self.loose_records, self.runs, self.findings, self.passes,
            self.audit, self.repairs,
        )))  # fmt: skip


@dataclass(frozen=True)
class Record:
    canonical_id: str
    object_type: str
    links: dict[str, str]  # system -> external id
    story: str | None  # correlation id
    n: int


# Dead letters by category: (share, target, operation, message templates). `{n}` and `{field}` vary.
DEAD_KINDS: tuple[tuple[str, float, str, str, tuple[str, ...]], ...] = (
    ("validation", 0.29, "hubspot", "upsert", (
        "HubSpot 400: Property values were not valid: email 'contact{n}@' is not a valid email address",
        "HubSpot 400: Property values were not valid: phone '+33 {n}' is not a valid phone number",
        "HubSpot 400: Property values were not valid: lifecyclestage 'churned' is not an allowed option",
    )),
    ("validation", 0.05, "hubspot", "ingest", (
        "contact email: 'broken-address-{n}.example.com' is not a valid email address",
    )),
    ("validation", 0.10, "salesforce", "upsert", (
        "Salesforce REQUIRED_FIELD_MISSING: Required fields are missing: [LastName]",
        "Salesforce FIELD_CUSTOM_VALIDATION_EXCEPTION: Close date must not be in the past ({n})",
        "Salesforce STRING_TOO_LONG: Company name: data value too large (max length=255)",
    )),
    ("missing_reference", 0.12, "salesforce", "upsert", (
        "Salesforce INVALID_CROSS_REFERENCE_KEY: invalid cross reference id 001{n:012d}",
        "Salesforce ENTITY_IS_DELETED: entity is deleted: 006{n:012d}",
    )),
    # Held orders: at most one per won deal, and most won deals are not held.
    ("mapping", 0.015, "erp", "place", (
        "odoo: no product with code SKU-{k:04d} in the ERP",
        "odoo: no price for SKU-{k:04d} in pricelist EUR",
    )),
    ("mapping", 0.075, "salesforce", "upsert", (
        "mapping: no Salesforce value for stage '{k}' in the deal stage map",
        "mapping: no Salesforce value for industry 'Sector {k}'",
    )),
    ("approval_required", 0.015, "erp", "place", (
        "Price of SKU-{k:04d} deviates 12% from the ERP's list price: approve or reject",
        "Discount of 18% exceeds the 15% allowed without approval",
    )),
    ("duplicate", 0.155, "hubspot", "upsert", (
        "HubSpot 409: Contact already exists. Existing ID: {n}",
        "HubSpot 409: A company with domain c{n}.example already exists",
    )),
    ("conflict", 0.04, "salesforce", "upsert", (
        "Salesforce UNABLE_TO_LOCK_ROW: unable to obtain exclusive access to this record",
    )),
    ("permission", 0.04, "erp", "upsert", (
        "odoo: access to res.partner refused for user api (write)",
    )),
    ("transient", 0.07, "salesforce", "upsert", (
        "Salesforce 503: Service Unavailable (5 attempts)",
        "timed out after 30 s (5 attempts)",
    )),
    ("unexpected", 0.03, "erp", "upsert", (
        "odoo: ValueError: Wrong value for sale.order.state: 'blocked'",
    )),
)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _external(system: str, object_type: str, n: int) -> str:
    if system == "hubspot":
        return str(10_000_000 + n)
    if system == "salesforce":
        prefix = {"contact": "003", "company": "001", "deal": "006"}[object_type]
        return f"{prefix}5g00000{n:08d}AAA"
    return str(1000 + n)


def _values(record: Record, rng: random.Random) -> dict[str, Any]:
    """A record's canonical values of realistic size (what the ops and shadows hold)."""
    n = record.n
    if record.object_type == "contact":
        return {
            "email": f"contact{n}@company{n % 9000}.example", "first_name": rng.choice(["Ana", "Jon", "Mei", "Ola"]),
            "last_name": f"Smith-{n}", "phone": f"+33 4 {n:08d}", "job_title": "Head of Operations",
            "lifecycle_stage": rng.choice(["lead", "marketingqualifiedlead", "salesqualifiedlead", "customer"]),
            "city": "Lyon", "country": "France", "company": f"Company {n % 9000}",
            "owner": f"rep{n % 12}@revline.example", "lead_source": "Web",
            "updated": f"2026-11-{1 + n % 27:02d}T10:{n % 60:02d}:00Z",
        }  # fmt: skip
    if record.object_type == "company":
        return {
            "name": f"Company {n}", "domain": f"c{n}.example", "phone": f"+49 40 {n:08d}", "industry": "Manufacturing",
            "employees": 20 + n % 5000, "annual_revenue": 100_000 + n * 13 % 9_000_000, "city": "Hamburg",
            "country": "Germany", "street": f"{n % 300} Hafenstrasse", "postal_code": "20095",
            "vat_number": f"DE{100000000 + n}", "owner": f"rep{n % 12}@revline.example",
        }  # fmt: skip
    return {
        "name": f"Deal {n}", "amount": round(500 + (n * 7919 % 95_000), 2), "currency": "EUR",
        "stage": rng.choice(["appointmentscheduled", "qualifiedtobuy", "contractsent", "closedwon"]),
        "close_date": f"2026-12-{1 + n % 28:02d}", "account": f"Company {n % 9000}",
        "lines": [{"product_code": f"SKU-{(n + i) % 400:04d}", "quantity": 1 + i, "unit_price": 120.0 + i * 35}
                  for i in range(1 + n % 4)],
        "invoice_number": f"INV/2026/{n:06d}" if n % 3 == 0 else None, "payment_status": "not_paid",
    }  # fmt: skip


def _records(scale: Scale, rng: random.Random) -> list[Record]:
    records = []
    n = 0
    for _ in range(scale.stories):
        story = _uuid(rng)
        for object_type, systems in (("contact", SYSTEMS[:2]), ("company", SYSTEMS), ("deal", SYSTEMS)):
            cid = story if object_type == "contact" else _uuid(rng)
            records.append(Record(cid, object_type, {s: _external(s, object_type, n) for s in systems}, story, n))
            n += 1
    for i in range(scale.loose_records):
        object_type = "contact" if i % 3 else "company"
        systems = SYSTEMS[:2] if object_type == "contact" else SYSTEMS
        records.append(Record(_uuid(rng), object_type, {s: _external(s, object_type, n) for s in systems}, None, n))
        n += 1
    return records


def _copy(conn: psycopg.Connection[Any], table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    count = 0
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _statuses(scale: Scale, rng: random.Random) -> list[str]:
    pending, superseded, discarded, in_flight = scale.ops // 70, scale.ops // 50, scale.ops // 1000, 40
    statuses = (["dead"] * scale.dead + ["pending"] * pending + ["superseded"] * superseded
                + ["discarded"] * discarded + ["in_flight"] * in_flight)  # fmt: skip
    statuses += ["done"] * max(0, scale.ops - len(statuses))
    rng.shuffle(statuses)
    # What is still pending or in flight is recent.
    tail = [s for s in statuses if s in ("pending", "in_flight")]
    rest = [s for s in statuses if s not in ("pending", "in_flight")]
    return rest + tail


def _dead_kind(rng: random.Random) -> tuple[str, str, str, str]:
    category, _, target, operation, messages = rng.choices(DEAD_KINDS, weights=[k[1] for k in DEAD_KINDS])[0]
    n = rng.randrange(1, 10**9)
    message = rng.choice(messages).format(n=n, k=rng.randrange(400))
    return category, target, operation, message


def seed(url: str, scale: Scale, seed_value: int = 7, log: Any = print) -> dict[str, int]:
    """Fill the migrated, empty ledger at `url` (a SQLAlchemy PostgreSQL URL); return rows per table."""
    rng = random.Random(seed_value)
    now = datetime.now(UTC)
    start = now - timedelta(days=DAYS)
    span = (now - start).total_seconds()
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    counts: dict[str, int] = {}
    records = _records(scale, rng)
    deals = [r for r in records if r.object_type == "deal"]
    with psycopg.connect(dsn) as conn:
        conn.execute("SET synchronous_commit = off")
        lanes = conn.execute("SELECT id, system, object_type, direction FROM lane ORDER BY id").fetchall()
        started = time.perf_counter()

        counts["entity_link"] = _copy(conn, "entity_link", ("canonical_id", "object_type", "system", "external_id",
                                                             "created_at"), (
            (r.canonical_id, r.object_type, system, external, start + timedelta(seconds=span * r.n / len(records)))
            for r in records for system, external in r.links.items()
        ))  # fmt: skip
        counts["shadow"] = _copy(conn, "shadow", ("canonical_id", "system", "object_type", "seen", "field_times",
                                                   "written", "source_version", "updated_at"), (
            (r.canonical_id, system, r.object_type, json.dumps(values),
             json.dumps(dict.fromkeys(list(values)[:4], "2026-11-20T10:00:00Z")),
             json.dumps(values if system != "hubspot" else {}), f"2026-11-2{r.n % 8}T10:00:00Z",
             now - timedelta(seconds=rng.random() * span))
            for r in records for values in (_values(r, rng),) for system in r.links
        ))  # fmt: skip
        log(f"  links and shadows: {time.perf_counter() - started:.0f} s")

        # Deal stories: correlations, search keys, milestones and hops.
        story_rows = [r for r in records if r.story is not None]
        counts["correlation"] = _copy(conn, "correlation", ("canonical_id", "correlation_id", "object_type",
                                                             "created_at"),
                                      ((r.canonical_id, r.story, r.object_type, start) for r in story_rows))
        keys: list[tuple[str, str, str]] = []
        spans: list[tuple[Any, ...]] = []
        hops: list[tuple[Any, ...]] = []
        funnel = (1.0, 0.9, 0.8, 0.55, 0.35, 0.33, 0.32, 0.27, 0.24, 0.18)  # share reaching each milestone
        for deal in deals:
            assert deal.story is not None
            n = deal.n
            keys += [(f"contact{n - 2}@company{(n - 2) % 9000}.example", deal.story, "email"),
                     (f"company {n - 1}", deal.story, "company"), (f"deal {n}", deal.story, "deal"),
                     (deal.links["hubspot"], deal.story, "record"), (deal.links["salesforce"].lower(), deal.story,
                                                                     "record"),
                     (f"s{n:05d}", deal.story, "order")]  # fmt: skip
            if n % 3 == 0:
                keys.append((f"inv/2026/{n:06d}", deal.story, "invoice"))
            at = start + timedelta(seconds=rng.random() * span * 0.8)
            reached: dict[str, datetime] = {}
            roll = rng.random()
            for name, share in zip(trace.MILESTONES, funnel, strict=True):
                if roll > share:
                    break
                at += timedelta(seconds=rng.expovariate(1 / 900))
                reached[name] = at
                system = "hubspot" if name.startswith("lead.q") else ("erp" if name[0] in "oip" else "salesforce")
                spans.append((deal.story, name, system, at, at, "ok", json.dumps({"record": deal.canonical_id})))
            for hop, (begin, end) in trace.HOPS.items():
                if begin in reached and end in reached:
                    hops.append((deal.story, hop, reached[begin], reached[end],
                                 (reached[end] - reached[begin]).total_seconds()))
        counts["trace_key"] = _copy(conn, "trace_key", ("key", "correlation_id", "kind"), dict.fromkeys(keys))
        counts["hop"] = _copy(conn, "hop", ("correlation_id", "hop", "started_at", "ended_at", "seconds"), hops)
        log(f"  stories: {time.perf_counter() - started:.0f} s")

        # Outbound ops, in time order, each with the write span its attempt left.
        statuses = _statuses(scale, rng)
        write_spans: list[tuple[Any, ...]] = []
        weights = [3 if r.object_type == "deal" else 1 for r in records]
        chosen = rng.choices(records, weights=weights, k=len(statuses))

        def ops() -> Iterator[tuple[Any, ...]]:
            for i, (status, record) in enumerate(zip(statuses, chosen, strict=True)):
                created = start + timedelta(seconds=span * (i + rng.random()) / len(statuses))
                updated = created + timedelta(seconds=rng.expovariate(1 / 4))
                systems = list(record.links)
                source = rng.choice(systems)
                target = rng.choice([s for s in systems if s != source] or systems)
                operation, category, message, attempts = "upsert", None, None, 1
                result: dict[str, Any] = {}
                object_type = record.object_type
                if status == "dead":
                    category, dead_target, operation, message = _dead_kind(rng)
                    if dead_target in record.links:
                        target = dead_target
                    if operation == "place":
                        object_type, target, source = "deal", "erp", "salesforce"
                        if category == "approval_required":
                            result = {"held": {"digest": hashlib.sha1(str(i).encode()).hexdigest(), "deviations": [
                                {"product_code": f"SKU-{i % 400:04d}", "price": 99.0, "list_price": 112.5}]}}
                        else:
                            result = {"held": {"missing_products": [f"SKU-{i % 400:04d}"]}}
                    attempts = 5 if category == "transient" else 1
                elif status == "done":
                    result = {"id": record.links.get(target, ""), "created": rng.random() < 0.2}
                elif status == "pending" and rng.random() < 0.3:
                    category, message, attempts = "transient", "Salesforce 503: Service Unavailable", 2
                payload = _values(record, rng)
                source_id = record.links.get(source, record.canonical_id)
                version = f"{created:%Y-%m-%dT%H:%M:%S}.{i % 1000:03d}Z"
                key = hashlib.sha256(f"{target}|{object_type}|{source}|{source_id}|{version}|{i}".encode()).hexdigest()
                correlation = record.story or record.canonical_id
                if status in ("done", "dead"):
                    write_spans.append((correlation, "write", target, updated, updated,
                                        "ok" if status == "done" else "error",
                                        json.dumps({"ops": [i + 1], "record": record.canonical_id,
                                                    **({"error": message} if message else {})})))  # fmt: skip
                yield (key, target, object_type, record.canonical_id, operation, source, source_id, version,
                       json.dumps(payload), status, attempts, updated, category, message, json.dumps(result),
                       correlation, created, updated)  # fmt: skip

        counts["outbound_op"] = _copy(conn, "outbound_op", (
            "idempotency_key", "target_system", "object_type", "canonical_id", "operation", "source_system",
            "source_id", "source_version", "payload", "status", "attempts", "next_attempt_at", "error_category",
            "error_message", "result", "correlation_id", "created_at", "updated_at"), ops())  # fmt: skip
        log(f"  outbound ops: {time.perf_counter() - started:.0f} s")
        # Milestones and writes interleave in time, as the flows and executors write them.
        spans += write_spans
        spans.sort(key=lambda row: row[3])
        counts["trace_span"] = _copy(conn, "trace_span", ("correlation_id", "name", "system", "started_at",
                                                           "ended_at", "status", "attributes"), spans)
        spans.clear()
        write_spans.clear()
        log(f"  trace spans: {time.perf_counter() - started:.0f} s")

        # Sync runs of every lane, reconciliation passes, findings, repairs and the audit log.
        def runs() -> Iterator[tuple[Any, ...]]:
            for i in range(scale.runs):
                lane_id, system, object_type, direction = lanes[rng.randrange(len(lanes))]
                began = start + timedelta(seconds=span * (i + rng.random()) / scale.runs)
                failed = rng.random() < 0.01
                done = rng.randrange(0, 200) if direction == "outbound" else 0
                yield (lane_id, system, object_type, direction, f"worker-{i % 3}", began,
                       began + timedelta(seconds=rng.expovariate(1 / 2)), "failed" if failed else "ok",
                       rng.randrange(0, 300), done, done, rng.randrange(0, 3), rng.randrange(0, 2),
                       rng.randrange(1, 6), "Salesforce 503: Service Unavailable" if failed else None)  # fmt: skip

        counts["sync_run"] = _copy(conn, "sync_run", (
            "lane_id", "system", "object_type", "direction", "worker_id", "started_at", "finished_at", "status",
            "records_read", "ops_planned", "ops_done", "ops_retried", "ops_dead", "api_calls", "error"), runs())
        passes = [(
            "full" if i % 96 == 0 else "incremental", "done", start + timedelta(minutes=15 * i),
            start + timedelta(minutes=15 * i, seconds=40), "scheduler", 8, 8, rng.randrange(100, 5000),
            rng.randrange(0, 20), rng.randrange(0, 20), rng.randrange(0, 5), rng.randrange(10, 200),
            scale.findings // 5 + rng.randrange(-50, 50),
        ) for i in range(scale.passes)]  # fmt: skip
        counts["reconcile_run"] = _copy(conn, "reconcile_run", (
            "mode", "status", "started_at", "finished_at", "started_by", "lanes_total", "lanes_done", "records_read",
            "findings_opened", "findings_closed", "heals", "api_calls", "open_findings"), passes)
        kinds = ("field_drift", "status_drift", "won_without_order", "orphan", "duplicate", "missing_customer",
                 "order_without_won")  # fmt: skip

        def findings() -> Iterator[tuple[Any, ...]]:
            for i in range(scale.findings):
                record = deals[rng.randrange(len(deals))] if i % 2 else records[rng.randrange(len(records))]
                kind = kinds[min(len(kinds) - 1, int(rng.expovariate(0.8)))]
                systems = sorted(record.links)[:2]
                field = rng.choice(["amount", "stage", "phone", "city", "name"]) if kind.endswith("drift") else None
                status = "open" if i % 5 == 0 else rng.choice(["resolved", "healed", "healed", "ignored"])
                seen = start + timedelta(seconds=rng.random() * span)
                yield (f"{kind}:{record.canonical_id}:{field or ''}:{i}", kind, record.object_type,
                       record.canonical_id, field, json.dumps(systems),
                       json.dumps({s: record.links[s] for s in systems}),
                       json.dumps({systems[0]: "A", systems[-1]: "B", "expected": "A"} if field else {}),
                       f"{kind.replace('_', ' ')} on {record.object_type} {record.n}",
                       round(rng.random() * 40_000, 2) if record.object_type == "deal" else 0.0, "EUR", status, seen,
                       seen + timedelta(hours=rng.random() * 48), None if status == "open" else seen, None, None,
                       "reconciliation" if status == "healed" else None, None, record.story)  # fmt: skip

        counts["finding"] = _copy(conn, "finding", (
            "key", "kind", "object_type", "canonical_id", "field", "systems", "records", "values", "summary", "money",
            "currency", "status", "first_seen_at", "last_seen_at", "closed_at", "run_id", "heal_op_id", "healed_by",
            "reason", "correlation_id"), findings())  # fmt: skip
        repair_columns = ("op_id", "action", "actor", "reason", "details", "at")
        counts["repair_action"] = _copy(conn, "repair_action", repair_columns, (
            (rng.randrange(1, scale.ops), rng.choice(["retry", "retry", "approve", "discard", "remap"]),
             f"operator{i % 4}", rng.choice([None, "mapping fixed", "duplicate of an existing record"]),
             json.dumps({"previous_category": "validation", "previous_attempts": 1}),
             start + timedelta(seconds=span * i / scale.repairs)) for i in range(scale.repairs)
        ))  # fmt: skip
        actions = ("dead_letter.retry", "reconciliation.started", "finding.ignored", "policy.rules_saved",
                   "held_order.approved", "lead_handoff.saved", "user.added")  # fmt: skip
        counts["audit_log"] = _copy(conn, "audit_log", ("at", "actor", "action", "subject", "details"), (
            (start + timedelta(seconds=span * i / scale.audit), "scheduler" if i % 3 else f"operator{i % 4}",
             actions[i % len(actions)], f"outbound_op:{rng.randrange(1, scale.ops)}",
             json.dumps({"before": {"status": "dead", "attempts": 1}, "after": {"status": "pending"},
                         "reason": "retry after the mapping fix"})) for i in range(scale.audit)
        ))  # fmt: skip
        conn.execute("INSERT INTO api_usage (system, calls, window_limit, window_remaining, window_seconds, "
                     "daily_limit, daily_remaining, updated_at) VALUES "
                     "('hubspot', 812345, 190, 171, 10, 1000000, 402113, now()), "
                     "('salesforce', 412002, NULL, NULL, NULL, 100000, 61234, now()), "
                     "('erp', 233101, NULL, NULL, NULL, NULL, NULL, now()) ON CONFLICT DO NOTHING")
        conn.commit()
        log(f"  runs, findings, audit: {time.perf_counter() - started:.0f} s")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # what autovacuum would have done in a ledger that grew over weeks
    log(f"  vacuum analyze: {time.perf_counter() - started:.0f} s")
    return counts

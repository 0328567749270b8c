"""Reconciliation: one full pass over 100,000 companies linked across HubSpot, Salesforce and the ERP, 1% drifted.

The three sandboxes run as `revline sandbox` processes (empty CRMs, an ERP with its catalogue and
no customers, its business clock stopped). Setup, not measured: `--records` companies are created
in the ERP (JSON-2 `create`, 2,000 a call), read back through the ERP connector so that what the
ERP derives (customer number, terms, credit hold, open and overdue amounts, billing risk) is known,
then created with the same canonical values in HubSpot (as a person, through the control API) and
Salesforce (as a sales user, through sObject Collections), each CRM holding the other's id. The
SQLite ledger gets the lead-to-cash preset, one link per company and system, and shadows holding
exactly what each system holds: every record read through its connector's own `scan` and mapped by
`intake.to_canonical`, as a sync would have seen it. Then 1% of the companies drift, spread over
the three systems, each an owned field changed in a system that does not own it, unseen by live
sync: HubSpot's annual revenue (Salesforce owns it), Salesforce's credit hold (the ERP owns it),
the ERP's street (Salesforce owns it). The admin settings hold every kind for a person (no heal is
written during the pass) and the grace for changes on their way is 0 (the drift is seconds old).

Measured, in a spawned process of its own (a clean interpreter, the worker's garbage collector
settings): `reconciliation.run_now(engine, actor, "full")` and a `Worker` draining the pass's
reconcile lanes. Wall time runs from run_now to the pass's end (its process's CPU time is given beside
it: on a shared machine the wall time also counts others' work); peak memory is that process's VmHWM,
reset (/proc/self/clear_refs) just before the pass; API calls come from the sandboxes' request logs,
against the page-size floor: every record read once in the vendor's largest page (HubSpot's object
list 100, SOQL 2,000, Odoo search_read 2,000). Findings opened must equal the drift planted.
Results replace the "Reconciliation" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import multiprocessing
import os
import platform
import pstats
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from bench.engine import PG_ADMIN, write_section
from bench.lead_to_cash import sandboxes

PAGES = {"hubspot": 100, "salesforce": 2000, "erp": 2000}  # records per list call, SOQL page, search_read
LIFTED = 1_000_000_000
DRIFT_SHARE = 0.01
ERP_CREATE = 2000
SF_BATCH = 200
HS_CHANGES = 2500
SYSTEMS = ("hubspot", "salesforce", "erp")
# The planted drift: per system, the field changed there (canonical name, vendor name) and whom it belongs to.
DRIFTS = {
    "hubspot": ("annual_revenue", "annualrevenue", "salesforce"),
    "salesforce": ("credit_hold", "Credit_Hold__c", "erp"),
    "erp": ("street", "street", "salesforce"),
}


def _connector_settings(urls: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {
        "hubspot": {"kind": "hubspot", "base_url": urls["hubspot"], "token": "sandbox-token",
                    "index_lag_seconds": 0, "search_per_second": 0},
        "salesforce": {"kind": "salesforce", "login_url": urls["salesforce"], "client_id": "sandbox",
                       "client_secret": "sandbox", "ca_bundle": urls["ca"], "settle_seconds": 0},
        "erp": {"kind": "erp", "url": urls["erp"], "database": "revline", "login": "admin",
                "api_key": "sandbox-key"},
    }  # fmt: skip


# -- setup (not measured) ------------------------------------------------------------------------------------------


class Systems:
    """The three sandboxes' control and seeding clients."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self.hs = httpx.Client(base_url=urls["hubspot"], timeout=300)
        self.sf = httpx.Client(base_url=urls["salesforce"], verify=urls["ca"], timeout=300)
        self.erp = httpx.Client(base_url=urls["erp"], timeout=300, headers={
            "Authorization": "bearer sandbox-key", "X-Odoo-Database": "revline"})  # fmt: skip
        self.sf.post("/__sandbox__/faults", json={"daily_limit": LIFTED}).raise_for_status()
        self.hs.post("/__sandbox__/faults", json={
            "rate_limit": {"per_interval": LIFTED, "interval_ms": 10_000, "daily": LIFTED}, "search_per_second": 0,
        }).raise_for_status()
        person = self.sf.get("/__sandbox__/users").json()["people"][0]
        self.person, self.email = person["username"], str(person["email"]).lower()
        first, _, last = str(person.get("name") or "").partition(" ")
        owner = self.hs.post("/__sandbox__/owners", json={"email": self.email, "firstName": first, "lastName": last})
        owner.raise_for_status()
        self.owner_id = str(owner.json()["id"])
        token = self.sf.post("/services/oauth2/token", data={
            "grant_type": "password", "client_id": "sandbox", "client_secret": "sandbox",
            "username": self.person, "password": "sandbox",
        }).json()["access_token"]  # fmt: skip
        self.sf_headers = {"Authorization": f"Bearer {token}"}

    def erp_call(self, model: str, method: str, **arguments: Any) -> Any:
        answer = self.erp.post(f"/json/2/{model}/{method}", json=arguments)
        answer.raise_for_status()
        return answer.json()

    def hs_changes(self, changes: list[dict[str, Any]]) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(changes), HS_CHANGES):
            answer = self.hs.post("/__sandbox__/users/changes", json={"changes": changes[start:start + HS_CHANGES]})
            answer.raise_for_status()
            for row in answer.json()["results"]:
                if row.get("status") not in ("created", "updated"):
                    raise RuntimeError(f"HubSpot refused a change: {row}")
                ids.append(str(row["id"]))
        return ids

    def sf_collection(self, method: str, records: list[dict[str, Any]]) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(records), SF_BATCH):
            answer = self.sf.request(method, "/services/data/v59.0/composite/sobjects", headers=self.sf_headers,
                                     json={"allOrNone": True, "records": records[start:start + SF_BATCH]})
            answer.raise_for_status()
            for row in answer.json():
                if not row.get("success"):
                    raise RuntimeError(f"Salesforce refused a record: {row}")
                ids.append(str(row["id"]))
        return ids

    def calls(self) -> dict[str, Counter[str]]:
        """API calls so far, per system and endpoint (Salesforce: those counted against the allocation)."""
        hs = self.hs.get("/__sandbox__/requests", params={"limit": 0}).json()
        sf = self.sf.get("/__sandbox__/requests", params={"limit": 0}).json()
        erp = self.erp.get("/__sandbox__/requests", params={"limit": 0}).json()
        sf_counts = Counter({k: v for k, v in sf["counts"].items() if not k.startswith(("oauth.", "versions"))})
        return {"hubspot": Counter(hs["byEndpoint"]), "salesforce": sf_counts,
                "erp": Counter(erp.get("counts") or erp.get("byEndpoint") or {})}  # fmt: skip


def _base(n: int, rng: random.Random) -> dict[str, Any]:
    """A company as the ERP gets it."""
    return {
        "name": f"Bench Company {n}", "is_company": True, "website": f"company-{n}.example",
        "phone": f"+49 40 {rng.randrange(10**7):07d}", "city": rng.choice(("Hamburg", "Berlin", "Lyon", "Leeds")),
        "street": f"{n} Quay", "zip": f"{20000 + n % 70000}", "vat": f"DE{100000000 + n}",
    }  # fmt: skip


def _hubspot_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _salesforce_value(value: Any) -> Any:
    if isinstance(value, bool | int | float | str):
        return value
    return float(value) if hasattr(value, "as_integer_ratio") else str(value)


def seed(systems: Systems, records: int, connectors: dict[str, Any], policy: Any) -> dict[str, dict[str, str]]:
    """Create the companies in the three systems; canonical id -> system -> record id."""
    from sync_core import intake

    rng = random.Random(7)
    cids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(records)]
    revenue = {cid: rng.randrange(5, 2000) * 100_000 for cid in cids}
    for start in range(0, records, ERP_CREATE):
        chunk = [{**_base(n, rng), "ref": cids[n]} for n in range(start, min(records, start + ERP_CREATE))]
        systems.erp_call("res.partner", "create", vals_list=chunk)
    # What the ERP holds, derived facts included, in canonical fields: what the CRMs get.
    canonical: dict[str, dict[str, Any]] = {}
    links: dict[str, dict[str, str]] = {cid: {} for cid in cids}
    after: str | None = None
    while True:
        page = connectors["erp"].scan("company", after, PAGES["erp"])
        for record in page.records:
            values, _ = intake.to_canonical(record, policy.mappings["erp"], "erp", "company")
            cid = str(record.canonical_id)
            canonical[cid] = values
            links[cid]["erp"] = record.external_id
        after = page.after
        if after is None:
            break
    hs_mapping, sf_mapping = policy.mappings["hubspot"], policy.mappings["salesforce"]
    from sync_core.domain.mapping import to_vendor

    def crm_values(cid: str) -> dict[str, Any]:
        return {**canonical[cid], "annual_revenue": revenue[cid], "owner": systems.email}

    hs_ids = systems.hs_changes([{"objectType": "companies", "properties": {
        **{k: _hubspot_value(v) for k, v in to_vendor(hs_mapping, crm_values(cid)).items() if v is not None},
        "hubspot_owner_id": systems.owner_id,
    }} for cid in cids])  # fmt: skip
    sf_ids = systems.sf_collection("POST", [{
        "attributes": {"type": "Account"},
        **{k: _salesforce_value(v) for k, v in to_vendor(sf_mapping, crm_values(cid)).items()
           if v is not None and k != "OwnerId"},
        "HubSpot_Id__c": hs_id,
    } for cid, hs_id in zip(cids, hs_ids, strict=True)])  # fmt: skip
    systems.hs_changes([{"objectType": "companies", "id": hs_id, "properties": {"salesforce_id": sf_id}}
                        for hs_id, sf_id in zip(hs_ids, sf_ids, strict=True)])  # fmt: skip
    for cid, hs_id, sf_id in zip(cids, hs_ids, sf_ids, strict=True):
        links[cid].update(hubspot=hs_id, salesforce=sf_id)
    return links


def link(engine: Any, links: dict[str, dict[str, str]], connectors: dict[str, Any], policy: Any) -> None:
    """The ledger's links, and shadows holding what each system holds (read through its connector's scan)."""
    from sync_core import intake
    from sync_core.persistence import ledger
    from sync_core.persistence.database import db_now, transaction

    by_external = {system: {ids[system]: cid for cid, ids in links.items()} for system in SYSTEMS}
    for system in SYSTEMS:
        after: str | None = None
        while True:
            page = connectors[system].scan("company", after, PAGES[system])
            with transaction(engine) as session:
                now = db_now(session)
                pairs, rows = [], []
                for record in page.records:
                    cid = by_external[system].get(record.external_id)
                    if cid is None:
                        continue
                    mapping = policy.mappings[system]
                    values, times = intake.to_canonical(record, mapping, system, "company")
                    state = intake.observed_state(None, mapping, record, values, times)
                    pairs.append((cid, record.external_id))
                    rows.append(ledger.shadow_row(cid, system, "company", state, {}, record.version, now))
                ledger.add_links(session, "company", system, pairs, now)
                ledger.save_shadows(session, rows)
            after = page.after
            if after is None:
                break


def plant(systems: Systems, links: dict[str, dict[str, str]], share: float) -> dict[str, int]:
    """Change an owned field in a system that does not own it, for `share` of the companies; how many per system."""
    rng = random.Random(11)
    chosen = rng.sample(sorted(links), round(len(links) * share))
    per = {system: chosen[index::3] for index, system in enumerate(SYSTEMS)}
    systems.hs_changes([{"objectType": "companies", "id": links[cid]["hubspot"],
                         "properties": {"annualrevenue": "1"}} for cid in per["hubspot"]])  # fmt: skip
    systems.sf_collection("PATCH", [{"attributes": {"type": "Account"}, "Id": links[cid]["salesforce"],
                                     "Credit_Hold__c": True} for cid in per["salesforce"]])  # fmt: skip
    for cid in per["erp"]:
        systems.erp_call("res.partner", "write", ids=[int(links[cid]["erp"])], vals={"street": "Elsewhere 1"})
    return {system: len(ids) for system, ids in per.items()}


# -- the pass (measured, in a process of its own) ------------------------------------------------------------------


def _vm(name: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pass(pipe: Connection, settings: dict[str, Any]) -> None:
    """The worker's process: run one full pass and answer its figures."""
    try:
        from sqlalchemy import select
        from sqlmodel import col

        from connectors import build
        from sync_core.persistence.database import snapshot
        from sync_core.persistence.tables import ReconcileRun, SyncRun
        from sync_core.services import ledger_engine, reconciliation
        from sync_core.worker import Worker, WorkerConfig, drain, tune_garbage_collector

        engine = ledger_engine(settings["url"])
        connectors = build(_connector_settings(settings["urls"]))
        worker = Worker(engine, connectors, WorkerConfig())
        tune_garbage_collector()
        profile = cProfile.Profile() if settings["profile"] else None
        pipe.send("ready")
        pipe.recv()  # the request logs are read: go
        Path("/proc/self/clear_refs").write_text("5")
        before = _vm("VmRSS")
        started, cpu = time.perf_counter(), time.process_time()
        if profile is not None:
            profile.enable()
        run_id = reconciliation.run_now(engine, "bench", "full")
        runs = drain(worker)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        if profile is not None:
            profile.disable()
            profile.dump_stats(settings["profile"])
        peak = _vm("VmHWM")
        with snapshot(engine) as session:
            run = session.get(ReconcileRun, run_id)
            assert run is not None
            lanes = session.execute(
                select(col(SyncRun.system), col(SyncRun.object_type), col(SyncRun.started_at),
                       col(SyncRun.finished_at), col(SyncRun.records_read), col(SyncRun.api_calls))
                .where(col(SyncRun.direction) == "reconcile")
            ).all()  # fmt: skip
            per_lane: dict[str, list[float]] = {}
            for system, object_type, begun, ended, read, calls in lanes:
                figures = per_lane.setdefault(f"{system}/{object_type}", [0.0, 0, 0])
                figures[0] += (ended - begun).total_seconds() if ended and begun else 0.0
                figures[1] += read or 0
                figures[2] += calls or 0
            answer = {
                "seconds": seconds, "cpu_seconds": cpu, "peak_mb": peak, "start_mb": before, "lane_runs": runs,
                "status": run.status, "records_read": run.records_read, "opened": run.findings_opened,
                "closed": run.findings_closed, "heals": run.heals, "run_calls": run.api_calls, "lanes": per_lane,
            }  # fmt: skip
        for connector in connectors.values():
            close = getattr(connector, "close", None)
            if close is not None:
                close()
        pipe.send(answer)
    except BaseException as failure:  # the parent raises it
        pipe.send(failure)


@contextmanager
def _ledger(postgres: bool) -> Iterator[str]:
    if not postgres:
        with tempfile.TemporaryDirectory(prefix="revline-bench-reconcile-") as folder:
            yield f"sqlite:///{folder}/ledger.db"
        return
    import psycopg

    name = f"revline_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        from sync_core.services import dispose_engines

        dispose_engines()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(records: int, postgres: bool = False, profile: str | None = None) -> dict[str, Any]:
    from datetime import timedelta

    from sqlalchemy import update
    from sqlmodel import col

    from connectors import build
    from console.presets import install_lead_to_cash
    from sync_core.domain.findings import HOLD, Kind
    from sync_core.persistence import lanes
    from sync_core.persistence.database import snapshot, transaction
    from sync_core.persistence.migrate import upgrade
    from sync_core.persistence.tables import Lane
    from sync_core.services import ledger_engine, reconciliation
    from sync_core.services.policy import load

    folder = Path(tempfile.mkdtemp(prefix="revline-bench-reconcile-"))
    extra = {"hubspot": ["--records", "0"], "salesforce": ["--records", "0"], "erp": ["--records", "0", "--pace", "0"]}
    with _ledger(postgres) as url, sandboxes(folder, extra) as urls:
        upgrade(url)
        engine = ledger_engine(url)
        install_lead_to_cash(engine)
        reconciliation.save_settings(engine, "bench", healing={k.value: HOLD for k in Kind}, grace=timedelta(0))
        with transaction(engine) as session:  # live sync stays off: only the pass's lanes run
            session.execute(update(Lane).where(col(Lane.direction) != lanes.RECONCILE).values(due_at=None))
        with snapshot(engine) as session:
            policy = load(session, "company")
        systems = Systems(urls)
        connectors = build(_connector_settings(urls))
        clock = time.perf_counter()
        links = seed(systems, records, connectors, policy)
        print(f"seeded {records:,} companies in {time.perf_counter() - clock:.0f} s", flush=True)
        clock = time.perf_counter()
        link(engine, links, connectors, policy)
        print(f"linked and shadowed in {time.perf_counter() - clock:.0f} s", flush=True)
        planted = plant(systems, links, DRIFT_SHARE)
        print(f"planted {planted}", flush=True)
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(target=_pass, args=(theirs, {"url": url, "urls": urls, "profile": profile}))
        process.start()
        try:
            ready = ours.recv()
            if isinstance(ready, BaseException):
                raise ready
            before = systems.calls()
            load_before = os.getloadavg()[0]
            ours.send("go")
            answer = ours.recv()
            if isinstance(answer, BaseException):
                raise answer
            after = systems.calls()
        finally:
            process.join(60)
            if process.is_alive():
                process.terminate()
        answer["calls"] = {system: after[system] - before[system] for system in after}
        answer["planted"] = planted
        answer["records"] = records
        answer["ledger"] = "PostgreSQL" if postgres else "SQLite"
        answer["load"] = (load_before, os.getloadavg()[0])
    return answer


# -- the report ----------------------------------------------------------------------------------------------------


def _endpoints(calls: Counter[str]) -> str:
    return "; ".join(f"`{name}` {count:,}" for name, count in sorted(calls.items()))


def report(results: list[dict[str, Any]], commit: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    first = results[0]
    records = first["records"]
    floor = {system: math.ceil(records / size) for system, size in PAGES.items()}
    lines = [
        "## Reconciliation",
        "",
        f"`make bench-reconcile` (`bench/reconcile.py`), {stamp}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, at commit {commit}. {records:,} companies present in HubSpot, "
        "Salesforce and the ERP and linked in the ledger under the lead-to-cash preset, the ledger's shadows "
        "holding what each system holds (read through each connector's own scan); then "
        f"{sum(first['planted'].values()):,} of them ({DRIFT_SHARE:.0%}) drift, unseen by live sync, a third in "
        "each system: HubSpot's annual revenue (Salesforce owns it), Salesforce's credit hold and the ERP's "
        "street (the ERP and Salesforce own them). One full pass (`reconciliation.run_now(..., \"full\")`, a "
        "`Worker` draining its reconcile lanes, default worker settings) runs in a process of its own; the "
        "sandboxes run as processes of their own. Every kind is held for a person (no heal is written during the "
        "pass) and the grace for changes on their way is 0. *Peak memory* is the pass's process's VmHWM, reset "
        "just before the pass (*at start*: its RSS then). API calls come from the sandboxes' request logs; the "
        "*floor* reads every record once in the vendor's largest page: HubSpot's object list 100, SOQL 2,000, "
        "Odoo `search_read` 2,000. Targets: under 60 s, API calls within 10% of the floor, memory under 300 MB.",
        "",
        "| ledger | seconds | records read | findings opened | drift planted | API calls | floor | vs floor "
        "| peak memory | at start |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        total = sum(sum(c.values()) for c in result["calls"].values())
        lines.append(
            f"| {result['ledger']} | {result['seconds']:.1f} | {result['records_read']:,} | {result['opened']:,} | "
            f"{sum(result['planted'].values()):,} | {total:,} | {sum(floor.values()):,} | "
            f"{total / sum(floor.values()):.2f}x | {result['peak_mb']:.0f} MB | {result['start_mb']:.0f} MB |"
        )
    lines += ["", "API calls per system (first run), against the floor:", ""]
    for system in SYSTEMS:
        calls = first["calls"][system]
        total = sum(calls.values())
        lines.append(f"- {system}: {total:,} calls, floor {floor[system]:,} ({total / floor[system]:.2f}x): "
                     f"{_endpoints(calls)}.")
    lines += ["", "Time per lane (first run; lane runs in seconds, records read, API calls):", ""]
    for lane, (seconds, read, calls) in sorted(first["lanes"].items()):
        lines.append(f"- `{lane}`: {seconds:.1f} s, {int(read):,} records, {int(calls):,} calls")
    loads = ", ".join(f"{r['ledger']} {r['load'][0]:.1f} to {r['load'][1]:.1f}" for r in results)
    cpu = ", ".join(f"{r['ledger']} {r['cpu_seconds']:.1f} s" for r in results)
    lines += ["", f"1-minute load average as each pass started and ended: {loads}. CPU time of the pass's process "
              f"(all its threads; the sandboxes' processes apart): {cpu}.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true", help="also run the pass on a PostgreSQL ledger")
    parser.add_argument("--profile", help="write the pass's cProfile statistics to this file")
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave docs/benchmarks.md alone")
    args = parser.parse_args()
    results = [run(args.records, profile=args.profile)]
    print(results[-1], flush=True)
    if args.postgres:
        results.append(run(args.records, postgres=True))
        print(results[-1], flush=True)
    if args.profile:
        pstats.Stats(args.profile).sort_stats("cumulative").print_stats(40)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    section = report(results, commit)
    if not args.no_write:
        write_section(section, title="## Reconciliation")
    print(section)
    sys.exit(0)


if __name__ == "__main__":
    main()

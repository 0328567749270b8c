"""CRM backfill: contacts and companies HubSpot -> Salesforce and back, through Revline and through a naive script.

Both sandboxes run as `revline sandbox` processes of their own, so the worker's process (a spawned
child of this one) holds only the engine, its connectors and its ledger: its peak RSS is the
engine's. Half the records are created in HubSpot, half in Salesforce (companies first, each
contact belonging to a company of its own side), by a person, through the sandboxes' control API
(HubSpot) and sObject Collections as a sales user (Salesforce). The run has two phases:

1. HubSpot -> Salesforce: the HubSpot half is created, then the worker runs lanes until every
   record has a link on both sides and the outbox is empty;
2. Salesforce -> HubSpot: the Salesforce half is created on top, and the worker runs again.

API calls come from the sandboxes' request logs (`GET /__sandbox__/requests`), counted per phase.
The floor is what the vendors' batch sizes allow for moving the records once: read them from the
source (HubSpot search 200 per page, SOQL 2,000 per page) and write them to the target (HubSpot
batches of 100, Salesforce collections of 200). The naive baseline (bench/naive_crm.py) runs the
same two phases on fresh sandboxes with the same data. Results replace the "CRM" section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import platform
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from bench.engine import write_section

HS_SEARCH_PAGE, HS_BATCH = 200, 100  # HubSpot: search results per page, inputs per batch call
SF_QUERY_PAGE, SF_BATCH = 2000, 200  # Salesforce: SOQL rows per page, records per sObject Collections call
LIFTED = 1_000_000_000
PHASES = ("hubspot", "salesforce")  # where each phase's records are created
PHASE_TITLES = {"hubspot": "HubSpot -> Salesforce", "salesforce": "Salesforce -> HubSpot"}
INDUSTRIES = (("COMPUTER_SOFTWARE", "Technology"), ("BANKING", "Banking"), ("RETAIL", "Retail"),
              ("INSURANCE", "Insurance"), ("CONSTRUCTION", "Construction"))
COUNTRIES = ("France", "Germany", "United Kingdom", "United States", "Netherlands")
FIRST = ("Anna", "Marc", "Lea", "Tom", "Ines", "Paul", "Sara", "Hugo", "Nina", "Omar", "Lena", "Jon")
LAST = ("Martin", "Bernard", "Dubois", "Muller", "Schmidt", "Smith", "Jones", "Garcia", "Rossi", "Novak")
TITLES = ("CEO", "CFO", "Head of Sales", "Buyer", "Engineer", "Office Manager", "Account Executive")
STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "customer")


# -- data ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Company:
    key: int
    name: str
    domain: str
    phone: str
    city: str
    country: str
    industry: tuple[str, str]  # (HubSpot option, Salesforce picklist value)
    revenue: int


@dataclass(frozen=True)
class Person:
    email: str
    first: str
    last: str
    phone: str
    title: str
    stage: str
    company: int  # index into the side's companies


@dataclass(frozen=True)
class Side:
    companies: list[Company]
    contacts: list[Person]

    @property
    def records(self) -> int:
        return len(self.companies) + len(self.contacts)


def dataset(contacts: int, companies: int, seed: int = 7) -> dict[str, Side]:
    """The records created in each system: disjoint halves, deterministic for a seed."""
    rng = random.Random(seed)
    sides: dict[str, Side] = {}
    for index, side in enumerate(PHASES):
        n_companies = companies // 2 + (companies % 2 if index == 0 else 0)
        n_contacts = contacts // 2 + (contacts % 2 if index == 0 else 0)
        made = []
        for n in range(n_companies):
            key = index * 10_000_000 + n
            domain = f"{side[:2]}{n}-{rng.choice(('acme', 'globex', 'initech', 'umbrella', 'hooli'))}.example"
            made.append(Company(
                key, f"{rng.choice(('Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli'))} {side.title()} {n}", domain,
                f"+33 1 {rng.randrange(10**8):08d}", rng.choice(("Lyon", "Paris", "Berlin", "London", "Boston")),
                rng.choice(COUNTRIES), rng.choice(INDUSTRIES), rng.randrange(5, 2000) * 100_000,
            ))
        people = []
        for n in range(n_contacts):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            company = n % max(1, n_companies)
            people.append(Person(
                f"{first}.{last}.{n}@{made[company].domain}".lower(), first, last, f"+33 6 {rng.randrange(10**8):08d}",
                rng.choice(TITLES), rng.choice(STAGES), company,
            ))
        sides[side] = Side(made, people)
    return sides


# -- the sandboxes ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sandboxes:
    """`revline sandbox hubspot` and `revline sandbox salesforce`, empty, each in a process of its own."""

    def __init__(self, vendor_limits: bool = False) -> None:
        self.vendor_limits = vendor_limits
        self.hs_port, self.sf_port = _free_port(), _free_port()
        self.hs_url = f"http://127.0.0.1:{self.hs_port}"
        self.sf_url = f"https://127.0.0.1:{self.sf_port}"
        self._folder = tempfile.TemporaryDirectory()
        self.ca_file = str(Path(self._folder.name) / "ca.pem")
        self._processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Sandboxes:
        revline = str(Path(sys.executable).with_name("revline"))
        for vendor, port in (("hubspot", self.hs_port), ("salesforce", self.sf_port)):
            self._processes.append(subprocess.Popen(
                [revline, "sandbox", vendor, "--port", str(port), "--records", "0"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.hs_url + "/__sandbox__", timeout=2).raise_for_status()
                ca = httpx.get(self.sf_url + "/__sandbox__/ca.pem", verify=False, timeout=2)
                ca.raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or any(p.poll() is not None for p in self._processes):
                    self.__exit__(None, None, None)
                    raise RuntimeError("the sandboxes did not start") from None
                time.sleep(0.2)
        Path(self.ca_file).write_bytes(ca.content)
        self.sf = httpx.Client(base_url=self.sf_url, verify=self.ca_file, timeout=120)
        self.hs = httpx.Client(base_url=self.hs_url, timeout=120)
        if not self.vendor_limits:
            self.lift_limits()
        # The naive script needs far more than a Developer org's 15,000 daily requests (and seeding spends some).
        self.sf.post("/__sandbox__/faults", json={"daily_limit": LIFTED}).raise_for_status()
        return self

    def lift_limits(self) -> None:
        """HubSpot limits calls per account; lifted so the figures measure the software, not a quota."""
        self.hs.post("/__sandbox__/faults", json={
            "rate_limit": {"per_interval": LIFTED, "interval_ms": 10_000, "daily": LIFTED},
            "search_per_second": 0,
        }).raise_for_status()

    def __exit__(self, *exc: object) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        self._folder.cleanup()

    # -- request logs --

    def calls(self) -> dict[str, Counter[str]]:
        """API calls so far per system and endpoint (Salesforce: those counted against the allocation)."""
        hs = self.hs.get("/__sandbox__/requests", params={"limit": 0}).json()
        sf = self.sf.get("/__sandbox__/requests", params={"limit": 0}).json()
        sf_counts = Counter({k: v for k, v in sf["counts"].items() if not k.startswith(("oauth.", "versions"))})
        assert sum(sf_counts.values()) == sf["api_calls"], (sf_counts, sf["api_calls"])
        return {"hubspot": Counter(hs["byEndpoint"]), "salesforce": sf_counts}

    # -- seeding, as people (not counted in any phase) --

    def seed_hubspot(self, side: Side) -> None:
        ids: list[str] = []
        for start in range(0, len(side.companies), 2500):
            changes = [{"objectType": "companies", "properties": {
                "name": c.name, "domain": c.domain, "phone": c.phone, "city": c.city, "country": c.country,
                "industry": c.industry[0], "annualrevenue": str(c.revenue),
            }} for c in side.companies[start:start + 2500]]
            ids.extend(_created(self.hs.post("/__sandbox__/users/changes", json={"changes": changes}), "id"))
        for start in range(0, len(side.contacts), 2500):
            changes = [{"objectType": "contacts", "properties": {
                "email": p.email, "firstname": p.first, "lastname": p.last, "phone": p.phone, "jobtitle": p.title,
                "lifecyclestage": p.stage, "associatedcompanyid": ids[p.company],
            }} for p in side.contacts[start:start + 2500]]
            _created(self.hs.post("/__sandbox__/users/changes", json={"changes": changes}), "id")

    def seed_salesforce(self, side: Side) -> None:
        person = self.sf.get("/__sandbox__/users").json()["people"][0]["username"]
        token = self.sf.post("/services/oauth2/token", data={
            "grant_type": "password", "client_id": "sandbox", "client_secret": "sandbox",
            "username": person, "password": "sandbox",
        }).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        def create(records: list[dict[str, Any]]) -> list[str]:
            found = []
            for start in range(0, len(records), SF_BATCH):
                answer = self.sf.post("/services/data/v59.0/composite/sobjects", headers=headers,
                                      json={"allOrNone": True, "records": records[start:start + SF_BATCH]})
                answer.raise_for_status()
                for row in answer.json():
                    if not row.get("success"):
                        raise RuntimeError(f"seeding Salesforce failed: {row}")
                    found.append(str(row["id"]))
            return found

        ids = create([{
            "attributes": {"type": "Account"}, "Name": c.name, "Website": c.domain, "Phone": c.phone,
            "BillingCity": c.city, "BillingCountry": c.country, "Industry": c.industry[1], "AnnualRevenue": c.revenue,
        } for c in side.companies])
        create([{
            "attributes": {"type": "Contact"}, "Email": p.email, "FirstName": p.first, "LastName": p.last,
            "Phone": p.phone, "Title": p.title, "AccountId": ids[p.company],
        } for p in side.contacts])

    def seed(self, origin: str, side: Side) -> None:
        (self.seed_hubspot if origin == "hubspot" else self.seed_salesforce)(side)

    # -- what each side holds --

    def hubspot_records(self) -> dict[str, list[dict[str, Any]]]:
        """Every HubSpot company and contact (through the list API: call it outside a measured phase)."""
        wanted = {"companies": "domain,salesforce_id", "contacts": "email,associatedcompanyid,salesforce_id"}
        found: dict[str, list[dict[str, Any]]] = {}
        for name, properties in wanted.items():
            rows: list[dict[str, Any]] = []
            after: str | None = None
            while True:
                params: dict[str, str | int] = {"limit": 100, "properties": properties}
                if after:
                    params["after"] = after
                page = self.hs.get(f"/crm/v3/objects/{name}", params=params,
                                   headers={"Authorization": "Bearer sandbox-token"}).json()
                rows.extend({"id": r["id"], **r["properties"]} for r in page["results"])
                after = ((page.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
            found[name] = rows
        return found

    def salesforce_records(self) -> dict[str, list[dict[str, Any]]]:
        return {t: self.sf.get(f"/__sandbox__/records/{t}").json()["records"] for t in ("Account", "Contact")}


def _created(response: httpx.Response, key: str) -> list[str]:
    response.raise_for_status()
    results = response.json()["results"]
    bad = [r for r in results if r.get("status") != "created"]
    if bad:
        raise RuntimeError(f"seeding HubSpot failed: {bad[:3]}")
    return [str(r[key]) for r in results]


def verify(sandboxes: Sandboxes, sides: Mapping[str, Side]) -> list[str]:
    """Every record on both sides exactly once, with its company link and the other side's id; problems found."""
    expected_domains = {c.domain for s in sides.values() for c in s.companies}
    expected_emails = {p.email for s in sides.values() for p in s.contacts}
    company_of = {p.email: s.companies[p.company].domain for s in sides.values() for p in s.contacts}
    problems: list[str] = []
    hs, sf = sandboxes.hubspot_records(), sandboxes.salesforce_records()

    def check(label: str, values: list[str], expected: set[str]) -> None:
        counted = Counter(v.lower() for v in values if v)
        duplicates = sum(n - 1 for n in counted.values() if n > 1)
        missing = len(expected - set(counted))
        if duplicates or missing or len(values) != len(expected):
            problems.append(f"{label}: {len(values)} records, {missing} missing, {duplicates} duplicated")

    check("HubSpot companies", [r.get("domain") or "" for r in hs["companies"]], expected_domains)
    check("HubSpot contacts", [r.get("email") or "" for r in hs["contacts"]], expected_emails)
    check("Salesforce accounts", [r.get("Website") or "" for r in sf["Account"]], expected_domains)
    check("Salesforce contacts", [r.get("Email") or "" for r in sf["Contact"]], expected_emails)
    hs_domain = {r["id"]: r.get("domain") for r in hs["companies"]}
    sf_domain = {r["Id"]: r.get("Website") for r in sf["Account"]}
    wrong_hs = sum(1 for r in hs["contacts"] if hs_domain.get(str(r.get("associatedcompanyid"))) != company_of.get(
        (r.get("email") or "").lower()))
    wrong_sf = sum(1 for r in sf["Contact"] if sf_domain.get(r.get("AccountId")) != company_of.get(
        (r.get("Email") or "").lower()))
    if wrong_hs:
        problems.append(f"HubSpot contacts without their company: {wrong_hs}")
    if wrong_sf:
        problems.append(f"Salesforce contacts without their account: {wrong_sf}")
    return problems


def verify_ids(sandboxes: Sandboxes) -> list[str]:
    """Revline writes each side's id to the other: HubSpot salesforce_id, Salesforce HubSpot_Id__c."""
    hs, sf = sandboxes.hubspot_records(), sandboxes.salesforce_records()
    problems = []
    for label, rows, key in (("HubSpot companies", hs["companies"], "salesforce_id"),
                             ("HubSpot contacts", hs["contacts"], "salesforce_id"),
                             ("Salesforce accounts", sf["Account"], "HubSpot_Id__c"),
                             ("Salesforce contacts", sf["Contact"], "HubSpot_Id__c")):
        blank = sum(1 for r in rows if not r.get(key))
        if blank:
            problems.append(f"{label} without {key}: {blank} of {len(rows)}")
    return problems


# -- measuring -------------------------------------------------------------------------------------


@dataclass
class Phase:
    """One direction of one run."""

    origin: str  # the system the records were created in
    contacts: int
    companies: int
    seconds: float
    calls: dict[str, Counter[str]]
    peak_mb: float
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return self.contacts + self.companies

    @property
    def title(self) -> str:
        return PHASE_TITLES[self.origin]

    @property
    def total_calls(self) -> int:
        return sum(sum(c.values()) for c in self.calls.values())

    @property
    def floor(self) -> int:
        return floor_calls(self.origin, self.contacts, self.companies)

    @property
    def preset_floor(self) -> int:
        return preset_floor(self.origin, self.contacts, self.companies)


def floor_calls(origin: str, contacts: int, companies: int) -> int:
    """Read once from the source, write once to the target, in the vendors' largest pages and batches."""
    read, write = (HS_SEARCH_PAGE, SF_BATCH) if origin == "hubspot" else (SF_QUERY_PAGE, HS_BATCH)
    return sum(math.ceil(n / read) + math.ceil(n / write) for n in (contacts, companies))


def write_floor(origin: str, contacts: int, companies: int) -> int:
    """The writes part of the floor: the target's batch size."""
    batch = SF_BATCH if origin == "hubspot" else HS_BATCH
    return sum(math.ceil(n / batch) for n in (contacts, companies))


def _is_write(endpoint: str) -> bool:
    """Request-log endpoints that change records (HubSpot batch writes, Salesforce collections and sObject writes)."""
    hubspot = endpoint.startswith(("PATCH ", "DELETE ", "PUT ")) or (
        endpoint.startswith("POST ") and not endpoint.endswith(("/search", "/batch/read")))
    salesforce = endpoint.startswith(("composite.", "sobject.create", "sobject.update", "sobject.upsert",
                                      "sobject.delete", "bulk2.ingest"))
    return hubspot or salesforce


def preset_write_floor(origin: str, contacts: int, companies: int) -> int:
    """The writes part of the preset floor: the target's batches and the id written back to the source."""
    back = HS_BATCH if origin == "hubspot" else SF_BATCH
    return write_floor(origin, contacts, companies) + sum(math.ceil(n / back) for n in (contacts, companies))


def preset_floor(origin: str, contacts: int, companies: int) -> int:
    """The floor of the HubSpot + Salesforce preset done by polling: the plain floor, each copy read back once
    from the target (HubSpot search cannot leave out the integration's own writes), and each new record's id
    written back to its source (the preset's id fields), which the source's change feed returns once more."""
    hs_read, sf_read = HS_SEARCH_PAGE, SF_QUERY_PAGE
    echo, back, back_echo = (sf_read, HS_BATCH, hs_read) if origin == "hubspot" else (hs_read, SF_BATCH, sf_read)
    extra = sum(math.ceil(n / echo) + math.ceil(n / back) + math.ceil(n / back_echo) for n in (contacts, companies))
    return floor_calls(origin, contacts, companies) + extra


def _delta(after: Mapping[str, Counter[str]], before: Mapping[str, Counter[str]]) -> dict[str, Counter[str]]:
    return {system: after[system] - before[system] for system in after}


def _peak_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: a spawned child's ru_maxrss starts at its parent's RSS
    (Linux keeps the high-water mark across the fork and exec), VmHWM at exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def _child(target: Callable[[Connection, dict[str, Any]], None], settings: dict[str, Any]) -> Iterator[Connection]:
    """A spawned process (a clean interpreter: its peak RSS is its own) answering requests on a pipe."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(theirs, settings), daemon=True)
    process.start()
    try:
        yield ours
    finally:
        ours.send(None)
        process.join(30)
        if process.is_alive():
            process.terminate()


def _ask(pipe: Connection, request: Any) -> Any:
    pipe.send(request)
    answer = pipe.recv()
    if isinstance(answer, BaseException):
        raise answer
    return answer


# -- Revline ---------------------------------------------------------------------------------------


def _revline_worker(pipe: Connection, settings: dict[str, Any]) -> None:
    """The worker's process: a SQLite ledger, both connectors, a Worker drained lane by lane."""
    from sqlalchemy import func, select
    from sqlmodel import col

    from connectors import build
    from console.presets import install_hubspot_salesforce
    from sync_core.persistence import lanes
    from sync_core.persistence.database import transaction
    from sync_core.persistence.migrate import upgrade
    from sync_core.persistence.tables import EntityLink, OutboundOp, SyncRun
    from sync_core.services import dispose_engines, ledger_engine
    from sync_core.worker import Worker, WorkerConfig, drain

    folder = tempfile.TemporaryDirectory()
    url = f"sqlite:///{folder.name}/ledger.db"
    upgrade(url)
    engine = ledger_engine(url)
    install_hubspot_salesforce(engine)
    pacing = {} if settings["vendor_limits"] else {"search_per_second": 0}
    connectors = build({
        "hubspot": {"kind": "hubspot", "base_url": settings["hs_url"], "token": "sandbox-token",
                    "index_lag_seconds": 0, **pacing},
        "salesforce": {"kind": "salesforce", "login_url": settings["sf_url"], "client_id": "sandbox",
                       "client_secret": "sandbox", "ca_bundle": settings["ca_file"], "settle_seconds": 0},
    })
    # A page of 2,000 is one SOQL page; the executor fills each write batch to the connector's batch size.
    # drain() renews the lease of the lane it runs, so the default lease holds however long a run takes.
    config = WorkerConfig(page_size=settings["page_size"], max_pages_per_run=100, max_batches_per_run=100)
    worker = Worker(engine, connectors, config)

    def state() -> tuple[dict[tuple[str, str], int], int, int]:
        with transaction(engine) as session:
            links = session.execute(select(col(EntityLink.system), col(EntityLink.object_type), func.count())
                                    .group_by(col(EntityLink.system), col(EntityLink.object_type))).all()
            open_ops = session.scalar(select(func.count()).where(col(OutboundOp.status).in_(("pending", "in_flight"))))
            dead = session.scalar(select(func.count()).where(col(OutboundOp.status) == "dead"))
        return {(s, o): n for s, o, n in links}, int(open_ops or 0), int(dead or 0)

    def activity(after: int) -> tuple[int, int]:
        """The newest lane run, and the records read, ops planned and ops sent by the runs after `after`."""
        with transaction(engine) as session:
            last, read, planned, done = session.execute(
                select(func.max(col(SyncRun.id)), func.sum(col(SyncRun.records_read)),
                       func.sum(col(SyncRun.ops_planned)), func.sum(col(SyncRun.ops_done)))
                .where(col(SyncRun.id) > after)
            ).one()
        return int(last or after), int(read or 0) + int(planned or 0) + int(done or 0)

    def run(expected: dict[str, int]) -> dict[str, Any]:
        """Rounds (every inbound lane polled, then lanes drained) until the records are everywhere and all is quiet.

        Rounds follow each other at once while they read, plan or send anything; otherwise the next
        waits out the rest of a second (a worker's poll interval; SystemModstamp has whole seconds, and
        retries wait for their backoff), so idle polls do not pile up calls. Present: every
        record linked on both sides and the outbox empty. Settled: then an idle round, a second after
        the last work, read nothing and planned nothing (ids written back, echoes read).
        """
        first_run, _ = activity(0)
        started = time.perf_counter()
        present_at: float | None = None
        rounds = idle_rounds = 0
        mark = first_run
        last_work = started
        while True:
            round_started = time.perf_counter()
            with transaction(engine) as session:
                lanes.mark_all_due(session)
            drain(worker)
            rounds += 1
            mark, work = activity(mark)
            links, open_ops, dead = state()
            now = time.perf_counter()
            if present_at is None and not open_ops and all(
                    links.get((s, o), 0) >= expected[o] for s in ("hubspot", "salesforce") for o in expected):
                present_at = now
            if work:
                last_work = now
            elif present_at is not None and not open_ops and round_started - last_work >= 1.0:
                break  # settled
            else:
                idle_rounds += 1
                if now - last_work > settings["stall_seconds"]:
                    raise RuntimeError(f"no progress: links {links}, open ops {open_ops}, dead letters {dead}")
                time.sleep(max(0.0, 1.0 - (now - round_started)))
        settled = time.perf_counter() - started
        with transaction(engine) as session:
            runs = session.execute(
                select(col(SyncRun.system), col(SyncRun.object_type), col(SyncRun.direction), func.count(),
                       func.sum(col(SyncRun.records_read)), func.sum(col(SyncRun.ops_planned)),
                       func.sum(col(SyncRun.ops_done)), func.sum(col(SyncRun.api_calls)),
                       func.sum(func.julianday(col(SyncRun.finished_at)) - func.julianday(col(SyncRun.started_at)))
                       * 86400)
                .where(col(SyncRun.id) > first_run)
                .group_by(col(SyncRun.system), col(SyncRun.object_type), col(SyncRun.direction))
            ).all()
        assert present_at is not None
        return {"seconds": present_at - started, "settled": settled, "peak_mb": _peak_mb(), "rounds": rounds,
                "idle_rounds": idle_rounds, "dead": state()[2], "lanes": [tuple(r) for r in runs]}

    profile_to = os.environ.get("REVLINE_BENCH_PROFILE")
    try:
        while (request := pipe.recv()) is not None:
            try:
                if profile_to:
                    import cProfile

                    profiler = cProfile.Profile()
                    answer = profiler.runcall(run, request)
                    profiler.dump_stats(f"{profile_to}.{len(request)}-{sum(request.values())}")
                    pipe.send(answer)
                    continue
                pipe.send(run(request))
            except Exception as error:  # handed to the parent, which raises it
                pipe.send(RuntimeError(f"{type(error).__name__}: {error}"))
    finally:
        dispose_engines()
        folder.cleanup()


def run_revline(
    sides: Mapping[str, Side], vendor_limits: bool = False, page_size: int = SF_QUERY_PAGE, stall_seconds: float = 60
) -> list[Phase]:
    phases = []
    with Sandboxes(vendor_limits) as sandboxes:
        settings = {"hs_url": sandboxes.hs_url, "sf_url": sandboxes.sf_url, "ca_file": sandboxes.ca_file,
                    "vendor_limits": vendor_limits, "stall_seconds": stall_seconds, "page_size": page_size}
        with _child(_revline_worker, settings) as worker:
            totals = {"company": 0, "contact": 0}
            for origin in PHASES:
                side = sides[origin]
                sandboxes.seed(origin, side)
                totals["company"] += len(side.companies)
                totals["contact"] += len(side.contacts)
                before, load = sandboxes.calls(), os.getloadavg()[0]
                answer = _ask(worker, dict(totals))
                answer["load"] = load
                calls = _delta(sandboxes.calls(), before)
                phases.append(Phase(origin, len(side.contacts), len(side.companies), answer["seconds"], calls,
                                    answer["peak_mb"], answer))
                _log(f"Revline {phases[-1].title}", phases[-1])
        sandboxes.lift_limits()  # the checks list every record
        problems = verify(sandboxes, sides) + verify_ids(sandboxes)
    _checked("Revline", phases, problems)
    return phases


def _checked(label: str, phases: list[Phase], problems: list[str]) -> None:
    """Keep what the final check found with the run (reported, not fatal: the figures still stand)."""
    for phase in phases:
        phase.detail["problems"] = problems
    if problems:
        print(f"{label}: the final check found: " + "; ".join(problems), flush=True)


# -- the naive script ------------------------------------------------------------------------------


def _naive_worker(pipe: Connection, settings: dict[str, Any]) -> None:
    from bench import naive_crm

    hs = naive_crm.connect_hubspot(settings["hs_url"])
    sf = naive_crm.connect_salesforce(settings["sf_url"], settings["ca_file"])
    while (origin := pipe.recv()) is not None:
        try:
            started = time.perf_counter()
            if origin == "hubspot":
                tally = naive_crm.hubspot_to_salesforce(hs, sf)
            else:
                tally = naive_crm.salesforce_to_hubspot(hs, sf)
            pipe.send({"seconds": time.perf_counter() - started, "peak_mb": _peak_mb(),
                       "created": tally.created, "updated": tally.updated})
        except Exception as error:
            pipe.send(RuntimeError(f"{type(error).__name__}: {error}"))


def run_naive(sides: Mapping[str, Side]) -> list[Phase]:
    phases = []
    with Sandboxes() as sandboxes:
        settings = {"hs_url": sandboxes.hs_url, "sf_url": sandboxes.sf_url, "ca_file": sandboxes.ca_file}
        with _child(_naive_worker, settings) as script:
            for origin in PHASES:
                side = sides[origin]
                sandboxes.seed(origin, side)
                before, load = sandboxes.calls(), os.getloadavg()[0]
                answer = _ask(script, origin)
                answer["load"] = load
                calls = _delta(sandboxes.calls(), before)
                phases.append(Phase(origin, len(side.contacts), len(side.companies), answer["seconds"], calls,
                                    answer["peak_mb"], answer))
                _log(f"naive {phases[-1].title}", phases[-1])
        problems = verify(sandboxes, sides)
    _checked("naive", phases, problems)
    return phases


# -- reporting -------------------------------------------------------------------------------------


def _log(label: str, phase: Phase) -> None:
    endpoints = {s: dict(c) for s, c in phase.calls.items()}
    settled = f", settled in {phase.detail['settled']:.1f} s" if "settled" in phase.detail else ""
    print(f"{label}: {phase.records:,} records in {phase.seconds:.1f} s ({phase.records / phase.seconds:,.0f}/s)"
          f"{settled}, {phase.total_calls:,} calls (floor {phase.floor:,}, for the preset {phase.preset_floor:,}), "
          f"peak {phase.peak_mb:.0f} MB; {endpoints}", flush=True)
    for lane in phase.detail.get("lanes", []):
        system, object_type, direction, runs, read, planned, done, calls, seconds = lane
        print(f"   lane {system}/{object_type}/{direction}: {runs} runs, {read} read, {planned} planned, {done} done, "
              f"{calls} calls, {seconds:.1f} s", flush=True)


@dataclass(frozen=True)
class Row:
    label: str
    records: int
    calls: int
    floor: int
    preset_floor: int
    seconds: float
    settled: float | None
    peak_mb: float

    @staticmethod
    def of(label: str, phases: list[Phase]) -> Row:
        settled = [p.detail.get("settled") for p in phases]
        return Row(label, sum(p.records for p in phases), sum(p.total_calls for p in phases),
                   sum(p.floor for p in phases), sum(p.preset_floor for p in phases), sum(p.seconds for p in phases),
                   None if None in settled else sum(s for s in settled if s is not None),
                   max(p.peak_mb for p in phases))


def _rows(phases: list[Phase]) -> list[Row]:
    return [*(Row.of(p.title, [p]) for p in phases), Row.of("both", phases)]


def _hubspot_seconds_at_limits(phases: list[Phase], per_second: float = 19.0, search_per_second: float = 5.0) -> float:
    """The least time HubSpot Professional's limits (190 per 10 s, search 5 per s) allow for these calls."""
    search = sum(n for p in phases for e, n in p.calls["hubspot"].items() if e.endswith("/search"))
    other = sum(n for p in phases for e, n in p.calls["hubspot"].items() if not e.endswith("/search"))
    return max(search / search_per_second, other / per_second)


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head


def report(sides: Mapping[str, Side], runs: list[tuple[str, list[Phase]]], total_seconds: float) -> str:
    contacts = sum(len(s.contacts) for s in sides.values())
    companies = sum(len(s.companies) for s in sides.values())
    revline = runs[0][1]
    lines = [
        "## CRM",
        "",
        f"`python -m bench.crm` (`bench/crm.py`), {time.strftime('%Y-%m-%d')}, on {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, at commit {_commit()}; the whole run took {total_seconds / 60:.0f} "
        "minutes. "
        f"{contacts:,} contacts and {companies:,} companies, half created in HubSpot and half in Salesforce (by a "
        "person; each contact belongs to a company of its side), are backfilled to the other system through the "
        "real connectors against the two sandboxes, each sandbox in a process of its own. Phase one creates the "
        "HubSpot half and runs the worker (SQLite ledger, one thread: every inbound lane polled, then lanes drained, "
        f"page size {SF_QUERY_PAGE:,}) until every record is linked on both sides and the outbox is empty "
        "(*seconds*, and the records/s from them), then until a poll a second later finds nothing to do (*settled*: "
        "echoes read); phase two does the same for the Salesforce half. API calls are counted from the sandboxes' "
        "request logs up to *settled*. The *floor* moves each record once in the vendors' largest pages and "
        f"batches: read the source (HubSpot search {HS_SEARCH_PAGE} per page, SOQL {SF_QUERY_PAGE:,} per page) and "
        f"write the target (HubSpot {HS_BATCH} per batch call, Salesforce {SF_BATCH} per sObject Collections call). "
        "The *preset floor* adds what the HubSpot + Salesforce preset needs on top when changes are polled: each "
        "copy read back once from the target (HubSpot search cannot leave out the integration's own writes), "
        "and each new record's id written back to the system it came from (HubSpot's `salesforce_id`, "
        "Salesforce's `HubSpot_Id__c`, in batches), which that system's change feed then returns once. Peak "
        "memory is the worker process's peak RSS. Rate limits are lifted in both sandboxes (and Revline's search "
        "pacing is off) unless stated, so the seconds measure the software "
        "and the wire rather than a vendor quota.",
        "",
        "| run | direction | records | API calls | calls per record | floor per record | vs floor "
        "| vs preset floor | seconds | records/s | settled (s) | peak memory |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, phases in runs:
        for row in _rows(phases):
            settled = "" if row.settled is None else f"{row.settled:.1f}"
            lines.append(
                f"| {label} | {row.label} | {row.records:,} | {row.calls:,} | {row.calls / row.records:.4f} | "
                f"{row.floor / row.records:.4f} | {row.calls / row.floor:.2f}x | {row.calls / row.preset_floor:.2f}x | "
                f"{row.seconds:.1f} | {row.records / row.seconds:,.0f} | {settled} | {row.peak_mb:.0f} MB |"
            )
    lines += ["", "Revline's calls by endpoint (first run), and how many of them wrote:", ""]
    for phase in revline:
        parts = [f"{system} `{endpoint}` {count:,}" for system, counter in phase.calls.items()
                 for endpoint, count in sorted(counter.items()) if count]
        writes = sum(n for counter in phase.calls.values() for e, n in counter.items() if _is_write(e))
        least = write_floor(phase.origin, phase.contacts, phase.companies)
        preset = preset_write_floor(phase.origin, phase.contacts, phase.companies)
        lines.append(f"- {phase.title}: " + "; ".join(parts) + f". Writes {writes:,} (floor {least:,}, preset "
                     f"floor {preset:,}), reads {phase.total_calls - writes:,} (floor {phase.floor - least:,}, "
                     f"preset floor {phase.preset_floor - preset:,}).")
    lines += ["", "Above the preset floor (first run):", ""]
    for phase in revline:
        writes = sum(n for counter in phase.calls.values() for e, n in counter.items() if _is_write(e))
        preset = preset_write_floor(phase.origin, phase.contacts, phase.companies)
        polls = sum(lane[3] for lane in phase.detail.get("lanes", []) if lane[2] == "inbound")
        describes = sum(n for counter in phase.calls.values() for e, n in counter.items() if "describe" in e)
        extra_reads = phase.total_calls - writes - (phase.preset_floor - preset)
        lines.append(
            f"- {phase.title}: {writes - preset:+,} writes, {extra_reads:+,} reads. The floor counts whole pages "
            f"only; the worker polled its four inbound lanes {polls} times in all (each poll is one call even when "
            "nothing changed, and a poll that catches echoes while writes are still going ends on a part-filled "
            "page), HubSpot re-reads the records of a page's last millisecond "
            f"(a batch write stamps up to 100 records alike), and {describes} describe calls learn Salesforce's "
            "fields once per connector."
        )
    lines += ["", "Where the first run's time went (the slowest lane of each phase, and all lanes together):", ""]
    for phase in revline:
        timed = [(lane[-1], f"{lane[0]}/{lane[1]}/{lane[2]}", lane[7]) for lane in phase.detail.get("lanes", [])]
        if timed:
            seconds, name, calls = max(timed)
            in_lanes = sum(t for t, _, _ in timed)
            lines.append(f"- {phase.title}: `{name}` {seconds:.0f} s for {calls} calls, of {in_lanes:.0f} s in "
                         f"lanes; settled after {phase.detail['settled']:.0f} s.")
    lines += ["", "What each run left behind (every record on both sides once, each contact with its company, "
              "and for Revline each side's id written to the other):", ""]
    for label, phases in runs:
        problems = phases[0].detail.get("problems") or []
        lines.append(f"- {label}: " + ("; ".join(problems) if problems else "all present, nothing missing") + ".")
    loads = ", ".join(f"{label} {max(p.detail['load'] for p in phases):.1f}" for label, phases in runs)
    lines += ["", f"Other work on the machine (1-minute load average as a phase started, the higher of two): {loads}."]
    naive = dict(runs).get("naive script")
    if naive:
        r, n = Row.of("", revline), Row.of("", naive)
        lines += [
            "",
            f"Revline / naive: {r.calls / n.calls:.4f} of the API calls ({n.calls / r.calls:,.0f} times fewer) and "
            f"{(r.records / r.seconds) / (n.records / n.seconds):.1f} times the records per second until every "
            f"record is present ({n.seconds / (r.settled or r.seconds):.1f} times counting until settled). The naive "
            "script (`bench/naive_crm.py`) lists each system page by page and, per record, looks it up in the other "
            "(SOQL on Email / Website; HubSpot by email, or a search on domain), then creates or updates it one at a "
            "time; its second pass also visits the copies the first made (and updates them), as such a script does. "
            "Against the sandboxes a call takes a few milliseconds; HubSpot Professional's limits (190 calls per "
            f"10 s, search 5 per s) alone would hold its HubSpot calls to at least "
            f"{_hubspot_seconds_at_limits(naive) / 60:,.0f} minutes, Revline's to "
            f"{_hubspot_seconds_at_limits(revline):,.0f} s.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--companies", type=int, default=5_000)
    parser.add_argument("--quick", action="store_true", help="2,000 contacts and 500 companies")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument("--no-variants", action="store_true",
                        help="skip Revline under vendor rate limits and at a page size of 500")
    parser.add_argument("--no-write", action="store_true", help="print, but leave docs/benchmarks.md alone")
    args = parser.parse_args()
    contacts, companies = (2_000, 500) if args.quick else (args.contacts, args.companies)
    sides = dataset(contacts, companies, args.seed)
    started = time.perf_counter()
    runs = [("Revline", run_revline(sides))]
    if not args.no_variants:
        runs.append(("Revline, HubSpot Professional rate limits", run_revline(sides, vendor_limits=True)))
        runs.append(("Revline, page size 500", run_revline(sides, page_size=500)))
    if not args.no_naive:
        runs.append(("naive script", run_naive(sides)))
    section = report(sides, runs, time.perf_counter() - started)
    print(section)
    if not args.no_write:
        write_section(section, title="## CRM")
        print("written to docs/benchmarks.md")


if __name__ == "__main__":
    main()

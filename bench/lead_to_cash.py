"""Lead-to-cash latency under load: HubSpot webhooks at 20 events a second, closed-won deals at 5 a second.

The three sandboxes run as `revline sandbox` processes; Revline runs in this process as the demo
does: the webhook receiver (the console's route, served by uvicorn), a worker with four threads
and the ticker polling Salesforce and the ERP every half second, on a SQLite ledger with the
lead-to-cash preset. Before the clock starts, the ERP's catalogue is published to Salesforce and
`--deals` accounts with billing data and opportunities with products wait in negotiation.

Then for `--seconds`: a marketer creates contacts qualified on creation (one HubSpot webhook event
each), 20 a second, and a sales rep wins an opportunity 5 times a second. Latencies are measured
from the moment the bench made the change (it knows exactly) to the milestone Revline recorded:
`lead.created` (the Salesforce write succeeded) and `order.confirmed` (the ERP's confirmed order
read back). API calls come from the three sandboxes' request logs during the run. Results replace
the "Lead to cash" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import col

from bench.engine import write_section
from console.demo_crm import share_sales_team

SECRET = "bench-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def sandboxes(folder: Path, extra: dict[str, list[str]] | None = None) -> Iterator[dict[str, str]]:
    revline = str(Path(sys.executable).with_name("revline"))
    ports = {"hubspot": _free_port(), "salesforce": _free_port(), "erp": _free_port()}
    # By default the CRMs start empty; the ERP with its seeded catalogue, its business clock stopped.
    extra = extra or {"hubspot": ["--records", "0"], "salesforce": ["--records", "0"], "erp": ["--pace", "0"]}
    processes = [subprocess.Popen([revline, "sandbox", vendor, "--port", str(port), *extra[vendor]],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for vendor, port in ports.items()]  # fmt: skip
    urls = {"hubspot": f"http://127.0.0.1:{ports['hubspot']}", "salesforce": f"https://127.0.0.1:{ports['salesforce']}",
            "erp": f"http://127.0.0.1:{ports['erp']}"}  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(urls["hubspot"] + "/__sandbox__", timeout=2).raise_for_status()
                httpx.get(urls["erp"] + "/web/version", timeout=2).raise_for_status()
                ca = httpx.get(urls["salesforce"] + "/__sandbox__/ca.pem", verify=False, timeout=2)
                ca.raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                    raise RuntimeError("the sandboxes did not start") from None
                time.sleep(0.2)
        (folder / "ca.pem").write_bytes(ca.content)
        urls["ca"] = str(folder / "ca.pem")
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:  # keep-alive connections hold uvicorn's graceful shutdown
                process.kill()


def _calls(urls: dict[str, str]) -> dict[str, int]:
    hs = httpx.get(urls["hubspot"] + "/__sandbox__/requests", params={"limit": 0}).json()
    sf = httpx.get(urls["salesforce"] + "/__sandbox__/requests", params={"limit": 0}, verify=urls["ca"]).json()
    erp = httpx.get(urls["erp"] + "/__sandbox__/requests", params={"limit": 0}).json()
    return {"hubspot": int(hs.get("total", 0)), "salesforce": int(sf["api_calls"]),
            "erp": int(erp.get("total", erp.get("api_calls", 0)))}  # fmt: skip


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def run(seconds: float, deals: int) -> str:
    folder = Path(tempfile.mkdtemp(prefix="revline-bench-l2c-"))
    url = f"sqlite:///{folder / 'ledger.db'}"
    os.environ.update(REVLINE_DATABASE_URL=url, REVLINE_HUBSPOT_APP_SECRET=SECRET)
    from connectors import build
    from connectors.hubspot.sandbox.testing import serve_in_thread
    from console.api import routes
    from console.presets import install_lead_to_cash
    from sync_core.domain.handoff import Assignment, HandoffRules
    from sync_core.persistence.database import snapshot
    from sync_core.persistence.migrate import upgrade
    from sync_core.persistence.tables import EntityLink, OutboundOp, TraceSpan
    from sync_core.scheduling import Ticker, default_schedules
    from sync_core.services import lead_handoff, ledger_engine, trace
    from sync_core.worker import Worker, WorkerConfig

    upgrade(url)
    engine = ledger_engine(url)
    with sandboxes(folder) as urls, serve_in_thread(routes()) as receiver:
        sf = httpx.Client(base_url=urls["salesforce"] + "/__sandbox__", verify=urls["ca"], timeout=30)
        hs = httpx.Client(base_url=urls["hubspot"] + "/__sandbox__", timeout=30)
        sf.post("/faults", json={"daily_limit": 1_000_000_000})
        hs.post("/faults", json={"rate_limit": {"per_interval": 1_000_000_000, "interval_ms": 10_000,
                                                "daily": 1_000_000_000}, "search_per_second": 0})  # fmt: skip
        hs.put("/webhooks/settings", json={"targetUrl": f"{receiver}/webhooks/hubspot", "secret": SECRET,
                                           "batchWindowMs": 50})  # fmt: skip
        for event in ("contact.creation", "contact.propertyChange"):
            hs.post("/webhooks/subscriptions", json={"eventType": event})
        install_lead_to_cash(engine)
        people = share_sales_team(urls["hubspot"], urls["salesforce"], urls["ca"])[:3]
        lead_handoff.save_rules(engine, HandoffRules(assignment=Assignment(owners=tuple(people))), "bench")
        connectors = build({
            "hubspot": {"kind": "hubspot", "base_url": urls["hubspot"], "token": "sandbox-token",
                        "index_lag_seconds": 1, "search_per_second": 0},
            "salesforce": {"kind": "salesforce", "login_url": urls["salesforce"], "client_id": "sandbox",
                           "client_secret": "sandbox", "ca_bundle": urls["ca"], "settle_seconds": 0, "leads": True},
            "erp": {"kind": "erp", "url": urls["erp"], "database": "revline", "login": "admin",
                    "api_key": "sandbox-key"},
        })  # fmt: skip
        worker = Worker(engine, connectors, WorkerConfig(idle_sleep=0.05))
        ticker = Ticker(engine, default_schedules(0.5), "bench")
        worker.start(4)
        ticker.start()
        try:
            # the catalogue reaches Salesforce; accounts and opportunities wait in negotiation
            def published() -> list[dict[str, Any]]:
                entries = sf.get("/records/PricebookEntry").json()["records"]
                products = {r["Id"]: r for r in sf.get("/records/Product2").json()["records"]}
                return [e for e in entries if products.get(e["Product2Id"], {}).get("ProductCode")]

            deadline = time.monotonic() + 120
            while not published():
                if time.monotonic() > deadline:
                    raise RuntimeError("the ERP's catalogue did not reach Salesforce")
                time.sleep(0.5)
            entry = published()[0]
            opportunities = []
            for n in range(deals):
                account = sf.post("/records/Account", json={"fields": {
                    "Name": f"Bench Customer {n}", "Website": f"customer-{n}.example", "BillingStreet": f"{n} Quay",
                    "BillingPostalCode": "20095", "BillingCity": "Hamburg", "BillingCountry": "Germany",
                    "VAT_Number__c": f"DE{100000000 + n}"}}).json()["id"]  # fmt: skip
                opportunity = sf.post("/records/Opportunity", json={"fields": {
                    "Name": f"Bench deal {n}", "AccountId": account, "StageName": "Negotiation/Review",
                    "CloseDate": "2026-12-31"}}).json()["id"]  # fmt: skip
                sf.post("/records/OpportunityLineItem", json={"fields": {
                    "OpportunityId": opportunity, "PricebookEntryId": entry["Id"], "Quantity": 2,
                    "UnitPrice": entry["UnitPrice"]}})  # fmt: skip
                opportunities.append(opportunity)
            _settle(engine, OutboundOp)
            before = _calls(urls)

            sent_leads: dict[str, float] = {}
            sent_deals: dict[str, float] = {}

            def marketer() -> None:
                for n in range(int(seconds * 20)):
                    email = f"lead-{n}@prospect-{n % 50}.example"
                    sent_leads[email] = time.time()
                    hs.post("/users/changes", json={"objectType": "contacts", "properties": {
                        "email": email, "firstname": "Bench", "lastname": f"Lead {n}", "company": f"Prospect {n % 50}",
                        "lifecyclestage": "marketingqualifiedlead"}})  # fmt: skip
                    time.sleep(max(0.0, sent_leads[email] + 0.05 - time.time()))

            def rep() -> None:
                for opportunity in opportunities[: int(seconds * 5)]:
                    sent_deals[opportunity] = time.time()
                    sf.patch(f"/records/Opportunity/{opportunity}", json={"fields": {"StageName": "Closed Won"}})
                    time.sleep(max(0.0, sent_deals[opportunity] + 0.2 - time.time()))

            threads = [threading.Thread(target=marketer), threading.Thread(target=rep)]
            started = time.time()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            load_seconds = time.time() - started
            done_by = time.monotonic() + 120
            leads: dict[str, float] = {}
            orders: dict[str, float] = {}
            while time.monotonic() < done_by and (len(leads) < len(sent_leads) or len(orders) < len(sent_deals)):
                time.sleep(1)
                with snapshot(engine) as session:
                    for email in set(sent_leads) - set(leads):
                        found = trace.search(engine, email, 1)
                        if found:
                            at = session.scalar(select(col(TraceSpan.started_at)).where(
                                col(TraceSpan.correlation_id) == found[0], col(TraceSpan.name) == "lead.created"))
                            if at is not None:
                                leads[email] = at.timestamp() - sent_leads[email]
                    for opportunity in set(sent_deals) - set(orders):
                        cid = session.scalar(select(col(EntityLink.canonical_id)).where(
                            col(EntityLink.system) == "salesforce", col(EntityLink.external_id) == opportunity))
                        if cid is None:
                            continue
                        story = trace.correlation_of(session, str(cid))
                        at = session.scalar(select(col(TraceSpan.started_at)).where(
                            col(TraceSpan.correlation_id) == story, col(TraceSpan.name) == "order.confirmed"))
                        if at is not None:
                            orders[opportunity] = at.timestamp() - sent_deals[opportunity]
            after = _calls(urls)
        finally:
            ticker.stop()
            worker.stop()
            for connector in connectors.values():
                close = getattr(connector, "close", None)
                if close is not None:
                    close()
    calls = {k: after[k] - before[k] for k in after}
    return report(seconds, load_seconds, sent_leads, leads, sent_deals, orders, calls)


def _settle(engine: Any, table: Any, timeout: float = 120) -> None:
    from sqlalchemy import func

    from sync_core.persistence.database import snapshot

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with snapshot(engine) as session:
            busy = session.scalar(select(func.count()).select_from(table).where(
                col(table.status).in_(["pending", "in_flight"])))  # fmt: skip
        if not busy:
            time.sleep(2)
            return
        time.sleep(0.5)


def report(seconds: float, load_seconds: float, sent_leads: dict[str, float], leads: dict[str, float],
           sent_deals: dict[str, float], orders: dict[str, float], calls: dict[str, int]) -> str:
    def row(name: str, sent: int, measured: dict[str, float]) -> str:
        values = list(measured.values())
        if not values:
            return f"| {name} | {sent} | 0 | - | - | - |"
        return (f"| {name} | {sent} | {len(values)} | {statistics.median(values):.2f} s | "
                f"{_quantile(values, 0.95):.2f} s | {max(values):.2f} s |")  # fmt: skip

    handled = len(leads) + len(orders)
    total = sum(calls.values())
    per = f"{total / handled:.1f}" if handled else "-"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    return (
        "## Lead to cash\n\n"
        f"`bench/lead_to_cash.py`, {stamp}, {platform.machine()}, {os.cpu_count()} cores: {seconds:.0f} s of load "
        f"(took {load_seconds:.0f} s) - HubSpot contacts created qualified at 20 a second (each a webhook event), "
        "Salesforce opportunities won at 5 a second; Revline in one process (webhook receiver, worker with 4 "
        "threads, ticker polling every 0.5 s), SQLite ledger, the three sandboxes as processes. Latency runs from "
        "the change to the milestone Revline recorded. Target: p95 under 2 s for both.\n\n"
        "| flow | sent | done | p50 | p95 | slowest |\n|---|---:|---:|---:|---:|---:|\n"
        f"{row('lead handoff (HubSpot change -> Salesforce lead written)', len(sent_leads), leads)}\n"
        f"{row('closed won -> confirmed ERP order', len(sent_deals), orders)}\n\n"
        f"API calls during the run: HubSpot {calls['hubspot']:,}, Salesforce {calls['salesforce']:,}, "
        f"ERP {calls['erp']:,}; {per} per lead or order handled (polling included).\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--deals", type=int, default=150)
    args = parser.parse_args()
    section = run(args.seconds, max(args.deals, int(args.seconds * 5)))
    write_section(section, title="## Lead to cash")
    print(section)


if __name__ == "__main__":
    main()

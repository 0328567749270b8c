"""Engine throughput: N companies synced between two in-memory systems, on SQLite and PostgreSQL.

SQLite: one worker, in this process (its peak RSS is the engine's; the systems live in a
separate process, reached over a local socket as a vendor API would be). PostgreSQL: two
`revline worker` processes. Each run measures wall time from the first lane run until
every record is in the target and the outbox is empty, then the echo of the writes.
Results replace the "Engine" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import func, select

from console.demo import install_policy
from sync_core.persistence import lanes
from sync_core.persistence.database import transaction
from sync_core.persistence.migrate import upgrade
from sync_core.persistence.tables import OutboundOp
from sync_core.services import dispose_engines, ledger_engine
from sync_core.testing import InMemoryConnector, InMemorySystem, connect_systems, serve_systems
from sync_core.worker import Worker, WorkerConfig, drain, tune_garbage_collector

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
PG_ADMIN = os.environ.get("REVLINE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BATCH = 200  # Salesforce's sObject Collections limit: the larger of the two CRMs' batch sizes
TARGET_PER_SECOND = 5_000  # the vendors' APIs allow about 700 records/s: the engine must never be the limit
TARGET_PEAK_MB = 300


@dataclass(frozen=True)
class Result:
    setup: str
    records: int
    seconds: float
    peak_mb: float
    api_calls: int
    cpu_seconds: float  # the worker processes' CPU time (user + system) over the same span

    @property
    def per_second(self) -> float:
        return self.records / self.seconds

    @property
    def per_cpu_second(self) -> float:
        return self.records / self.cpu_seconds


def _seed(system: InMemorySystem, records: int) -> None:
    for start in range(0, records, 5000):
        rows = [
            {"name": f"Company {n}", "domain": f"c{n}.example", "city": "Lyon", "phone": f"+33 4 {n:08d}"}
            for n in range(start, min(records, start + 5000))
        ]
        system.put_many("company", rows)


def _open_ops(url: str) -> int:
    with transaction(ledger_engine(url)) as session:
        return int(session.scalar(select(func.count()).where(OutboundOp.status.in_(("pending", "in_flight")))) or 0)  # type: ignore[attr-defined]


def run_sqlite(records: int) -> Result:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        upgrade(url)
        engine = ledger_engine(url)
        install_policy(engine)
        manager = serve_systems()
        try:
            system = connect_systems(manager.address)  # type: ignore[arg-type]
            marketing, sales = system("marketing"), system("sales")
            _seed(marketing, records)
            worker = Worker(
                engine,
                {
                    "marketing": InMemoryConnector(marketing, name="marketing", max_batch_size=BATCH),
                    "sales": InMemoryConnector(sales, name="sales", max_batch_size=BATCH),
                },
                WorkerConfig(page_size=1000, max_pages_per_run=20, max_batches_per_run=20),
            )
            tune_garbage_collector()  # as `revline worker` does
            started = time.perf_counter()
            cpu = time.process_time()
            while sales.count("company") < records or _open_ops(url):
                with transaction(engine) as session:
                    lanes.mark_all_due(session)
                drain(worker)
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu
            calls = marketing.call_count() + sales.call_count()
        finally:
            manager.shutdown()
            dispose_engines()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Result("SQLite, 1 worker (1 thread)", records, seconds, peak, calls, cpu_seconds)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_postgres(records: int, workers: int = 2) -> Result:
    name = f"revline_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    manager = serve_systems()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        upgrade(url)
        install_policy(ledger_engine(url))
        host, port = manager.address  # type: ignore[misc]
        system = connect_systems((host, port))
        marketing, sales = system("marketing"), system("sales")
        _seed(marketing, records)
        address = f"{host}:{port}"
        connections = {s: {"kind": "memory", "address": address, "batch_size": BATCH} for s in ("marketing", "sales")}
        env = dict(os.environ, REVLINE_DATABASE_URL=url, REVLINE_CONNECTIONS=json.dumps(connections),
                   REVLINE_POLL_SECONDS="1", REVLINE_PAGE_SIZE="1000")
        revline = Path(sys.executable).with_name("revline")
        started = time.perf_counter()
        processes = [
            subprocess.Popen([str(revline), "worker", "--threads", "2"], env=env, stderr=subprocess.DEVNULL)
            for _ in range(workers)
        ]
        while sales.count("company") < records or _open_ops(url):
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        peak = max(_peak_mb(p.pid) for p in processes)
        cpu_seconds = sum(_cpu_seconds(p.pid) for p in processes)
        calls = marketing.call_count() + sales.call_count()
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(30)
        manager.shutdown()
        dispose_engines()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return Result(
        f"PostgreSQL, {workers} worker processes (2 threads each)", records, seconds, peak, calls, cpu_seconds
    )


def report(results: list[Result]) -> str:
    lines = [
        "## Engine",
        "",
        f"`make bench` (`bench/engine.py`), {time.strftime('%Y-%m-%d')}, on {os.cpu_count()} cores, "
        f"Python {platform.python_version()}. Companies created in one in-memory system are synced to the "
        f"other (batches of {BATCH}) and read back as echoes; time runs from the first lane run until every "
        "record is in the target and the outbox is empty. Peak memory is the worker process's peak RSS. "
        "*Records/s* is wall-clock; *records per CPU-second* divides by the CPU time the worker processes "
        "used over the same span (the in-memory systems' own process not counted), which a busy machine "
        "disturbs less.",
        "",
        "| setup | records | seconds | records/s | CPU seconds | records per CPU-second | peak memory "
        "| API calls per record |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.setup} | {r.records:,} | {r.seconds:.1f} | {r.per_second:,.0f} | {r.cpu_seconds:.1f} | "
            f"{r.per_cpu_second:,.0f} | {r.peak_mb:.0f} MB | {r.api_calls / r.records:.3f} |"
        )
    sqlite = next((r for r in results if r.setup.startswith("SQLite")), None)
    if sqlite is not None:
        met = sqlite.per_second >= TARGET_PER_SECOND and sqlite.peak_mb < TARGET_PEAK_MB
        lines += [
            "",
            f"Target: at least {TARGET_PER_SECOND:,} records/s on SQLite with one worker, peak memory under "
            f"{TARGET_PEAK_MB} MB: **{'met' if met else 'not met'}** "
            f"({sqlite.per_second:,.0f} records/s, {sqlite.peak_mb:.0f} MB; 1-minute load average "
            f"{os.getloadavg()[0]:.1f} when the runs ended).",
        ]
    return "\n".join(lines) + "\n"


def write_section(section: str, title: str = "## Engine") -> None:
    """Replace the section starting with `title` in docs/benchmarks.md, keeping the others."""
    DOCS.parent.mkdir(exist_ok=True)
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n\nFigures measured by `make bench`.\n\n"
    if title in text:
        head, rest = text.split(title, 1)
        tail = rest[rest.find("\n## ") + 1 :] if "\n## " in rest else ""
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOCS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave docs/benchmarks.md alone")
    args = parser.parse_args()
    results = []
    if args.only in (None, "sqlite"):
        results.append(run_sqlite(args.records))
        print(results[-1], f"{results[-1].per_second:,.0f} records/s", flush=True)
    if args.only in (None, "postgres"):
        results.append(run_postgres(args.records))
        print(results[-1], f"{results[-1].per_second:,.0f} records/s", flush=True)
    if args.no_write:
        return
    write_section(report(results))
    print(f"written to {DOCS}")


if __name__ == "__main__":
    main()

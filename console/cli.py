"""The `revline` command: demo, console, worker, migrate."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from sync_core.persistence.migrate import upgrade
from sync_core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("revline")


def reflex_env(settings: Settings) -> dict[str, str]:
    """The environment Reflex needs on a machine without internet access to its own services."""
    env = dict(os.environ)
    env.update(
        REVLINE_DATABASE_URL=settings.database_url,
        REFLEX_USE_SYSTEM_BUN="1",
        REFLEX_TELEMETRY_ENABLED="false",
        REFLEX_CHECK_LATEST_VERSION="false",
        NPM_CONFIG_REGISTRY=env.get("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org/"),
    )
    return env


def start_console(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    """Start the Reflex console in production mode, in its own process group."""
    reflex = Path(sys.executable).with_name("reflex")
    command = [
        str(reflex),
        "run",
        "--env",
        "prod",
        "--frontend-port",
        str(port),
        "--backend-port",
        str(port),
        "--backend-host",
        "127.0.0.1",
    ]
    return subprocess.Popen(command, cwd=ROOT, env=reflex_env(settings), start_new_session=True)


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    upgrade(settings.database_url)
    print(f"ledger at {settings.database_url} is up to date")
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from connectors import build
    from sync_core.scheduling import Ticker, default_schedules
    from sync_core.services import ledger_engine
    from sync_core.worker import Worker, WorkerConfig, worker_id

    engine = ledger_engine(settings.database_url)
    connectors = build(settings.connections)
    if not connectors:
        print("no connections configured: set REVLINE_CONNECTIONS (see README)", file=sys.stderr)
        return 2
    config = WorkerConfig(lease_seconds=settings.lease_seconds, page_size=settings.page_size)
    worker = Worker(engine, connectors, config)
    ticker = Ticker(engine, default_schedules(settings.poll_seconds), worker_id())
    worker.start(args.threads)
    ticker.start()
    log.info("worker %s running %d threads over %s", worker.name, args.threads, ", ".join(connectors))
    _wait_for_signal()
    ticker.stop()
    worker.stop()
    return 0


def cmd_console(settings: Settings, args: argparse.Namespace) -> int:
    process = start_console(settings, args.port)
    try:
        return process.wait()
    except KeyboardInterrupt:
        stop_process_group(process)
        return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from console.demo import SYSTEMS, TrafficGenerator, install_policy
    from sync_core.scheduling import Ticker, default_schedules
    from sync_core.secrets import load_or_create_key
    from sync_core.services import ledger_engine
    from sync_core.testing import InMemoryConnector, connect_systems, serve_systems
    from sync_core.worker import Worker, WorkerConfig, worker_id

    load_or_create_key(settings.secret_key, settings.secret_file)
    upgrade(settings.database_url)
    engine = ledger_engine(settings.database_url)
    install_policy(engine)
    host, port = settings.demo_systems_address.rsplit(":", 1)
    manager = serve_systems((host, int(port)))
    system = connect_systems((host, int(port)))
    systems = {name: system(name) for name in SYSTEMS}
    generator = TrafficGenerator(systems)
    generator.seed()
    worker = Worker(
        engine,
        {name: InMemoryConnector(s, name=name) for name, s in systems.items()},
        WorkerConfig(lease_seconds=settings.lease_seconds, page_size=settings.page_size),
    )
    ticker = Ticker(engine, default_schedules(min(settings.poll_seconds, 2.0)), worker_id())
    worker.start(settings.worker_threads)
    ticker.start()
    generator.start(args.interval)
    console = None if args.no_console else start_console(settings, args.port)
    print(
        f"Revline demo: console at http://localhost:{args.port}  ledger {settings.database_url}", flush=True
    )
    print(f"in-memory systems at {settings.demo_systems_address}; Ctrl-C stops", flush=True)
    try:
        _wait_for_signal()
    finally:
        generator.stop()
        ticker.stop()
        worker.stop()
        if console is not None:
            stop_process_group(console)
        manager.shutdown()
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="revline",
        description="Revline keeps HubSpot, Salesforce and the ERP in step. Configuration comes from "
        "REVLINE_* environment variables (REVLINE_DATABASE_URL, REVLINE_SECRET_KEY, ...; see the README).",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run everything in one go: ledger, in-memory systems, a worker, the console and live traffic",
        description="Migrate the ledger, start two in-memory CRMs with a default ownership policy, a worker, "
        "a traffic generator with occasional faults, and the console.",
    )
    demo.add_argument("--port", type=int, default=3000, help="console port (default 3000)")
    demo.add_argument("--interval", type=float, default=0.5, help="seconds between traffic bursts")
    demo.add_argument("--no-console", action="store_true", help="run without the web console")
    demo.set_defaults(run=cmd_demo)
    console = commands.add_parser(
        "console",
        help="serve the web console (and its /api/status and /metrics) on one port",
        description="Start the Reflex console in production mode against REVLINE_DATABASE_URL.",
    )
    console.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    console.set_defaults(run=cmd_console)
    worker = commands.add_parser(
        "worker",
        help="run the sync engine: a ticker and threads that claim lanes from the ledger",
        description="Run lanes for the connections in REVLINE_CONNECTIONS. Start as many workers as you like "
        "against one PostgreSQL ledger; leases make each lane run in one place at a time.",
    )
    worker.add_argument("--threads", type=int, default=2, help="lane-running threads (default 2)")
    worker.set_defaults(run=cmd_worker)
    migrate = commands.add_parser(
        "migrate",
        help="create or upgrade the ledger's tables",
        description="Apply the Alembic migrations shipped with Revline to REVLINE_DATABASE_URL.",
    )
    migrate.set_defaults(run=cmd_migrate)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    return int(args.run(Settings(), args))


if __name__ == "__main__":
    sys.exit(main())

"""The `revline` command: demo, console, worker, migrate."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine

from console.demo import FAULT_EVERY
from sync_core.domain.access import Role
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


def start_console(settings: Settings, port: int, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
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
    env = {**reflex_env(settings), **(extra_env or {})}
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _stop_event() -> threading.Event:
    """An event that SIGINT (Ctrl-C) or SIGTERM sets."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _wait_for_signal() -> None:
    _stop_event().wait()


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    upgrade(settings.database_url)
    print(f"ledger at {settings.database_url} is up to date")
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from connectors import build
    from sync_core.scheduling import Ticker, default_schedules
    from sync_core.secrets import existing_key
    from sync_core.services import connections, ledger_engine
    from sync_core.worker import Worker, WorkerConfig, tune_garbage_collector, worker_id

    engine = ledger_engine(settings.database_url)
    # Connections saved in the ledger, overridden by any given in REVLINE_CONNECTIONS.
    key = existing_key(settings.secret_key, settings.secret_file)
    connectors = build({**connections.load(engine, key), **settings.connections})
    if not connectors:
        print("no connections configured: save one in the ledger or set REVLINE_CONNECTIONS", file=sys.stderr)
        return 2
    config = WorkerConfig(lease_seconds=settings.lease_seconds, page_size=settings.page_size)
    worker = Worker(engine, connectors, config)
    ticker = Ticker(engine, default_schedules(settings.poll_seconds), worker_id())
    tune_garbage_collector()
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


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> int:
    """Create a console user; the password comes from the terminal (asked twice), stdin, or is generated."""
    import getpass

    from sync_core.services import access, ledger_engine

    if args.generate:
        password = secrets.token_urlsafe(12)
    elif sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("the two passwords differ; nothing was created", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    upgrade(settings.database_url)
    try:
        access.add_user(ledger_engine(settings.database_url), args.name, args.role, password, actor="revline user add")
    except ValueError as exc:
        print(f"cannot add {args.name!r}: {exc}", file=sys.stderr)
        return 2
    print(f"user {args.name} ({args.role}) can sign in now")
    if args.generate:
        print(f"password: {password}")
    return 0


DEMO_ADMIN = "admin"


def demo_admin(engine: Engine) -> str:
    """Make sure the demo's admin exists, give it a fresh password, and say how to sign in."""
    from sync_core.services import access

    password = secrets.token_urlsafe(12)
    if any(user.name == DEMO_ADMIN for user in access.list_users(engine)):
        access.set_password(engine, DEMO_ADMIN, password, actor="revline demo")
    else:
        access.add_user(engine, DEMO_ADMIN, Role.ADMIN, password, actor="revline demo")
    print(f"Revline demo: sign in as {DEMO_ADMIN} with password {password}", flush=True)
    return password


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    return demo_crm(settings, args) if args.systems == "sandboxes" else demo_memory(settings, args)


def demo_crm(settings: Settings, args: argparse.Namespace) -> int:
    """The demo on the HubSpot and Salesforce sandboxes."""
    from connectors import build
    from console.demo_crm import CrmTraffic, Sandboxes, connect
    from sync_core.scheduling import Ticker, default_schedules
    from sync_core.secrets import load_or_create_key
    from sync_core.services import connections, ledger_engine
    from sync_core.worker import Worker, WorkerConfig, worker_id

    for noisy in ("apscheduler", "httpx"):  # not a line per tick or per request
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stop = _stop_event()
    key = load_or_create_key(settings.secret_key, settings.secret_file)
    upgrade(settings.database_url)
    engine = ledger_engine(settings.database_url)
    sandboxes = Sandboxes(*args.sandbox_ports)
    console = None
    worker = ticker = traffic = None
    code = 0
    try:
        sandboxes.wait_ready()
        console_url = None if args.no_console else f"http://127.0.0.1:{args.port}"
        connect(engine, sandboxes, key, console_url)
        demo_admin(engine)
        worker = Worker(
            engine, build(connections.load(engine, key)),
            WorkerConfig(lease_seconds=settings.lease_seconds, page_size=settings.page_size),
        )
        # Reconciliation every minute and a full pass every five rather than nightly: the demo's mismatches
        # show up while you watch.
        schedules = default_schedules(min(settings.poll_seconds, 2.0), reconcile_seconds=60, full_reconcile_seconds=300)
        ticker = Ticker(engine, schedules, worker_id())
        worker.start(settings.worker_threads)
        ticker.start()
        traffic = CrmTraffic(sandboxes, seed=args.seed, fault_every=args.fault_every)
        traffic.start(args.interval)
        if console_url is not None:
            console = start_console(settings, args.port, {"REVLINE_HUBSPOT_APP_SECRET": "sandbox-secret"})
            print(f"Revline demo: console at http://localhost:{args.port}", flush=True)
        print(
            f"ledger {settings.database_url}; HubSpot sandbox {sandboxes.hubspot_url}, Salesforce sandbox "
            f"{sandboxes.salesforce_url}; Ctrl-C stops", flush=True,
        )
        while not stop.wait(1):
            if console is not None and console.poll() is not None:
                log.error("the console exited with %s; stopping the demo", console.returncode)
                code = 1
                break
    finally:
        for part in (traffic, ticker, worker):
            if part is not None:
                part.stop()
        if console is not None:
            stop_process_group(console)
        sandboxes.stop()
    return code


def demo_memory(settings: Settings, args: argparse.Namespace) -> int:
    """The demo on two in-memory CRMs (no sandboxes), with scripted faults."""
    from console.demo import SYSTEMS, TrafficGenerator, install_policy
    from sync_core.scheduling import Ticker, default_schedules
    from sync_core.secrets import load_or_create_key
    from sync_core.services import connections, ledger_engine
    from sync_core.testing import InMemoryConnector, connect_systems, serve_systems
    from sync_core.worker import Worker, WorkerConfig, worker_id

    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # not a line per tick
    # Handlers first: the systems' server process inherits them, so a Ctrl-C or a SIGTERM sent to
    # the whole process group stops the demo in order instead of pulling the systems from under it.
    stop = _stop_event()
    key = load_or_create_key(settings.secret_key, settings.secret_file)
    upgrade(settings.database_url)
    engine = ledger_engine(settings.database_url)
    install_policy(engine)
    demo_admin(engine)
    address = args.systems_address or _address(settings.demo_systems_address)
    manager = serve_systems(address)
    # Saved like any connection: the console lists and tests them, and extra `revline worker`s find them.
    for name in SYSTEMS:
        connections.save(engine, name, "memory", {"address": f"{address[0]}:{address[1]}", "system": name}, {}, key,
                         "revline demo")  # fmt: skip
    system = connect_systems(address)
    systems = {name: system(name) for name in SYSTEMS}
    generator = TrafficGenerator(systems, seed=args.seed, fault_every=args.fault_every)
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
    host, port = address
    if console is not None:
        print(f"Revline demo: console at http://localhost:{args.port}", flush=True)
    print(f"ledger {settings.database_url}; in-memory systems at {host}:{port}; Ctrl-C stops", flush=True)
    code = 0
    try:
        while not stop.wait(1):
            if console is not None and console.poll() is not None:
                log.error("the console exited with %s; stopping the demo", console.returncode)
                code = 1
                break
    finally:
        generator.stop()
        ticker.stop()
        worker.stop()
        if console is not None:
            stop_process_group(console)
        manager.shutdown()
    return code


def _ports(text: str) -> tuple[int, int, int]:
    """HUBSPOT,SALESFORCE,ERP ports, as argparse reads them."""
    parts = text.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected three ports HUBSPOT,SALESFORCE,ERP, not {text!r}")
    hubspot, salesforce, erp = (int(p) for p in parts)
    return hubspot, salesforce, erp


def _address(text: str) -> tuple[str, int]:
    """HOST:PORT, as argparse reads it."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return host, int(port)


SANDBOXES = {"hubspot": 8101, "salesforce": 8102, "erp": 8103}


def cmd_sandbox(_settings: Settings, args: argparse.Namespace) -> int:
    port = args.port or SANDBOXES[args.vendor]
    if args.vendor == "hubspot":
        from connectors.hubspot.sandbox import serve as serve_hubspot

        serve_hubspot(port=port, seed=args.seed, records=args.records)
    elif args.vendor == "erp":
        from connectors.erp.sandbox import serve as serve_erp

        serve_erp(port=port, seed=args.seed, version=args.version, records=args.records, pace=args.pace)
    else:
        from connectors.salesforce.sandbox import serve as serve_salesforce

        serve_salesforce(port=port, seed=args.seed, records=args.records)
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
        help="run everything in one go: ledger, sandboxes, a worker, the console and live traffic",
        description="Migrate the ledger, start the HubSpot, Salesforce and ERP (Odoo) sandboxes (8101, 8102, "
        "8103) under the lead-to-cash preset, a worker, people at work in all three (leads qualified and "
        "converted, deals won with products, the ERP delivering, invoicing and collecting), HubSpot webhooks "
        "into the console, reconciliation every minute, and the console. Faults come in turn: locked rows, "
        "outages, values a system refuses, unknown products, prices off the list, missing VAT numbers, a "
        "deleted record. With --systems memory, two in-memory CRMs instead, with scripted faults in turn: a "
        "write that sales rejects once (a dead letter a retry fixes), a malformed email (a dead letter that "
        "needs the record fixed) and a rate limit.",
    )
    demo.add_argument(
        "--systems", choices=["sandboxes", "memory"], default="sandboxes",
        help="the HubSpot, Salesforce and ERP sandboxes (default) or two in-memory CRMs",
    )
    demo.add_argument("--port", type=int, default=3000, help="console port (default 3000)")
    demo.add_argument(
        "--interval", type=float, default=0.5, help="seconds between traffic bursts of 3 steps (default 0.5)"
    )
    demo.add_argument("--seed", type=int, default=7, help="seed of the traffic generator's random choices (default 7)")
    demo.add_argument(
        "--fault-every",
        type=int,
        default=FAULT_EVERY,
        metavar="N",
        help=f"script a fault every N traffic steps, 0 for none (default {FAULT_EVERY}, about 3%%)",
    )
    demo.add_argument(
        "--systems-address",
        type=_address,
        default=None,
        metavar="HOST:PORT",
        help="with --systems memory: where to serve the in-memory systems, for extra `revline worker` "
        "processes (default REVLINE_DEMO_SYSTEMS_ADDRESS or 127.0.0.1:8109)",
    )
    demo.add_argument(
        "--sandbox-ports",
        type=_ports,
        default=(SANDBOXES["hubspot"], SANDBOXES["salesforce"], SANDBOXES["erp"]),
        metavar="H,S,E",
        help="with --systems sandboxes: the HubSpot, Salesforce and ERP sandboxes' ports (default 8101,8102,8103)",
    )
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
    user = commands.add_parser(
        "user", help="manage the console's users", description="Create console users with a role."
    )
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    user_add = user_commands.add_parser(
        "add",
        help="create a user who can sign in to the console",
        description="Create a console user. Roles: viewer (reads every page), operator (also repairs records), "
        "admin (also changes policy, connections and schedules). The password is asked twice on a terminal, "
        "read as one line from stdin otherwise, or generated and printed with --generate.",
    )
    user_add.add_argument("name", help="the user's sign-in name")
    user_add.add_argument("--role", required=True, choices=[role.value for role in Role], help="what the user may do")
    user_add.add_argument("--generate", action="store_true", help="generate a password and print it")
    user_add.set_defaults(run=cmd_user_add)
    sandbox = commands.add_parser(
        "sandbox", help="serve a wire-compatible HubSpot, Salesforce or Odoo on localhost, for tests and the demo",
        description="Serve a sandbox that speaks the vendor's API closely enough for its own client library: "
        "HubSpot over HTTP on 8101 (token sandbox-token), Salesforce over HTTPS on 8102 with a certificate "
        "made at start (OAuth client sandbox/sandbox, CA at /__sandbox__/ca.pem), the Odoo ERP on 8103 "
        "(database revline, login admin, API key sandbox-key; JSON-2 on 19, JSON-RPC on 17 to 19; a business "
        "clock that delivers, invoices and collects). Seeded, deterministic data; faults and a request log "
        "under /__sandbox__/.",
    )
    sandbox.add_argument("vendor", choices=sorted(SANDBOXES), help="which system to serve")
    sandbox.add_argument("--port", type=int, default=None, help="port (default 8101 HubSpot, 8102 Salesforce)")
    sandbox.add_argument("--seed", type=int, default=7, help="seed of the generated data (default 7)")
    sandbox.add_argument("--records", type=int, default=50, help="companies to seed (default 50)")
    sandbox.add_argument("--version", type=int, choices=[17, 18, 19], default=19, help="Odoo version (erp only)")
    sandbox.add_argument(
        "--pace", type=float, default=1.0, help="erp only: business seconds per real second (1440: a day a minute)"
    )
    sandbox.set_defaults(run=cmd_sandbox)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    return int(args.run(Settings(), args))


if __name__ == "__main__":
    sys.exit(main())

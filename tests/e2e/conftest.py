"""The console in prod mode on a temp SQLite ledger, a feeder playing worker, and headless Chromium."""

# The feeder stands in for `revline demo` (worker + traffic generator) until that exists: it seeds
# lanes, runs and dead letters, then keeps adding ops and completing pending ones like a worker.

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from sqlalchemy import Engine, select, update
from sqlmodel import col

from sync_core.persistence.database import make_engine, transaction
from sync_core.persistence.migrate import upgrade
from sync_core.persistence.tables import Lane, OutboundOp, SyncRun

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FIRST_PORT = 3100
# The first build downloads ~330 MB from npm; later starts take ~15 s.
STARTUP_TIMEOUT = float(os.environ.get("REVLINE_E2E_STARTUP_TIMEOUT", "900"))

LANES: tuple[tuple[str, str, str], ...] = (
    ("hubspot", "contact", "inbound"),
    ("salesforce", "opportunity", "inbound"),
    ("erp", "invoice", "inbound"),
    ("erp", "order", "outbound"),
    ("salesforce", "account", "outbound"),
)
OUTBOUND = [(system, object_type) for system, object_type, direction in LANES if direction == "outbound"]
DEAD_LETTERS: dict[str, int] = {"validation": 3, "duplicate": 2, "missing_reference": 1}
SEEDED_RUNS = 40


def now() -> datetime:
    return datetime.now(UTC)


def new_op(target: str, object_type: str, status: str, **fields: Any) -> OutboundOp:
    at = now()
    values: dict[str, Any] = {
        "idempotency_key": uuid.uuid4().hex,
        "target_system": target,
        "object_type": object_type,
        "canonical_id": str(uuid.uuid4()),
        "source_system": "hubspot",
        "source_id": str(uuid.uuid4().int % 10**8),
        "source_version": "1",
        "payload": {"name": "Acme GmbH", "amount": 1200, "currency": "EUR"},
        "status": status,
        "next_attempt_at": at,
        "correlation_id": str(uuid.uuid4()),
        "created_at": at,
        "updated_at": at,
    }
    values.update(fields)
    return OutboundOp(**values)


class LedgerFeeder:
    """Plays worker and traffic generator on the ledger at `url`, in a background thread."""

    def __init__(self, url: str, interval: float = 0.5) -> None:
        self.engine: Engine = make_engine(url, pool_size=2)
        self.interval = interval
        self.lane_labels: list[str] = [".".join(lane) for lane in LANES]
        self.dead_counts: dict[str, int] = dict(DEAD_LETTERS)  # seeded dead letters per category
        self.seeded_runs = SEEDED_RUNS
        self.lane_ids: dict[str, int] = {}
        self.dead_ids: dict[str, list[int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ledger-feeder", daemon=True)
        self._tick = 0
        self.error: BaseException | None = None

    def seed(self) -> None:
        with transaction(self.engine) as session:
            lanes = [Lane(system=s, object_type=o, direction=d, due_at=now()) for s, o, d in LANES]
            session.add_all(lanes)
            session.flush()
            self.lane_ids = {
                f"{lane.system}.{lane.object_type}.{lane.direction}": lane.id or 0 for lane in lanes
            }
            started = now() - timedelta(minutes=SEEDED_RUNS)
            for i in range(SEEDED_RUNS):
                lane = lanes[i % len(lanes)]
                session.add(self._run(lane, started + timedelta(minutes=i), records=i))
            dead: dict[str, list[OutboundOp]] = {}
            for category, count in DEAD_LETTERS.items():
                dead[category] = [
                    new_op(
                        "erp",
                        "order",
                        "dead",
                        error_category=category,
                        error_message=f"{category}: rejected by the ERP (seeded #{i})",
                        attempts=5,
                    )
                    for i in range(count)
                ]
                session.add_all(dead[category])
            session.add_all(
                new_op(target, object_type, "done") for target, object_type in OUTBOUND for _ in range(5)
            )
            session.flush()
            self.dead_ids = {category: [op.id or 0 for op in ops] for category, ops in dead.items()}

    @staticmethod
    def _run(lane: Lane, started: datetime, records: int = 0, status: str = "ok") -> SyncRun:
        return SyncRun(
            lane_id=lane.id or 0,
            system=lane.system,
            object_type=lane.object_type,
            direction=lane.direction,
            worker_id="feeder",
            started_at=started,
            finished_at=started + timedelta(milliseconds=400),
            status=status,
            records_read=records,
            ops_planned=records,
            ops_done=records,
            api_calls=1 + records // 10,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.engine.dispose()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.step()
            except Exception as exc:  # surfaced by the tests through `self.error`
                self.error = exc

    def step(self) -> None:
        """One tick: traffic adds ops, the "worker" writes every pending op and records a run."""
        self._tick += 1
        at = now()
        with transaction(self.engine) as session:
            target, object_type = OUTBOUND[self._tick % len(OUTBOUND)]
            session.add_all(new_op(target, object_type, "pending") for _ in range(3))
            session.flush()
            done = session.execute(
                update(OutboundOp)
                .where(col(OutboundOp.status) == "pending", col(OutboundOp.next_attempt_at) <= at)
                .values(status="done", updated_at=at, attempts=OutboundOp.attempts + 1)
            )
            lanes = session.execute(select(Lane).order_by(col(Lane.id))).scalars().all()
            lane = lanes[self._tick % len(lanes)]
            session.add(self._run(lane, at, records=done.rowcount))  # type: ignore[attr-defined]
            lane.last_run_at = at
            lane.last_status = "ok"
            # The lane just run holds a live lease for a moment, so the overview shows it running.
            for other in lanes:
                other.lease_owner = "feeder" if other is lane else None
                other.lease_expires_at = at + timedelta(seconds=2) if other is lane else None

    def op_status(self, op_id: int) -> str:
        with transaction(self.engine) as session:
            return session.get_one(OutboundOp, op_id).status


def _free_port(start: int = FIRST_PORT) -> int:
    for port in range(start, start + 200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {start}..{start + 200}")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def reflex_env(database_url: str) -> dict[str, str]:
    """The environment every Reflex command needs on these machines (see REFLEX.md)."""
    return {
        **os.environ,
        "REFLEX_USE_SYSTEM_BUN": "1",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "REFLEX_CHECK_LATEST_VERSION": "false",
        "NPM_CONFIG_REGISTRY": "https://registry.npmjs.org/",
        "REVLINE_DATABASE_URL": database_url,
        "PYTHONUNBUFFERED": "1",
    }


# Module scope: the console and the feeder stop when the e2e tests are done, not at the end of the
# whole run (they would otherwise keep two cores busy through every later test).
@pytest.fixture(scope="module")
def ledger_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'revline.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def feeder(ledger_url: str) -> Iterator[LedgerFeeder]:
    """Swap for `revline demo` once it exists: the tests only need lanes, traffic and dead letters."""
    feeder = LedgerFeeder(ledger_url)
    feeder.seed()
    feeder.start()
    yield feeder
    feeder.stop()
    if feeder.error is not None:
        raise feeder.error


@pytest.fixture(scope="module")
def console_url(ledger_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`reflex run --env prod` on one free port (frontend, API and websocket), stopped with its group."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("console") / "reflex.log"
    command = [
        sys.executable,
        "-m",
        "reflex",
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
    # A shell leads the console's process group and takes the whole group down if pytest dies
    # without tearing down (killed by `timeout`, say), so no console outlives its test run.
    watchdog = f'"$@" & while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; kill -TERM 0'
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["sh", "-c", watchdog, "sh", *command],
            cwd=ROOT,
            env=reflex_env(ledger_url),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: reflex and granian go down with it
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not (_http_ok(f"{base}/ping") and _http_ok(f"{base}/")):
            if process.poll() is not None:
                pytest.fail(f"the console exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the console did not come up in {STARTUP_TIMEOUT:.0f}s:\n{log_path.read_text()[-4000:]}"
                )
            time.sleep(0.5)
        yield base
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser, console_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=console_url, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()

"""`revline demo` on a temp SQLite ledger (console, real worker, in-memory systems, scripted faults),
driven by headless Chromium.

The demo runs in its own process group with a watchdog that takes the group down if pytest dies
without tearing down (killed by `timeout`, say), so no demo outlives its test run. The demo stops
its console (a process group of its own) when it gets SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright
from sqlalchemy import Engine, func, select

from sync_core.domain.access import Role
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import Lane
from sync_core.services import access, ledger_engine

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REVLINE = Path(sys.executable).with_name("revline")
# A fixed seed, and a scripted fault every 12 steps (6 steps a second): a Key Account write that
# sales rejects once within 2 s of the start and every 6 s after, a malformed email and a rate limit.
DEMO_OPTIONS = ("--seed", "7", "--interval", "0.5", "--fault-every", "12")
# The first build downloads ~330 MB from npm; later the demo is up in under 10 s.
STARTUP_TIMEOUT = float(os.environ.get("REVLINE_E2E_STARTUP_TIMEOUT", "900"))
STOP_TIMEOUT = 15


@dataclass(frozen=True)
class Demo:
    """A running `revline demo`: where its console, ledger and in-memory systems are."""

    process: subprocess.Popen[bytes]
    watchdog: subprocess.Popen[bytes]
    url: str
    ledger: Engine
    systems_address: tuple[str, int]
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def _free_ports(n: int) -> list[int]:
    """`n` distinct ports nothing listens on (all held open together, so none is handed out twice)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(n)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _lane_count(engine: Engine) -> int:
    with transaction(engine) as session:
        return int(session.execute(select(func.count()).select_from(Lane)).scalar_one())


def _memory_systems(systems_port: int) -> list[str]:
    return [
        "--systems",
        "memory",  # the in-memory CRMs: their scripted faults give the dead letters a retry can fix
        "--systems-address",
        f"127.0.0.1:{systems_port}",
        *DEMO_OPTIONS,
    ]


def _start(workdir: Path, systems: Callable[[int], Sequence[str]] = _memory_systems) -> Demo:
    """`revline demo` with the options `systems(free_port)` gives (default: the in-memory systems)."""
    port, systems_port = _free_ports(2)
    url = f"sqlite:///{workdir / 'revline.db'}"
    log = workdir / "demo.log"
    command = [str(REVLINE), "demo", "--port", str(port), *systems(systems_port)]
    env = {
        **os.environ,
        "REVLINE_DATABASE_URL": url,
        "REVLINE_SECRET_FILE": str(workdir / ".revline-secret"),
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("wb") as out:
        # Its own process group (reflex, granian and the systems' server go down with it), in our
        # session so the watchdog can join it.
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, process_group=0)
    # The watchdog ignores the group's SIGTERM, so it can follow up with SIGKILL: TERM the group
    # once pytest is gone, KILL it STOP_TIMEOUT seconds later.
    group = process.pid
    script = (
        f"trap '' TERM; while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; kill -TERM -{group}; "
        f"i=0; while kill -0 {group} 2>/dev/null && [ $i -lt {STOP_TIMEOUT} ]; do sleep 1; i=$((i+1)); done; "
        f"kill -KILL -{group}"
    )
    try:
        watchdog = subprocess.Popen(["sh", "-c", script], process_group=group, stdin=subprocess.DEVNULL)
    except BaseException:
        os.killpg(group, signal.SIGKILL)
        process.wait()
        raise
    return Demo(process, watchdog, f"http://127.0.0.1:{port}", ledger_engine(url), ("127.0.0.1", systems_port), log)


def _wait_until_up(demo: Demo) -> None:
    """The console answers (its API and its pages) and the demo has laid out its lanes."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    # The ledger is read only once the console is up: the demo migrates it before starting the console.
    while not (_http_ok(f"{demo.url}/ping") and _http_ok(f"{demo.url}/") and _lane_count(demo.ledger) > 0):
        if demo.process.poll() is not None:
            pytest.fail(f"revline demo exited with {demo.process.returncode}:\n{demo.log_tail()}")
        if time.monotonic() > deadline:
            pytest.fail(f"revline demo did not come up in {STARTUP_TIMEOUT:.0f}s:\n{demo.log_tail()}")
        time.sleep(0.5)


def _stop(demo: Demo) -> None:
    """SIGTERM to the group (the demo stops its worker, console and systems), SIGKILL after STOP_TIMEOUT."""
    with suppress(ProcessLookupError):
        os.killpg(demo.process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        demo.process.wait(timeout=STOP_TIMEOUT)
    with suppress(ProcessLookupError):  # whatever is left, the watchdog included
        os.killpg(demo.process.pid, signal.SIGKILL)
    demo.process.wait(timeout=5)
    demo.watchdog.wait(timeout=5)
    demo.ledger.dispose()


def running_demo(
    tmp_path_factory: pytest.TempPathFactory, systems: Callable[[int], Sequence[str]] = _memory_systems
) -> Iterator[Demo]:
    """A demo for a module's tests: up before the first, checked alive after the last, then stopped."""
    demo = _start(tmp_path_factory.mktemp("demo"), systems)
    try:
        _wait_until_up(demo)
        yield demo
        if demo.process.poll() is not None:
            pytest.fail(f"revline demo died during the tests ({demo.process.returncode}):\n{demo.log_tail()}")
    finally:
        _stop(demo)
    deadline = time.monotonic() + 5
    while _http_ok(f"{demo.url}/ping"):
        if time.monotonic() > deadline:
            pytest.fail(f"the demo's console outlived the demo:\n{demo.log_tail()}")
        time.sleep(0.2)


# Module scope: the demo stops when the e2e tests are done, not at the end of the whole run (it
# would otherwise keep two cores busy through every later test).
@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`revline demo` on a free port, run from a temp dir so its ledger and secret file land there."""
    yield from running_demo(tmp_path_factory)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing test's report ends with the tail of the demo's log (worker errors, console output)."""
    report: pytest.TestReport = yield
    demo = getattr(item, "funcargs", {}).get("demo")
    if report.failed and isinstance(demo, Demo):
        report.sections.append(("revline demo log (tail)", demo.log_tail()))
    return report


@pytest.fixture(scope="module")
def console_url(demo: Demo) -> str:
    return demo.url


@pytest.fixture(scope="module")
def ledger(demo: Demo) -> Engine:
    """The demo's ledger, to read facts from (lanes, runs, dead letters) while the demo writes it."""
    return demo.ledger


@pytest.fixture(scope="module")
def systems_address(demo: Demo) -> tuple[str, int]:
    """Where the demo serves its in-memory systems (`sync_core.testing.connect_systems`)."""
    return demo.systems_address


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


PASSWORD = "e2e-password-123"


@pytest.fixture(scope="module")
def users(demo: Demo) -> dict[Role, str]:
    """One console user per role in the demo's ledger: role -> name (password PASSWORD)."""
    names = {role: f"e2e-{role.value}" for role in Role}
    for role, name in names.items():
        access.add_user(demo.ledger, name, role, PASSWORD, actor="e2e")
    return names


def sign_in(page: Page, name: str, then: str = "/") -> None:
    """Sign in through the sign-in page, landing on `then`."""
    page.goto(f"/sign-in?next={then}")
    page.locator("#sign-in-name").fill(name)
    page.locator("#sign-in-password").fill(PASSWORD)
    page.locator("#sign-in-submit").click()
    expect(page.locator("#signed-in-user")).to_have_text(name)


@pytest.fixture
def new_page(browser: Browser, console_url: str) -> Iterator[Callable[[], Page]]:
    """Pages in fresh browser contexts (nobody signed in), closed after the test."""
    contexts: list[BrowserContext] = []

    def make() -> Page:
        context = browser.new_context(base_url=console_url, viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[[], Page], users: dict[Role, str]) -> Page:
    """A page signed in as an admin (who may do everything)."""
    page = new_page()
    sign_in(page, users[Role.ADMIN])
    return page

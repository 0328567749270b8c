"""Screenshots of the console for the README: the overview and the repair queue of a running demo.

Starts `revline demo` (the three sandboxes, a worker, live traffic with faults, the console) in a
temp directory, waits until the repair queue holds records, signs in as the demo's admin in
headless Chromium and writes docs/img/overview.png and docs/img/repair-queue.png.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import sync_playwright
from sqlalchemy import func, select

from sync_core.persistence.tables import OutboundOp, op_status_is
from sync_core.services import ledger_engine

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
PAGES = (("/", "overview.png"), ("/repair", "repair-queue.png"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait(what: str, probe: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dead-letters", type=int, default=5, help="records in repair before the shots (default 5)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the demo (default 600)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        port, url = _free_port(), f"sqlite:///{tmp}/revline.db"
        log = Path(tmp) / "demo.log"
        env = {**os.environ, "REVLINE_DATABASE_URL": url, "REVLINE_SECRET_FILE": f"{tmp}/.revline-secret",
               "PYTHONUNBUFFERED": "1"}  # fmt: skip
        revline = Path(sys.executable).with_name("revline")
        with log.open("wb") as out:
            demo = subprocess.Popen([str(revline), "demo", "--port", str(port)], cwd=tmp, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        try:
            password: list[str] = []

            def signed() -> bool:
                found = re.search(r"sign in as admin with password (\S+)", log.read_text(errors="replace"))
                if found:
                    password[:] = [found.group(1)]
                return bool(found) and _up(f"http://127.0.0.1:{port}/ping")

            _wait("the demo's console", signed, args.timeout)
            engine = ledger_engine(url)

            def repairs() -> bool:
                with engine.connect() as conn:
                    count = conn.execute(select(func.count()).select_from(OutboundOp).where(op_status_is("dead")))
                    return bool(int(count.scalar_one()) >= args.dead_letters)

            _wait(f"{args.dead_letters} records in repair", repairs, args.timeout)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 960},
                                        base_url=f"http://127.0.0.1:{port}")  # fmt: skip
                page.goto("/sign-in")
                page.locator("#sign-in-name").fill("admin")
                page.locator("#sign-in-password").fill(password[0])
                page.locator("#sign-in-submit").click()
                page.locator("#signed-in-user").wait_for()
                for path, name in PAGES:
                    page.goto(path)
                    page.wait_for_load_state("networkidle")
                    time.sleep(3)  # the first refresh and the charts' drawing
                    page.screenshot(path=str(OUT / name))
                    print(f"wrote {OUT / name}")
                browser.close()
        finally:
            os.killpg(demo.pid, signal.SIGTERM)
            demo.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())

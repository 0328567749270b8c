"""Serving the sandbox with uvicorn: in the foreground, or in a thread on a free port for tests."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from connectors.erp.sandbox.state import OdooSandbox


def _config(app: Starlette, log_level: str) -> uvicorn.Config:
    # The app sets Date from its own (business) clock; uvicorn's would be a second, wall-clock one.
    return uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on", date_header=False,
                          timeout_graceful_shutdown=1)


def _listen(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio switches Nagle off only on sockets whose proto says TCP, and with
    # Nagle on every keep-alive request waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@dataclass
class RunningSandbox:
    """A sandbox served in a background thread; `url` is its base URL."""

    app: Starlette
    url: str
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _sock: socket.socket = field(repr=False)

    @property
    def sandbox(self) -> OdooSandbox:
        sandbox: OdooSandbox = self.app.state.sandbox
        return sandbox

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def start(app: Starlette, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0) -> RunningSandbox:
    """Serve `app` in a daemon thread (port 0: a free one) and return once it accepts connections."""
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    server = uvicorn.Server(_config(app, "warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="erp-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the ERP sandbox did not start on {host}:{bound}")
        time.sleep(0.01)
    return RunningSandbox(app, f"http://{host}:{bound}", server, thread, sock)


def run(app: Starlette, host: str = "127.0.0.1", port: int = 8103) -> None:
    """Serve `app` in the foreground until interrupted."""
    uvicorn.Server(_config(app, "info")).run(sockets=[_listen(host, port)])

"""Serving the sandbox over HTTPS with uvicorn: in the foreground, or in a thread on a free port for tests."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from connectors.salesforce.sandbox.state import SandboxState


def _config(app: Starlette, host: str, port: int, log_level: str) -> uvicorn.Config:
    state: SandboxState = app.state.sandbox
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(state.certificates.cert_file),
        ssl_keyfile=str(state.certificates.key_file),
        log_level=log_level,
        lifespan="off",
        access_log=False,
        # Salesforce's front ends keep idle connections far longer than uvicorn's 5 s default; clients
        # such as simple-salesforce's bulk poller (5 s between polls) reuse pooled connections.
        timeout_keep_alive=120,
    )


class _Serving:
    """uvicorn in a thread of its own, with a handle on its event loop so it can be stopped cleanly."""

    def __init__(self, server: uvicorn.Server, sock: socket.socket) -> None:
        self.server = server
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=asyncio.run, args=(self._serve(sock),), daemon=True)

    async def _serve(self, sock: socket.socket) -> None:
        self.loop = asyncio.get_running_loop()
        await self.server.serve(sockets=[sock])

    def _abort_connections(self) -> None:
        for protocol in list(self.server.server_state.connections):
            transport = getattr(protocol, "transport", None)
            if transport is not None:
                transport.abort()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=0.5)
        if self.thread.is_alive() and self.loop is not None:
            # Idle keep-alive TLS connections wait for the client's close_notify, which a pooled
            # client that is never closed does not send: drop them.
            self.loop.call_soon_threadsafe(self._abort_connections)
            self.thread.join(timeout=5)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(timeout=5)


@dataclass
class RunningSandbox:
    """A sandbox served in a background thread; `url` is its instance and login URL."""

    app: Starlette
    url: str
    ca_file: Path
    _serving: _Serving

    @property
    def state(self) -> SandboxState:
        state: SandboxState = self.app.state.sandbox
        return state

    def stop(self) -> None:
        self._serving.stop()

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: without it, TLS responses written in pieces meet the
    # client's delayed ACK and every call takes 40 ms instead of one.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


def start(app: Starlette, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0) -> RunningSandbox:
    """Serve `app` in a daemon thread (port 0: a free one) and return once it accepts connections."""
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    serving = _Serving(uvicorn.Server(_config(app, host, bound, "warning")), sock)
    serving.thread.start()
    deadline = time.monotonic() + timeout
    while not serving.server.started:
        if not serving.thread.is_alive() or time.monotonic() > deadline:
            serving.stop()
            raise RuntimeError(f"the Salesforce sandbox did not start on {host}:{bound}")
        time.sleep(0.01)
    state: SandboxState = app.state.sandbox
    return RunningSandbox(app, f"https://{host}:{bound}", state.certificates.ca_file, serving)


def run(app: Starlette, host: str = "127.0.0.1", port: int = 8102) -> None:
    """Serve `app` in the foreground until interrupted."""
    uvicorn.Server(_config(app, host, port, "info")).run(sockets=[_listen(host, port)])

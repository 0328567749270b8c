"""A wire-compatible Odoo (17, 18: JSON-RPC; 19: JSON-RPC and JSON-2) with a business clock, served by Starlette.

`create_app()` seeds a fresh in-memory database; `serve()` runs it with uvicorn
(`revline sandbox erp`). Database `revline`, login `admin`, API key `sandbox-key`. odoorpc works
against it unchanged: `odoorpc.ODOO("127.0.0.1", port=8103).login("revline", "admin", "sandbox-key")`.
The control API is described in `control.py`, the fault profile in `faults.py`, the business clock
in `business.py`.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette

from connectors.erp.sandbox.app import build_app
from connectors.erp.sandbox.server import RunningSandbox, run, start
from connectors.erp.sandbox.state import API_KEY, DATABASE, LOGIN, OdooSandbox

__all__ = ["API_KEY", "DATABASE", "LOGIN", "OdooSandbox", "RunningSandbox", "build_app", "create_app", "serve",
           "start"]

log = logging.getLogger(__name__)


def create_app(seed: int = 7, version: int = 19, records: int = 30, pace: float = 1.0) -> Starlette:
    """A sandbox app seeded with `records` customers (their contacts and order history) from `seed`.

    `pace` is business seconds per real second (1: the wall clock; 1440: a day a minute; 0: stopped).
    """
    return build_app(OdooSandbox(seed=seed, version=version, records=records, pace=pace))


def serve(port: int = 8103, seed: int = 7, version: int = 19, records: int = 30, pace: float = 1.0,
          host: str = "127.0.0.1") -> None:
    """Serve a sandbox on http://{host}:{port} until interrupted."""
    log.warning("Odoo %d sandbox on http://%s:%d (database %s, login %s, API key %s)", version, host, port, DATABASE,
                LOGIN, API_KEY)
    run(create_app(seed, version, records, pace), host=host, port=port)

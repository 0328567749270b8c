"""A wire-compatible Salesforce org (REST v59.0, OAuth 2.0, Bulk API 2.0) over HTTPS, for development and tests.

Real simple-salesforce works against it unchanged: get a token from `{url}/services/oauth2/token`
(client id and secret `sandbox`/`sandbox`), trust the CA at `{url}/__sandbox__/ca.pem` (or
`RunningSandbox.ca_file`), then `Salesforce(instance_url=url, session_id=token, session=...)`.
The control API is described in `control.py`, the fault profile in `faults.py`.
"""

from __future__ import annotations

import logging
import shutil
import weakref

from starlette.applications import Starlette

from connectors.salesforce.sandbox.app import build_app
from connectors.salesforce.sandbox.certificates import generate
from connectors.salesforce.sandbox.server import RunningSandbox, run, start
from connectors.salesforce.sandbox.state import SandboxState

__all__ = ["RunningSandbox", "SandboxState", "create_app", "serve", "start"]

log = logging.getLogger(__name__)


def create_app(seed: int = 7, records: int = 50) -> Starlette:
    """A seeded sandbox app with a freshly generated certificate (`app.state.sandbox.certificates`)."""
    state = SandboxState(generate(), seed, records)
    # The certificate files live as long as the sandbox that serves them.
    weakref.finalize(state, shutil.rmtree, state.certificates.directory, True)
    return build_app(state)


def serve(port: int = 8102, seed: int = 7, records: int = 50) -> None:
    """Serve a sandbox on https://127.0.0.1:{port} until interrupted."""
    app = create_app(seed, records)
    state: SandboxState = app.state.sandbox
    log.warning(
        "Salesforce sandbox on https://127.0.0.1:%d (client sandbox/sandbox); trust %s or GET /__sandbox__/ca.pem",
        port,
        state.certificates.ca_file,
    )
    run(app, port=port)

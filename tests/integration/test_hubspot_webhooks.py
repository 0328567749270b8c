"""The console's HubSpot webhook receiver: v3 signatures checked, events kept once, bad ones refused."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import select

from console.api import routes
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import InboxEvent
from sync_core.services import ledger_engine

SECRET = "sandbox-secret"
URL = "http://testserver/webhooks/hubspot"


class Client:
    """Posts to the console's routes in-process (no server), as HubSpot would over HTTP."""

    def __init__(self) -> None:
        self.app = routes()

    def post(self, path: str, content: str, headers: dict[str, str]) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                return await client.post(path, content=content, headers=headers)

        # A loop of its own, in a thread: another suite's browser driver may hold this thread's loop.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, send()).result()


@pytest.fixture
def client(ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> Client:
    monkeypatch.setenv("REVLINE_DATABASE_URL", ledger_url)
    monkeypatch.setenv("REVLINE_HUBSPOT_APP_SECRET", SECRET)
    return Client()


def _signed(body: str, timestamp_ms: int | None = None, secret: str = SECRET) -> dict[str, str]:
    timestamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    digest = hmac.new(secret.encode(), f"POST{URL}{body}{timestamp}".encode(), hashlib.sha256).digest()
    return {
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


def _event(object_id: int, prop: str, value: str, occurred: int, event_id: int) -> dict[str, object]:
    return {
        "eventId": event_id, "subscriptionId": 7, "portalId": 62515, "appId": 1160452, "occurredAt": occurred,
        "subscriptionType": "contact.propertyChange", "attemptNumber": 0, "objectId": object_id,
        "propertyName": prop, "propertyValue": value, "changeSource": "CRM_UI",
    }


def _stored(url: str) -> list[tuple[str, str]]:
    with transaction(ledger_engine(url)) as session:
        return [(e.external_id, e.dedupe_key) for e in session.scalars(select(InboxEvent).order_by(InboxEvent.id))]


def test_signed_events_are_stored_once_even_when_redelivered(client: Client, ledger_url: str) -> None:
    batch = json.dumps(
        [_event(101, "email", "a@b.example", 1700000000000, 1), _event(102, "firstname", "Ada", 1700000000001, 2)]
    )
    first = client.post("/webhooks/hubspot", content=batch, headers=_signed(batch))
    assert first.status_code == 200
    assert first.json() == {"received": 2, "stored": 2}
    # a redelivery (new attempt, new eventId) of the same change, and the batch again
    again = json.dumps([{**_event(101, "email", "a@b.example", 1700000000000, 99), "attemptNumber": 1}])
    assert client.post("/webhooks/hubspot", content=again, headers=_signed(again)).json()["stored"] == 0
    assert client.post("/webhooks/hubspot", content=batch, headers=_signed(batch)).json()["stored"] == 0
    assert [external for external, _ in _stored(ledger_url)] == ["101", "102"]


@pytest.mark.parametrize("fault", ["bad-signature", "too-old", "unsigned"])
def test_unsigned_forged_or_stale_requests_are_refused_and_store_nothing(
    client: Client, ledger_url: str, fault: str
) -> None:
    body = json.dumps([_event(101, "email", "x@y.example", 1700000000000, 1)])
    headers = {
        "bad-signature": _signed(body, secret="wrong-secret"),
        "too-old": _signed(body, timestamp_ms=int((time.time() - 301) * 1000)),
        "unsigned": {"Content-Type": "application/json"},
    }[fault]
    response = client.post("/webhooks/hubspot", content=body, headers=headers)
    assert response.status_code == 401
    assert _stored(ledger_url) == []

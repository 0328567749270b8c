"""Webhook subscriptions and a background delivery thread sending signed v3 batches, with retries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.hubspot.sandbox.faults import Faults
from connectors.hubspot.sandbox.schema import SINGULAR
from connectors.hubspot.sandbox.store import CRM_UI, Change
from connectors.hubspot.sandbox.times import iso_ms, now_ms

log = logging.getLogger(__name__)

APP_SECRET = "sandbox-secret"
APP_ID = 1160452
PORTAL_ID = 62515
SANDBOX_USER_ID = 9001  # the "person" making control-API changes
MAX_EVENTS_PER_REQUEST = 100  # HubSpot sends at most 100 events per webhook request
MAX_ATTEMPTS = 10  # HubSpot retries a failed delivery up to 10 times (over 24 hours; the sandbox compresses it)
DELIVERY_TIMEOUT = 5.0  # HubSpot gives the target 5 seconds to answer
_KINDS = ("creation", "propertyChange", "deletion")


def sign_v3(secret: str, method: str, uri: str, body: str, timestamp_ms: str) -> str:
    """X-HubSpot-Signature-v3: base64(HMAC-SHA256(secret, method + uri + body + timestamp))."""
    message = f"{method}{uri}{body}{timestamp_ms}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


@dataclass
class Subscription:
    """One webhook subscription: an event type such as `contact.propertyChange` and, optionally, a property."""

    id: int
    event_type: str
    property_name: str | None
    active: bool
    created_ms: int

    def matches(self, change: Change) -> bool:
        if not self.active or self.event_type != f"{SINGULAR[change.object_type]}.{change.kind}":
            return False
        return change.kind != "propertyChange" or self.property_name in (None, change.property_name)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "eventType": self.event_type,
            "propertyName": self.property_name,
            "active": self.active,
            "createdAt": iso_ms(self.created_ms),
        }


@dataclass
class _Pending:
    event: dict[str, Any]
    attempt: int = 0
    due: float = 0.0
    duplicate: bool = False  # a copy made by the fault profile, never copied again


@dataclass
class Delivery:
    """One webhook request the sandbox made and how it ended."""

    at_ms: int
    events: int
    attempt: int
    status: int | None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"at": iso_ms(self.at_ms), "events": self.events, "attempt": self.attempt, "status": self.status,
                "error": self.error}


@dataclass
class WebhookSettings:
    target_url: str | None = None
    secret: str = APP_SECRET
    batch_window_ms: int = 100  # events arriving within this window share a request
    retry_base_ms: int = 500  # first retry after this, doubling, capped at 30 s

    def to_json(self) -> dict[str, Any]:
        return {"targetUrl": self.target_url, "appId": APP_ID, "portalId": PORTAL_ID,
                "batchWindowMs": self.batch_window_ms, "retryBaseMs": self.retry_base_ms,
                "maxEventsPerRequest": MAX_EVENTS_PER_REQUEST}


@dataclass
class _Counters:
    events_queued: int = 0
    events_delivered: int = 0
    events_failed: int = 0
    requests: int = 0
    log: deque[Delivery] = field(default_factory=lambda: deque(maxlen=200))


class WebhookDispatcher:
    """Turns store changes into events for matching subscriptions and delivers them from a thread."""

    def __init__(self, faults: Faults) -> None:
        self._faults = faults
        self._cond = threading.Condition()
        self.settings = WebhookSettings()
        self._subscriptions: dict[int, Subscription] = {}
        self._ids = itertools.count(1)
        self._event_ids = itertools.count(100_000_001)
        self._pending: list[_Pending] = []
        self._in_flight = 0
        self._counters = _Counters()
        self._thread: threading.Thread | None = None
        self._stopped = False

    # -- configuration (control API) ------------------------------------------------------------

    def configure(self, settings: WebhookSettings) -> None:
        with self._cond:
            self.settings = settings
            self._cond.notify_all()
        self._ensure_thread()

    def subscribe(self, event_type: str, property_name: str | None = None, active: bool = True) -> Subscription:
        singular, _, kind = event_type.partition(".")
        if singular not in SINGULAR.values() or kind not in _KINDS:
            known = ", ".join(f"{s}.{k}" for s in SINGULAR.values() for k in _KINDS)
            raise ValueError(f"unknown event type {event_type!r} (known: {known})")
        with self._cond:
            subscription = Subscription(next(self._ids), event_type, property_name, active, now_ms())
            self._subscriptions[subscription.id] = subscription
        self._ensure_thread()
        return subscription

    def unsubscribe(self, subscription_id: int) -> bool:
        with self._cond:
            return self._subscriptions.pop(subscription_id, None) is not None

    def subscriptions(self) -> list[Subscription]:
        with self._cond:
            return list(self._subscriptions.values())

    def reset(self) -> None:
        """Forget subscriptions, settings and queued events (the thread keeps running)."""
        with self._cond:
            self.settings = WebhookSettings()
            self._subscriptions.clear()
            self._pending.clear()
            self._counters = _Counters()

    def stats(self) -> dict[str, Any]:
        with self._cond:
            counters = self._counters
            return {
                "queued": counters.events_queued,
                "delivered": counters.events_delivered,
                "failed": counters.events_failed,
                "pending": len(self._pending) + self._in_flight,
                "requests": counters.requests,
                "deliveries": [d.to_json() for d in counters.log],
            }

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event is delivered or given up on; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            for pending in self._pending:
                pending.due = min(pending.due, time.monotonic())
            self._cond.notify_all()
            while self._pending or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
            return True

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=DELIVERY_TIMEOUT + 1)

    # -- the store's listener -------------------------------------------------------------------

    def on_changes(self, changes: list[Change]) -> None:
        with self._cond:
            if not self._subscriptions or not self.settings.target_url:
                return
            due = time.monotonic() + self.settings.batch_window_ms / 1000
            for change in changes:
                for subscription in self._subscriptions.values():
                    if subscription.matches(change):
                        self._pending.append(_Pending(self._event(subscription, change), 0, due))
                        self._counters.events_queued += 1
            self._cond.notify_all()

    def _event(self, subscription: Subscription, change: Change) -> dict[str, Any]:
        event: dict[str, Any] = {
            "eventId": next(self._event_ids),
            "subscriptionId": subscription.id,
            "portalId": PORTAL_ID,
            "appId": APP_ID,
            "occurredAt": change.occurred_ms,
            "subscriptionType": subscription.event_type,
            "attemptNumber": 0,
            "objectId": int(change.object_id),
            "changeSource": change.source,
            "sourceId": f"userId:{SANDBOX_USER_ID}" if change.source == CRM_UI else str(APP_ID),
        }
        if change.kind == "propertyChange":
            event["propertyName"] = change.property_name
            event["propertyValue"] = change.property_value if change.property_value is not None else ""
        else:
            event["changeFlag"] = "CREATED" if change.kind == "creation" else "DELETED"
        return event

    # -- delivery -------------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._stopped = False
                self._thread = threading.Thread(target=self._run, name="hubspot-sandbox-webhooks", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=DELIVERY_TIMEOUT) as http:
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                self._deliver(http, batch)

    def _next_batch(self) -> list[_Pending] | None:
        with self._cond:
            while True:
                if self._stopped:
                    return None
                now = time.monotonic()
                due = [p for p in self._pending if p.due <= now]
                if due and self.settings.target_url:
                    self._faults.shuffle(due)
                    batch = due[:MAX_EVENTS_PER_REQUEST]
                    taken = {id(p) for p in batch}
                    self._pending = [p for p in self._pending if id(p) not in taken]
                    for pending in batch:
                        if pending.attempt == 0 and not pending.duplicate and self._faults.duplicate_event():
                            # Delivered again later, with the same eventId: at-least-once delivery.
                            self._pending.append(_Pending(dict(pending.event), 0, now + 0.05, duplicate=True))
                            self._counters.events_queued += 1
                    self._in_flight += len(batch)
                    return batch
                wait = min((p.due for p in self._pending), default=now + 1.0) - now
                self._cond.wait(max(0.01, min(wait, 1.0)))

    def _deliver(self, http: httpx.Client, batch: list[_Pending]) -> None:
        with self._cond:
            settings = self.settings
        events = [{**p.event, "attemptNumber": p.attempt} for p in batch]
        body = json.dumps(events, separators=(",", ":"))
        timestamp = str(now_ms())
        url = settings.target_url or ""
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Signature-v3": sign_v3(settings.secret, "POST", url, body, timestamp),
            "X-HubSpot-Signature-Version": "v3",
            "X-HubSpot-Request-Timestamp": timestamp,
            "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/) (sandbox)",
        }
        status: int | None = None
        error: str | None = None
        try:
            response = http.post(url, content=body.encode(), headers=headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        with self._cond:
            self._in_flight -= len(batch)
            self._counters.requests += 1
            self._counters.log.append(Delivery(now_ms(), len(batch), batch[0].attempt, status, error))
            if ok:
                self._counters.events_delivered += len(batch)
            else:
                log.info("webhook delivery to %s failed (%s); will retry", url, status or error)
                for pending in batch:
                    pending.attempt += 1
                    if pending.attempt >= MAX_ATTEMPTS:
                        self._counters.events_failed += 1
                        continue
                    backoff = min(30.0, settings.retry_base_ms / 1000 * 2 ** (pending.attempt - 1))
                    pending.due = time.monotonic() + backoff
                    self._pending.append(pending)
            self._cond.notify_all()

"""HubSpot webhook receiver latency: signed 100-event batches posted to the console's route, in process.

The receiver verifies the v3 signature, keys the events, stores them in the inbox (SQLite) and
answers; HubSpot wants an answer within seconds, Revline aims for 100 ms. Results replace the
"Webhook receiver" section of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import statistics
import tempfile
import time

import httpx

from bench.engine import write_section

SECRET = "bench-secret"
BATCHES, EVENTS = 200, 100


def _event(batch: int, index: int) -> dict[str, object]:
    return {
        "eventId": batch * EVENTS + index, "subscriptionId": 1, "portalId": 1, "appId": 1,
        "occurredAt": 1_700_000_000_000 + batch * 1000 + index, "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0, "objectId": 1000 + index, "propertyName": "email", "propertyValue": "x@y.example",
        "changeSource": "CRM_UI",
    }


async def _post_batches() -> list[float]:
    from console.api import routes

    timings = []
    transport = httpx.ASGITransport(app=routes())
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for batch in range(BATCHES):
            body = json.dumps([_event(batch, i) for i in range(EVENTS)])
            stamp = str(int(time.time() * 1000))
            source = f"POSThttp://bench/webhooks/hubspot{body}{stamp}".encode()
            signature = base64.b64encode(hmac.new(SECRET.encode(), source, hashlib.sha256).digest()).decode()
            headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": stamp}
            started = time.perf_counter()
            answer = await client.post("/webhooks/hubspot", content=body, headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            answer.raise_for_status()
    return timings[1:]  # the first pays for imports and the first connection


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        os.environ.update(REVLINE_DATABASE_URL=url, REVLINE_HUBSPOT_APP_SECRET=SECRET)
        from sync_core.persistence.migrate import upgrade

        upgrade(url)
        timings = sorted(asyncio.run(_post_batches()))
    median, p95, worst = statistics.median(timings), timings[int(len(timings) * 0.95)], timings[-1]
    section = (
        "## Webhook receiver\n\n"
        f"`bench/webhooks.py`, {time.strftime('%Y-%m-%d')}: {BATCHES} signed batches of {EVENTS} HubSpot events "
        "posted to `POST /webhooks/hubspot` in process (signature checked, events keyed and stored in the "
        "SQLite inbox, answer sent). Target: 100 ms.\n\n"
        "| median | p95 | slowest |\n|---:|---:|---:|\n"
        f"| {median:.1f} ms | {p95:.1f} ms | {worst:.1f} ms |\n"
    )
    write_section(section, title="## Webhook receiver")
    print(section)


if __name__ == "__main__":
    main()

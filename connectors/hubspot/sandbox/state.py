"""Everything one sandbox instance holds: records, faults, limits, webhooks and the request log."""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.hubspot.sandbox.faults import FaultProfile, Faults
from connectors.hubspot.sandbox.ratelimit import TIERS, RateLimiter, SearchLimiter
from connectors.hubspot.sandbox.requestlog import RequestLog
from connectors.hubspot.sandbox.seed import seed_store
from connectors.hubspot.sandbox.store import Store
from connectors.hubspot.sandbox.webhooks import WebhookDispatcher

ACCESS_TOKEN = "sandbox-token"


@dataclass
class Sandbox:
    """One fake HubSpot account (portal) and the private app Revline uses in it."""

    tier: str = "professional"
    access_token: str = ACCESS_TOKEN
    store: Store = field(default_factory=Store)
    faults: Faults = field(default_factory=Faults)
    log: RequestLog = field(default_factory=RequestLog)
    limiter: RateLimiter = field(init=False)
    search_limiter: SearchLimiter = field(init=False)
    webhooks: WebhookDispatcher = field(init=False)

    def __post_init__(self) -> None:
        if self.tier not in TIERS:
            raise ValueError(f"unknown tier {self.tier!r} (known: {', '.join(TIERS)})")
        self.faults.set(FaultProfile(tier=self.tier))
        self.limiter = RateLimiter(self.faults.profile.limits())
        self.search_limiter = SearchLimiter(self.faults.profile.search_per_second)
        self.webhooks = WebhookDispatcher(self.faults)
        self.store.subscribe(self.webhooks.on_changes)

    def set_faults(self, profile: FaultProfile) -> None:
        """Apply a fault profile; limits restart counting when they change."""
        limits = profile.limits()
        self.faults.set(profile)
        if limits != self.limiter.limits:
            self.limiter = RateLimiter(limits)
        if profile.search_per_second != self.search_limiter.per_second:
            self.search_limiter = SearchLimiter(profile.search_per_second)

    def reset(self) -> None:
        """Empty records, faults (back to the starting tier), webhooks and the request log."""
        self.store.reset()
        self.webhooks.reset()
        self.log.clear()
        self.faults.set(FaultProfile(tier=self.tier))
        self.limiter = RateLimiter(self.faults.profile.limits())
        self.search_limiter = SearchLimiter(self.faults.profile.search_per_second)

    def seed(self, seed: int, records: int) -> dict[str, int]:
        self.store.reset()
        return seed_store(self.store, seed, records)

"""Each tier's endpoints: round robin over the healthy ones, active /ready checks, passive ejection.

Two signals, as Envoy keeps them: an active check says whether an endpoint can serve at all (loaded,
not draining); passive outlier ejection catches one that passes its checks but fails requests, and
keeps it out for a while. An endpoint gets traffic only when both agree.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx

from voxdeploy.contracts.router import TIERS, HealthChecking, Tier

log = logging.getLogger("voxdeploy.router")


@dataclass
class Endpoint:
    """One upstream runtime: its last check, its run of failed requests, and until when it is ejected."""

    tier: Tier
    url: str
    passing: bool = False
    failures: int = 0
    ejected_until: float = 0.0

    def available(self, now: float) -> bool:
        return self.passing and now >= self.ejected_until


class Pools:
    """Every tier's endpoints. Not locked: the router's handlers and checks run on one event loop."""

    def __init__(
        self,
        endpoints: Mapping[Tier, Sequence[str]],
        health: HealthChecking,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.health = health
        self._clock = clock
        self._rings = {
            tier: [Endpoint(tier, url.rstrip("/")) for url in endpoints[tier]] for tier in TIERS if endpoints.get(tier)
        }
        self._turn = dict.fromkeys(self._rings, 0)

    @property
    def tiers(self) -> tuple[Tier, ...]:
        """Tiers that have at least one endpoint configured, healthy or not."""
        return tuple(self._rings)

    def all(self) -> list[Endpoint]:
        return [endpoint for ring in self._rings.values() for endpoint in ring]

    def states(self) -> list[tuple[Endpoint, bool]]:
        """Every endpoint with whether it gets traffic now (for /ready and the healthy gauge)."""
        now = self._clock()
        return [(endpoint, endpoint.available(now)) for endpoint in self.all()]

    def candidates(self, tier: Tier) -> list[Endpoint]:
        """The tier's available endpoints to try in turn, starting one further round the ring each call."""
        ring = self._rings.get(tier, [])
        if not ring:
            return []
        start = self._turn[tier] % len(ring)
        self._turn[tier] += 1
        now = self._clock()
        return [endpoint for endpoint in ring[start:] + ring[:start] if endpoint.available(now)]

    def succeeded(self, endpoint: Endpoint) -> None:
        endpoint.failures = 0

    def failed(self, endpoint: Endpoint) -> None:
        """Count a failed request; enough in a row eject the endpoint for `ejection_seconds`."""
        endpoint.failures += 1
        if endpoint.failures >= self.health.eject_after_failures:
            endpoint.failures = 0
            endpoint.ejected_until = self._clock() + self.health.ejection_seconds
            log.warning(
                "%s endpoint %s ejected for %g s after %d failed requests in a row",
                endpoint.tier,
                endpoint.url,
                self.health.ejection_seconds,
                self.health.eject_after_failures,
            )

    def checked(self, endpoint: Endpoint, passing: bool) -> None:
        if passing != endpoint.passing:
            log.info("%s endpoint %s is %s", endpoint.tier, endpoint.url, "ready" if passing else "not ready")
        endpoint.passing = passing


async def _ready(client: httpx.AsyncClient, url: str, timeout: float) -> bool:
    try:
        response = await client.get(url + "/ready", timeout=timeout)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


async def check_all(pools: Pools, client: httpx.AsyncClient) -> None:
    """One round of /ready checks of every endpoint, at once (a slow one does not delay the others)."""
    endpoints = pools.all()
    results = await asyncio.gather(*(_ready(client, e.url, pools.health.timeout_seconds) for e in endpoints))
    for endpoint, passing in zip(endpoints, results, strict=True):
        pools.checked(endpoint, passing)


async def watch(pools: Pools, client: httpx.AsyncClient) -> None:
    """Check every endpoint each interval, until cancelled."""
    while True:
        await asyncio.sleep(pools.health.interval_seconds)
        await check_all(pools, client)

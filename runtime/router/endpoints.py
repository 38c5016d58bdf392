"""Each tier's endpoints: round robin over the healthy ones, active /ready checks, passive ejection.

Two signals, as Envoy keeps them: an active check says whether an endpoint can serve at all (loaded,
not draining); passive outlier ejection catches one that passes its checks but fails requests, and
keeps it out for a while. An endpoint gets traffic only when both agree. Any answer to a check, even
a 503 from a draining runtime, also shows that the endpoint is alive: the router tells a busy endpoint
from a hung one by it.
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
    """One upstream runtime: its last check, its run of failed requests, until when it is ejected, and when it
    last answered anything (a check or a request's headers)."""

    tier: Tier
    url: str
    passing: bool = False
    failures: int = 0
    ejected_until: float = 0.0
    answered_at: float = float("-inf")

    def available(self, now: float) -> bool:
        return self.passing and now >= self.ejected_until

    def ejected(self, now: float) -> bool:
        return now < self.ejected_until


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

    def now(self) -> float:
        return self._clock()

    def answered(self, endpoint: Endpoint) -> None:
        """The endpoint answered something just now: it is alive, however slow its syntheses are."""
        endpoint.answered_at = self._clock()

    def succeeded(self, endpoint: Endpoint) -> None:
        endpoint.failures = 0

    def failed(self, endpoint: Endpoint) -> None:
        """Count a failed request; enough in a row eject the endpoint for `ejection_seconds` if the tier allows.

        A run that reaches the threshold while its tier may not eject one more keeps counting, so the endpoint
        goes as soon as the tier can spare it (its next failure after another endpoint is back).
        """
        if endpoint.ejected(self._clock()):
            return  # a request that was in flight when the endpoint went: the ejection has it out already
        endpoint.failures += 1
        health = self.health
        if endpoint.failures < health.eject_after_failures:
            return
        if not self._may_eject(endpoint):
            if endpoint.failures == health.eject_after_failures:
                log.warning(
                    "%s endpoint %s failed %d requests in a row; kept (the tier may not eject more)",
                    endpoint.tier,
                    endpoint.url,
                    endpoint.failures,
                )
            return
        endpoint.failures = 0
        endpoint.ejected_until = self._clock() + health.ejection_seconds
        log.warning(
            "%s endpoint %s ejected for %g s after %d failed requests in a row",
            endpoint.tier,
            endpoint.url,
            health.ejection_seconds,
            health.eject_after_failures,
        )

    def _may_eject(self, endpoint: Endpoint) -> bool:
        """Whether the endpoint's tier can lose it now: bounded as Envoy bounds outlier ejection, and never the
        tier's last endpoint that gets traffic (a tier with nothing left fails every request it is picked for).

        Envoy's `max_ejection_percent` is "the maximum % of an upstream cluster that can be ejected due to
        outlier detection. Defaults to 10% but will eject at least one host regardless of the value"
        (envoyproxy/envoy, api/envoy/config/cluster/v3/outlier_detection.proto, published at
        https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/cluster/v3/outlier_detection.proto); Envoy 1.31
        added `always_eject_one_host` "to optionally override the max_ejection_percent" (changelogs/1.31.0.yaml).
        Here that one-endpoint minimum always holds: a tier has few endpoints, and 10% of fewer than ten rounds
        down to none. A tier is Envoy's cluster.
        """
        now = self._clock()
        ring = self._rings[endpoint.tier]
        allowed = max(1, len(ring) * self.health.max_ejection_percent // 100)
        ejected = sum(1 for other in ring if other.ejected(now))
        spare = any(other.available(now) for other in ring if other is not endpoint)
        return ejected < allowed and spare

    def hung(self, endpoint: Endpoint, silent_seconds: float) -> None:
        """The endpoint answered nothing for `silent_seconds` while a request waited on it: a failed request, and no
        more traffic until it answers a check again (other requests would each wait as long to learn the same)."""
        log.warning(
            "%s endpoint %s answered nothing, health checks included, for %g s: taken out until a check passes",
            endpoint.tier,
            endpoint.url,
            silent_seconds,
        )
        endpoint.passing = False
        self.failed(endpoint)

    def checked(self, endpoint: Endpoint, passing: bool) -> None:
        """Record a check's result. Only changes are logged (each check is a DEBUG line of httpx's): ready, not
        ready, and the end of an ejection, which is noticed at the first check after it ended."""
        if passing != endpoint.passing:
            level = logging.INFO if passing else logging.WARNING
            log.log(level, "%s endpoint %s is %s", endpoint.tier, endpoint.url, "ready" if passing else "not ready")
        endpoint.passing = passing
        if endpoint.ejected_until and not endpoint.ejected(self._clock()):
            endpoint.ejected_until = 0.0
            log.info("%s endpoint %s readmitted: its ejection is over", endpoint.tier, endpoint.url)


async def _ready(client: httpx.AsyncClient, url: str, timeout: float) -> int | None:
    """The status /ready answered, or None when it did not answer in time."""
    try:
        response = await client.get(url + "/ready", timeout=timeout)
    except httpx.HTTPError:
        return None
    return response.status_code


async def check_all(pools: Pools, client: httpx.AsyncClient) -> None:
    """One round of /ready checks of every endpoint, at once (a slow one does not delay the others)."""
    endpoints = pools.all()
    results = await asyncio.gather(*(_ready(client, e.url, pools.health.timeout_seconds) for e in endpoints))
    for endpoint, status in zip(endpoints, results, strict=True):
        if status is not None:
            pools.answered(endpoint)
        pools.checked(endpoint, status == 200)


async def watch(pools: Pools, client: httpx.AsyncClient) -> None:
    """Check every endpoint each interval, until cancelled."""
    while True:
        await asyncio.sleep(pools.health.interval_seconds)
        await check_all(pools, client)

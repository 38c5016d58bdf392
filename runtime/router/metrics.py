"""The router's Prometheus registry, built from the shared catalogue (voxdeploy/contracts/metrics.py)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from voxdeploy.contracts import metrics as catalog
from voxdeploy.runtime.metrics import AuthCounters
from voxdeploy.runtime.router.endpoints import Pools


class _EndpointHealth(Collector):
    """Read from the pools at scrape time, so an ejection that has run out never shows as stale."""

    def __init__(self, pools: Pools) -> None:
        self._pools = pools

    def collect(self) -> Iterator[Metric]:
        metric = catalog.ROUTER_ENDPOINT_HEALTHY
        family = GaugeMetricFamily(metric.name, metric.help, labels=metric.labels)
        for endpoint, available in self._pools.states():
            family.add_metric([endpoint.tier, endpoint.url], 1.0 if available else 0.0)
        yield family


class RouterMetrics:
    """The series one router process exports."""

    def __init__(self, pools: Pools) -> None:
        self.registry = CollectorRegistry()
        requests, fallbacks = catalog.ROUTER_REQUESTS, catalog.ROUTER_FALLBACKS
        upstream = catalog.ROUTER_UPSTREAM_LATENCY
        self._requests = Counter(requests.name, requests.help, requests.labels, registry=self.registry)
        self._fallbacks = Counter(fallbacks.name, fallbacks.help, fallbacks.labels, registry=self.registry)
        self._upstream = Histogram(
            upstream.name, upstream.help, upstream.labels, buckets=upstream.buckets, registry=self.registry
        )
        self.registry.register(_EndpointHealth(pools))
        self.auth = AuthCounters(self.registry)

    def count_request(self, tier: str, status: int) -> None:
        self._requests.labels(tier=tier, code=str(status)).inc()

    def count_fallback(self, from_tier: str, to_tier: str) -> None:
        self._fallbacks.labels(from_tier=from_tier, to_tier=to_tier).inc()

    def observe_upstream(self, tier: str, seconds: float) -> None:
        self._upstream.labels(tier=tier).observe(seconds)

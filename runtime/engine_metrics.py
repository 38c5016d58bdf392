"""The engine's own Prometheus series, fetched from its loopback /metrics when Prometheus scrapes ours.

Only the runtime's ports are reachable in the pod, so this is how vLLM's queue depth and KV-cache use reach
dashboards and autoscaling (the names they read are pinned in voxdeploy/contracts/engine_metrics.py).

- Fetched at scrape time, not on a timer: the numbers are as fresh as the scrape, and nothing polls an
  engine nobody scrapes.
- Failing soft: an engine that does not answer in time, answers an error or sends an exposition that does
  not parse costs the scrape the engine's series, never the runtime's own; `voxdeploy_engine_metrics_up`
  says which happened.
- Parsed (prometheus_client's parser) and served again from our registry rather than passed through: one
  bad line would make Prometheus reject the whole scrape, ours included, so a malformed exposition is
  dropped whole, and so is one that repeats a family (Prometheus refuses a second TYPE line).
- Only the engine's own namespaces are forwarded (EngineExposition.namespaces), which also keeps anything
  named like our `voxdeploy_` families out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import httpx
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from voxdeploy.contracts import metrics as catalog
from voxdeploy.runtime.engines.base import Engine
from voxdeploy.runtime.engines.proxied import ProxiedEngine

log = logging.getLogger("voxdeploy.engine_metrics")

FETCH_TIMEOUT_SECONDS = 2.0
"""Longest wait for the engine's /metrics: well inside Prometheus' default 10 s scrape timeout."""
SCRAPE_TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"
"""Prometheus announces its scrape timeout with every scrape; the engine gets at most half of it."""
ACCEPT = "text/plain; version=0.0.4"
"""The classic text format, the one the parser reads (prometheus_client answers OpenMetrics only if asked)."""


def fetch_timeout(announced: str | None) -> float:
    """Seconds the engine may take: FETCH_TIMEOUT_SECONDS, or half the announced scrape timeout if shorter."""
    try:
        scrape = float(announced) if announced is not None else None
    except ValueError:
        scrape = None
    if scrape is None or not scrape > 0:
        return FETCH_TIMEOUT_SECONDS
    return min(FETCH_TIMEOUT_SECONDS, scrape / 2)


def forwarded(text: str, namespaces: tuple[str, ...]) -> list[Metric]:
    """The families of an engine's exposition that are the engine's own; ValueError if it is unusable."""
    families = [family for family in text_string_to_metric_families(text) if family.name.startswith(namespaces)]
    names = [family.name for family in families]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"families appear more than once: {', '.join(repeated)}")
    return families


class EngineMetrics(Collector):
    """The engine's families as of the last refresh, and whether that refresh got them."""

    def __init__(self, engine: str, url: str, namespaces: tuple[str, ...]) -> None:
        self._engine = engine
        self._url = url
        self._namespaces = namespaces
        self._families: list[Metric] = []
        self._up = False

    async def refresh(self, announced_timeout: str | None = None) -> None:
        """Fetch the engine's exposition for the scrape under way; on any failure keep none of it."""
        try:
            async with asyncio.timeout(fetch_timeout(announced_timeout)):
                # trust_env=False: loopback, never through a proxy from the pod's environment
                async with httpx.AsyncClient(trust_env=False) as client:
                    response = await client.get(self._url, headers={"Accept": ACCEPT})
            response.raise_for_status()
            families = forwarded(response.text, self._namespaces)
        except (TimeoutError, httpx.HTTPError, ValueError) as err:
            if self._up:
                log.warning("the engine's metrics at %s are unavailable: %s", self._url, str(err) or type(err).__name__)
            self._families, self._up = [], False
            return
        self._families, self._up = families, True

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            catalog.ENGINE_METRICS_UP.name, catalog.ENGINE_METRICS_UP.help, labels=catalog.ENGINE_METRICS_UP.labels
        )
        up.add_metric([self._engine], 1.0 if self._up else 0.0)
        yield up
        yield from self._families


def engine_metrics(engine: Engine) -> EngineMetrics | None:
    """The collector for an engine's own metrics; None where it serves none (in-process engines, llamacpp)."""
    if not isinstance(engine, ProxiedEngine) or engine.exposition is None:
        return None
    exposition = engine.exposition
    return EngineMetrics(engine.name, engine.base_url + exposition.path, exposition.namespaces)

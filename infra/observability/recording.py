"""Recording rules: the service-level series that alerts and dashboard panels share.

Each one aggregates an environment's pods into one series per (namespace, service), so an alert is a
cheap comparison and a panel a cheap lookup. Names follow Prometheus' `level:metric:operations`
convention and are built from the catalogue's names, never typed out.
"""

from __future__ import annotations

from collections.abc import Iterable

from infra import metrics_catalog as catalog
from infra.config.deployment import DeploymentConfig
from infra.observability.promql import GROUPING, bucket_at_or_below, by, le_value, selector, target_labels

RATE_WINDOW = "5m"
"""Window of the p95 and QPS series (the issue's 'p95 over 5 m')."""

LATENCY_P95 = f"service:{catalog.REQUEST_LATENCY.name}:p95_rate{RATE_WINDOW}"
RTF_P95 = f"service:{catalog.REAL_TIME_FACTOR.name}:p95_rate{RATE_WINDOW}"
QPS = f"service:{catalog.REQUESTS.name}:rate{RATE_WINDOW}"
SERVER_ERRORS = "5.."
"""`code` values that spend the availability budget; 4xx (including 429) are the client's or by design."""


def error_ratio(window: str) -> str:
    """Name of the share of 5xx answers over a window."""
    return f"service:{catalog.REQUESTS.name}_errors:ratio_rate{window}"


def slow_ratio(window: str) -> str:
    """Name of the share of requests slower than the latency target over a window."""
    return f"service:{catalog.REQUEST_LATENCY.name}_slow:ratio_rate{window}"


def latency_sli_bound(config: DeploymentConfig) -> float:
    """The histogram bucket the latency SLO counts 'fast enough' at (slo.p95LatencySeconds, rounded down)."""
    return bucket_at_or_below(catalog.REQUEST_LATENCY.buckets, config.slo.p95_latency_seconds)


def _sum_rate(series: str, window: str, config: DeploymentConfig, *extra: str, **regex: str) -> str:
    labels = target_labels(config)
    return f"sum {by(*GROUPING, *extra)} (rate({series}{selector(labels, **regex)}[{window}]))"


def _p95(metric: catalog.Metric, config: DeploymentConfig) -> str:
    bucket = metric.series[0]
    return f"histogram_quantile(0.95, {_sum_rate(bucket, RATE_WINDOW, config, 'le')})"


def _error_ratio_expr(window: str, config: DeploymentConfig) -> str:
    (requests,) = catalog.REQUESTS.series
    errors = _sum_rate(requests, window, config, code=SERVER_ERRORS)
    return f"{errors}\n/\n{_sum_rate(requests, window, config)}"


def _slow_ratio_expr(window: str, config: DeploymentConfig) -> str:
    bucket, _, count = catalog.REQUEST_LATENCY.series
    labels = {**target_labels(config), "le": le_value(latency_sli_bound(config))}
    fast = f"sum {by(*GROUPING)} (rate({bucket}{selector(labels)}[{window}]))"
    return f"1 - (\n{fast}\n/\n{_sum_rate(count, window, config)}\n)"


def _record(name: str, expr: str) -> dict[str, object]:
    return {"record": name, "expr": expr}


def burn_windows(config: DeploymentConfig, kind: str) -> list[str]:
    """Windows the enabled burn-rate alerts of one SLO ('availability' or 'latency') look at."""
    alerts = config.observability.alerts
    speeds = (getattr(alerts, f"{kind}_burn_fast"), getattr(alerts, f"{kind}_burn_slow"))
    return _unique(window for alert in speeds if alert.enabled for window in (alert.long_window, alert.short_window))


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def recording_rules(config: DeploymentConfig) -> list[dict[str, object]]:
    """Every recording rule an environment's alerts and dashboard read."""
    rules = [
        _record(LATENCY_P95, _p95(catalog.REQUEST_LATENCY, config)),
        _record(RTF_P95, _p95(catalog.REAL_TIME_FACTOR, config)),
        _record(QPS, _sum_rate(catalog.REQUESTS.series[0], RATE_WINDOW, config)),
    ]
    rules += [
        _record(error_ratio(w), _error_ratio_expr(w, config))
        for w in _unique([RATE_WINDOW, *burn_windows(config, "availability")])
    ]
    rules += [_record(slow_ratio(w), _slow_ratio_expr(w, config)) for w in burn_windows(config, "latency")]
    return rules

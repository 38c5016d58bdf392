"""Recording rules: the service-level series that alerts and dashboard panels share.

Each one aggregates a scope's pods into one series per (namespace, service), so an alert is a cheap
comparison and a panel a cheap lookup. The same rules serve the cloud tier and the edge pools (one
series per pool: the pool's Service is the `service` label). Names follow Prometheus'
`level:metric:operations` convention and are built from the catalogue's names, never typed out.

The ratios read 0 on a healthy service and are absent without traffic (promql.ratio). What counts as a
failed request is decided here once: every 5xx, and 429 by default. A runtime answers 429 only when its own
admission queue is full, so the caller was turned away by the service, not for its own fault: the Google SRE
workbook counts shed load as unavailability, and the load-test gate counts it against slo.maxErrorRatio too.
`observability.objectives.shedLoadIsError: false` leaves 429 out for clients that treat it as back-pressure.
Other 4xx are the caller's bad input and never count.
"""

from __future__ import annotations

from collections.abc import Iterable

from voxdeploy.contracts import metrics as catalog
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.observability import BurnRateWindow
from voxdeploy.infra.observability.promql import (
    GROUPING,
    aggregate,
    bucket_at_or_below,
    histogram_quantile,
    le_value,
    ratio,
    selector,
    sum_rate,
)
from voxdeploy.infra.observability.scope import RuntimeScope

LATENCY_P95 = f"service:{catalog.REQUEST_LATENCY.name}:p95_rate{catalog.RATE_WINDOW}"
RTF_P95 = f"service:{catalog.REAL_TIME_FACTOR.name}:p95_rate{catalog.RATE_WINDOW}"
QPS = f"service:{catalog.REQUESTS.name}:rate{catalog.RATE_WINDOW}"
SERVER_ERRORS = "5.."
"""`code` values that always spend the availability budget: the service failed the request."""
SHED_LOAD = "429"
"""`code` of a request a runtime turned away with its admission queue full (see the module docstring)."""


def error_codes(config: DeploymentConfig) -> str:
    """The `code` pattern of the requests the availability SLI counts as failed."""
    return f"{SERVER_ERRORS}|{SHED_LOAD}" if config.observability.objectives.shed_load_is_error else SERVER_ERRORS


def failures(config: DeploymentConfig) -> str:
    """What error_codes counts, as alert annotations, panels and runbooks say it."""
    return "5xx or 429" if config.observability.objectives.shed_load_is_error else "5xx"


def error_ratio(window: str) -> str:
    """Name of the share of failed answers (error_codes) over a window."""
    return f"service:{catalog.REQUESTS.name}_errors:ratio_rate{window}"


def slow_ratio(window: str) -> str:
    """Name of the share of requests slower than the latency target over a window."""
    return f"service:{catalog.REQUEST_LATENCY.name}_slow:ratio_rate{window}"


def latency_sli_bound(config: DeploymentConfig) -> float:
    """The histogram bucket the latency SLO counts 'fast enough' at (slo.p95LatencySeconds, rounded down)."""
    return bucket_at_or_below(catalog.REQUEST_LATENCY.buckets, config.slo.p95_latency_seconds)


def _error_ratio_expr(window: str, scope: RuntimeScope, config: DeploymentConfig) -> str:
    (requests,) = catalog.REQUESTS.series
    errors = sum_rate(requests, scope.labels, window, GROUPING, **scope.patterns, code=error_codes(config))
    return ratio(errors, sum_rate(requests, scope.labels, window, GROUPING, **scope.patterns))


def _slow_ratio_expr(window: str, scope: RuntimeScope, config: DeploymentConfig) -> str:
    bucket, _, count = catalog.REQUEST_LATENCY.series
    fast_labels = {**scope.labels, "le": le_value(latency_sli_bound(config))}
    fast = aggregate("sum", GROUPING, f"rate({bucket}{selector(fast_labels, **scope.patterns)}[{window}])")
    return f"1 - {ratio(fast, sum_rate(count, scope.labels, window, GROUPING, **scope.patterns))}"


def burn_windows(speeds: Iterable[BurnRateWindow]) -> list[str]:
    """Windows the enabled burn-rate alerts of one SLO look at: each needs its ratio recorded."""
    return _unique(window for alert in speeds if alert.enabled for window in (alert.long_window, alert.short_window))


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def record(name: str, expr: str) -> dict[str, object]:
    """One recording-rule entry."""
    return {"record": name, "expr": expr}


def runtime_recording_rules(scope: RuntimeScope, config: DeploymentConfig) -> list[dict[str, object]]:
    """Every recording rule a scope's alerts and dashboard panels read; SLO ratios only where budgets are watched."""
    labels, patterns = scope.labels, scope.patterns

    def p95(metric: catalog.Metric) -> str:
        return histogram_quantile(0.95, metric, labels, catalog.RATE_WINDOW, GROUPING, **patterns)

    rules = [
        record(LATENCY_P95, p95(catalog.REQUEST_LATENCY)),
        record(RTF_P95, p95(catalog.REAL_TIME_FACTOR)),
        record(QPS, sum_rate(catalog.REQUESTS.series[0], labels, catalog.RATE_WINDOW, GROUPING, **patterns)),
    ]
    alerts = config.observability.alerts
    budgets = scope.slo_budgets
    availability = burn_windows(alerts.burn_rates) if budgets and alerts.availability_budget_burn else []
    rules += [
        record(error_ratio(w), _error_ratio_expr(w, scope, config))
        for w in _unique([catalog.RATE_WINDOW, *availability])
    ]
    latency = burn_windows(alerts.burn_rates) if budgets and alerts.latency_budget_burn else []
    rules += [record(slow_ratio(w), _slow_ratio_expr(w, scope, config)) for w in latency]
    return rules

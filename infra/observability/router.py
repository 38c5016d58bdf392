"""The hybrid router's rules and dashboard row, from the series only `voxdeploy serve --router` exports.

The router is not a runtime: it has no engine, RTF or queue gauges, so none of the runtime alerts apply.
What can go wrong is its own: every tier failing a request (the client gets the router's 503), traffic
moving off the tier the policy chose, and endpoints it no longer sends to. Rules select the router's
Service by the same target labels (`namespace`, `service`) as everything else.
"""

from __future__ import annotations

from voxdeploy.contracts import metrics as catalog
from voxdeploy.contracts.metrics import RATE_WINDOW
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.observability.alerts import PERCENT, WHERE, AlertRule, percent, value
from voxdeploy.infra.observability.panel import Panel, Query
from voxdeploy.infra.observability.promql import (
    GROUPING,
    aggregate,
    histogram_quantile,
    number,
    ratio,
    selector,
    sum_rate,
)
from voxdeploy.infra.observability.recording import record

QPS = f"service:{catalog.ROUTER_REQUESTS.name}:rate{RATE_WINDOW}"
UNAVAILABLE_RATIO = f"service:{catalog.ROUTER_REQUESTS.name}_unavailable:ratio_rate{RATE_WINDOW}"
FALLBACK_RATIO = f"service:{catalog.ROUTER_FALLBACKS.name}_per_request:ratio_rate{RATE_WINDOW}"
UPSTREAM_P95 = f"service_tier:{catalog.ROUTER_UPSTREAM_LATENCY.name}:p95_rate{RATE_WINDOW}"
BY_TIER = (*GROUPING, "tier")


def router_labels(config: DeploymentConfig) -> dict[str, str]:
    """The target labels of the router's pods in Prometheus."""
    return {"namespace": config.namespace, "service": config.hybrid.name}


def _requests(config: DeploymentConfig, **only: str) -> str:
    (requests,) = catalog.ROUTER_REQUESTS.series
    return sum_rate(requests, {**router_labels(config), **only}, RATE_WINDOW, GROUPING)


def recording_rules(config: DeploymentConfig) -> list[dict[str, object]]:
    """Request rate, the two shares the alerts compare, and p95 upstream latency per tier."""
    labels = router_labels(config)
    (fallbacks,) = catalog.ROUTER_FALLBACKS.series
    unavailable = _requests(config, tier=catalog.ROUTER_SELF, code=catalog.ROUTER_UNAVAILABLE)
    return [
        record(QPS, _requests(config)),
        record(UNAVAILABLE_RATIO, ratio(unavailable, _requests(config))),
        record(FALLBACK_RATIO, ratio(sum_rate(fallbacks, labels, RATE_WINDOW, GROUPING), _requests(config))),
        record(UPSTREAM_P95, histogram_quantile(0.95, catalog.ROUTER_UPSTREAM_LATENCY, labels, RATE_WINDOW, BY_TIER)),
    ]


def tier_unavailable(config: DeploymentConfig) -> AlertRule:
    settings = config.observability.alerts.router.tier_unavailable
    threshold = settings.threshold_ratio
    return AlertRule(
        "RouterTierUnavailable",
        settings,
        f"{UNAVAILABLE_RATIO}{selector(router_labels(config))} > {number(threshold)}",
        "router answering 503: every tier failed",
        f"{PERCENT} of the requests to {WHERE} over the last {RATE_WINDOW} got the router's own 503 because every "
        f"tier in the fallback order was down, saturated or failing (threshold {percent(threshold)}).",
        concern="hybrid",
    )


def fallback_rate_high(config: DeploymentConfig) -> AlertRule:
    settings = config.observability.alerts.router.fallback_rate_high
    threshold = settings.threshold_ratio
    return AlertRule(
        "RouterFallbackRateHigh",
        settings,
        f"{FALLBACK_RATIO}{selector(router_labels(config))} > {number(threshold)}",
        "router falling back from the chosen tier",
        f"Fallbacks at {WHERE} over the last {RATE_WINDOW} came to {PERCENT} of the requests answered "
        f"(threshold {percent(threshold)}): a tier is down, saturated or failing, so requests are served later "
        "and elsewhere.",
        concern="hybrid",
    )


def endpoint_down(config: DeploymentConfig) -> AlertRule:
    """`max` over the router pods: an endpoint one pod still uses is not down (ejection is per pod)."""
    healthy = f"{catalog.ROUTER_ENDPOINT_HEALTHY.name}{selector(router_labels(config))}"
    return AlertRule(
        "RouterEndpointDown",
        config.observability.alerts.router.endpoint_down,
        f"{aggregate('max', (*BY_TIER, 'endpoint'), healthy)} == 0",
        "router sends no traffic to an endpoint",
        f"No pod of {WHERE} sends traffic to the {{{{ $labels.tier }}}} endpoint {{{{ $labels.endpoint }}}} "
        f"(healthy = {value('%.0f')}): it fails /ready or was ejected after failed requests.",
        concern="hybrid",
    )


def router_alerts(config: DeploymentConfig) -> list[AlertRule]:
    """The router's enabled alerts."""
    alerts = (tier_unavailable(config), fallback_rate_high(config), endpoint_down(config))
    return [alert for alert in alerts if alert.settings.enabled]


def panels(config: DeploymentConfig) -> list[Panel]:
    """The dashboard's router row: where requests go, how long each tier takes, and what fails over."""
    labels = router_labels(config)
    sel = selector(labels)
    (requests,) = catalog.ROUTER_REQUESTS.series
    (fallbacks,) = catalog.ROUTER_FALLBACKS.series
    settings = config.observability.alerts.router
    return [
        Panel(
            "Router upstream latency p95 by tier",
            "s",
            "From forwarding a request to a tier to the end of its answer; the line is slo.p95LatencySeconds.",
            (Query("{{tier}}", f"{UPSTREAM_P95}{sel}"),),
            config.slo.p95_latency_seconds,
        ),
        Panel(
            "Router requests by tier",
            "reqps",
            "Requests the router answered, by the tier that served them (none: the router answered itself).",
            (Query("all", f"{QPS}{sel}"), Query("{{tier}}", sum_rate(requests, labels, RATE_WINDOW, ("tier",)))),
        ),
        Panel(
            "Router answered 503 itself",
            "percentunit",
            "Share of requests no tier could serve; the line is the RouterTierUnavailable threshold.",
            (Query("503 (every tier failed)", f"{UNAVAILABLE_RATIO}{sel}"),),
            settings.tier_unavailable.threshold_ratio,
        ),
        Panel(
            "Router fallbacks per request",
            "percentunit",
            "Fallbacks to the next tier per request answered; the line is the RouterFallbackRateHigh threshold.",
            (Query("fallbacks / requests", f"{FALLBACK_RATIO}{sel}"),),
            settings.fallback_rate_high.threshold_ratio,
        ),
        Panel(
            "Router fallbacks by path",
            "reqps",
            "Fallbacks per second from the tier that failed to the tier tried next.",
            (
                Query(
                    "{{from_tier}} -> {{to_tier}}",
                    sum_rate(fallbacks, labels, RATE_WINDOW, ("from_tier", "to_tier")),
                ),
            ),
        ),
        Panel(
            "Router endpoints healthy",
            "short",
            "1 while at least one router pod sends traffic to the endpoint (passes /ready, not ejected).",
            (
                Query(
                    "{{tier}} {{endpoint}}",
                    aggregate("max", ("tier", "endpoint"), f"{catalog.ROUTER_ENDPOINT_HEALTHY.name}{sel}"),
                ),
            ),
        ),
    ]

"""promtool unit-test cases for every alert, generated from the environment's config and the catalogue.

Each case gives input series that fire the alert (with the minute its condition first holds, the labels
it must carry and the `$value` its annotations print) and series that must leave it silent. The
promtool test file is generated from these, so thresholds and windows follow the stack, and an alert
without a case here fails `test_every_alert_has_a_unit_test`. The engine-independent cases are written
once over a scope and registered for the cloud tier and the edge pools alike, as the alerts are.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from voxdeploy.contracts import engine_metrics as engine_catalog
from voxdeploy.contracts import metrics as catalog
from voxdeploy.infra.builders.hybrid import router_settings
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.observability import BurnRateWindow
from voxdeploy.infra.observability import external, router
from voxdeploy.infra.observability.alerts import AlertRule, availability_budget, latency_budget
from voxdeploy.infra.observability.promql import le_value
from voxdeploy.infra.observability.recording import latency_sli_bound
from voxdeploy.infra.observability.scope import RuntimeScope, cloud_scope, edge_scope

T = TypeVar("T")
EVALUATION_MINUTES = 1
"""promtool's evaluation interval and the input series' sample interval, in minutes."""


@dataclass(frozen=True)
class Series:
    """One input series, sampled every minute from t=0."""

    name: str
    labels: Mapping[str, str]
    samples: tuple[float, ...]

    def promtool(self, minutes: int) -> dict[str, str]:
        """The series as promtool input up to `minutes`, its last step repeated (a counter keeps its rate)."""
        step = self.samples[-1] - self.samples[-2] if len(self.samples) > 1 else 0.0
        extra = max(0, minutes + 1 - len(self.samples))
        padded = self.samples + tuple(self.samples[-1] + step * (n + 1) for n in range(extra))
        labels = ",".join(f'{key}="{value}"' for key, value in self.labels.items())
        return {"series": f"{self.name}{{{labels}}}", "values": " ".join(f"{v:g}" for v in padded)}


@dataclass(frozen=True)
class Quiet:
    """Series that must not fire the alert at the given minutes (default: when the firing case fires, and later)."""

    name: str
    series: tuple[Series, ...]
    at: tuple[int, ...] = ()


@dataclass(frozen=True)
class Case:
    firing: tuple[Series, ...]
    active_from: int
    """Minute of the first evaluation at which the expression returns the alert's series."""
    labels: Mapping[str, str]
    """The alert's labels besides alertname and the rule's own labels."""
    value: float
    """`$value` at the moment it fires, as the annotations print it."""
    quiet: tuple[Quiet, ...] = field(default=())
    more: tuple[tuple[Mapping[str, str], float], ...] = field(default=())
    """Further alerts (labels, value) that fire at the same moment: one per edge pool, each at its own threshold."""


def minutes(duration: str) -> int:
    """A Prometheus duration in whole minutes, rounded up to the evaluation interval."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    seconds = sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration))
    return math.ceil(seconds / 60 / EVALUATION_MINUTES) * EVALUATION_MINUTES


# Input series -----------------------------------------------------------------------------------

LENGTH = 10
"""Minutes of generated input; `Series.promtool` continues each series' last step to the last check."""


ENGINES = {"cloud": "vllm-omni", "edge": "llamacpp"}
"""The `engine` label each tier's runtime exports."""


def scraped(namespace: str, service: str, pod: str) -> dict[str, str]:
    """Target labels a scraped pod gets (ServiceMonitor or the plain scrape config)."""
    return {"namespace": namespace, "service": service, "pod": pod, "instance": "10.0.0.7:8000", "job": service}


def pod_labels(config: DeploymentConfig, pod: str = "voxcpm-7d9f8-abcde") -> dict[str, str]:
    """Target labels of a cloud runtime pod."""
    return scraped(config.namespace, config.cloud.name, pod)


def scope_pod_labels(scope: RuntimeScope, service: str | None = None, pod: str | None = None) -> dict[str, str]:
    """Target labels of a pod of the scope's first Service (or the one named)."""
    service = service or scope.services[0]
    return scraped(scope.namespace, service, pod or f"{service}-7d9f8-abcde")


def runtime_labels(scope: RuntimeScope, service: str | None = None) -> dict[str, str]:
    return {**scope_pod_labels(scope, service), "engine": ENGINES[scope.tier]}


def alert_labels(scope: RuntimeScope, service: str | None = None) -> dict[str, str]:
    """What a service-level alert of the scope carries: namespace and service."""
    return {"namespace": scope.namespace, "service": service or scope.services[0]}


def gauge(name: str, labels: Mapping[str, str], value: float) -> Series:
    return Series(name, dict(labels), (value,))


def counter(name: str, labels: Mapping[str, str], per_minute: Sequence[float]) -> Series:
    """A counter that grows by per_minute[i] between minute i and i+1."""
    total, samples = 0.0, [0.0]
    for step in per_minute:
        total += step
        samples.append(total)
    return Series(name, dict(labels), tuple(samples))


def histogram(
    metric: catalog.Metric, labels: Mapping[str, str], per_minute: Sequence[Mapping[float, float]]
) -> list[Series]:
    """Bucket, count and sum series of a catalogue histogram observing {value: count} each minute."""
    bucket, summed, total = metric.series
    bounds = [*(le_value(b) for b in metric.buckets), "+Inf"]
    limits = [*metric.buckets, math.inf]
    series = [
        counter(bucket, {**labels, "le": le}, [sum(n for v, n in m.items() if v <= limit) for m in per_minute])
        for le, limit in zip(bounds, limits, strict=True)
    ]
    series.append(counter(total, labels, [sum(minute.values()) for minute in per_minute]))
    series.append(counter(summed, labels, [sum(v * n for v, n in minute.items()) for minute in per_minute]))
    return series


def steady(value: T) -> list[T]:
    """The same per-minute input for the whole generated stretch."""
    return [value] * LENGTH


# Where observations land --------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    """A histogram bucket (lower, upper]; every observation in it puts any quantile q at lower + q*(upper-lower)."""

    lower: float
    upper: float

    @property
    def inside(self) -> float:
        return 2 * self.lower if math.isinf(self.upper) else (self.lower + self.upper) / 2

    def quantile(self, q: float) -> float:
        """histogram_quantile's answer; in the +Inf bucket it is the last finite bound."""
        return self.lower if math.isinf(self.upper) else self.lower + (self.upper - self.lower) * q


def bucket_above(buckets: Sequence[float], threshold: float) -> Bucket:
    """The first bucket lying wholly above threshold; past the last bound, the +Inf bucket."""
    lower = min((b for b in buckets if b >= threshold), default=max(buckets))
    return Bucket(lower, min((b for b in buckets if b > lower), default=math.inf))


def bucket_below(buckets: Sequence[float], threshold: float) -> Bucket:
    """The last bucket lying wholly at or below threshold."""
    upper = max(b for b in buckets if b <= threshold)
    return Bucket(max((b for b in buckets if b < upper), default=0.0), upper)


def halfway_above(threshold: float, ceiling: float = 1.0) -> float:
    """A level clearly over a threshold and still under the ceiling (a ratio, a percentage)."""
    return (threshold + ceiling) / 2


# The cases ------------------------------------------------------------------------------------------

RATE_ACTIVE = 1
"""A rate needs two samples, so rate-based expressions first hold at minute 1."""


def _p95_case(metric: catalog.Metric, thresholds: Mapping[str, float], scope: RuntimeScope) -> Case:
    """Every Service observed just past its own threshold (firing) and just under it (quiet)."""

    def observed(pick: Callable[[Sequence[float], float], Bucket]) -> tuple[Series, ...]:
        per_service = [
            histogram(metric, runtime_labels(scope, service), steady({pick(metric.buckets, threshold).inside: 60}))
            for service, threshold in thresholds.items()
        ]
        return tuple(series for group in per_service for series in group)

    (first, *others) = [
        (alert_labels(scope, service), bucket_above(metric.buckets, threshold).quantile(0.95))
        for service, threshold in thresholds.items()
    ]
    return Case(
        firing=observed(bucket_above),
        active_from=RATE_ACTIVE,
        labels=first[0],
        value=first[1],
        quiet=(Quiet("under the target", observed(bucket_below)),),
        more=tuple(others),
    )


def high_inference_latency(scope: RuntimeScope, config: DeploymentConfig) -> Case:
    return _p95_case(catalog.REQUEST_LATENCY, {scope.services[0]: scope.latency_target}, scope)


def high_real_time_factor(scope: RuntimeScope, config: DeploymentConfig) -> Case:
    return _p95_case(catalog.REAL_TIME_FACTOR, {t.service: t.threshold for t in scope.rtf_targets}, scope)


def gpu_memory_high_usage(scope: RuntimeScope, config: DeploymentConfig) -> Case:
    threshold = config.observability.alerts.gpu_memory_high_usage.threshold_ratio
    labels = {**scope_pod_labels(scope), "gpu": "0"}
    name = catalog.GPU_MEMORY_USED.name
    high = halfway_above(threshold)
    return Case(
        firing=(gauge(name, labels, high), gauge(name, {**labels, "gpu": "1"}, threshold / 2)),
        active_from=0,
        labels={**alert_labels(scope), "pod": labels["pod"], "gpu": "0"},
        value=high,
        quiet=(Quiet("under the threshold", (gauge(name, labels, threshold / 2),)),),
    )


def engine_kv_cache_saturated(scope: RuntimeScope, config: DeploymentConfig) -> Case:
    """Labels as vLLM-Omni exposes them, forwarded by the runtime; the pod's fullest stage decides."""
    threshold = config.observability.alerts.engine_kv_cache_saturated.threshold_ratio
    pod = scope_pod_labels(scope)
    name = engine_catalog.VLLM_KV_CACHE_USAGE.name

    def stage(n: int, usage: float) -> Series:
        return gauge(name, {**pod, "model_name": "openbmb/VoxCPM2", "stage": str(n), "replica": "0"}, usage)

    high = halfway_above(threshold)
    return Case(
        firing=(stage(0, high), stage(1, threshold / 2)),
        active_from=0,
        labels={**alert_labels(scope), "pod": pod["pod"]},
        value=high,
        quiet=(Quiet("every stage under the threshold", (stage(0, threshold / 2), stage(1, threshold / 2))),),
    )


def engine_metrics_down(scope: RuntimeScope, config: DeploymentConfig) -> Case:
    labels = runtime_labels(scope)

    def pod(up: float, ready: float) -> tuple[Series, ...]:
        return (gauge(catalog.ENGINE_METRICS_UP.name, labels, up), gauge(catalog.ENGINE_READY.name, labels, ready))

    return Case(
        firing=pod(up=0, ready=1),
        active_from=0,
        labels={**alert_labels(scope), "pod": labels["pod"]},
        value=0,
        quiet=(Quiet("engine still loading", pod(up=0, ready=0)), Quiet("engine metrics read", pod(up=1, ready=1))),
    )


def _requests(
    scope: RuntimeScope, config: DeploymentConfig, per_minute: Sequence[tuple[float, float]]
) -> tuple[Series, ...]:
    """Requests answered 200 and 500, (good, failed) per minute."""
    (name,) = catalog.REQUESTS.series
    labels = runtime_labels(scope)
    return (
        counter(name, {**labels, "code": "200"}, [good for good, _ in per_minute]),
        counter(name, {**labels, "code": "500"}, [bad for _, bad in per_minute]),
    )


def _latencies(
    scope: RuntimeScope, config: DeploymentConfig, per_minute: Sequence[tuple[float, float]]
) -> tuple[Series, ...]:
    """Requests within and over the latency SLO's bound, (fast, slow) per minute."""
    bound = latency_sli_bound(config)
    buckets = catalog.REQUEST_LATENCY.buckets
    fast, slow = bucket_below(buckets, bound).inside, bucket_above(buckets, bound).inside
    observed = [{fast: good, slow: bad} for good, bad in per_minute]
    return tuple(histogram(catalog.REQUEST_LATENCY, runtime_labels(scope), observed))


PER_MINUTE = 1000.0


def _split(bad_share: float) -> tuple[float, float]:
    return (PER_MINUTE * (1 - bad_share), PER_MINUTE * bad_share)


def high_error_ratio(scope: RuntimeScope, config: DeploymentConfig) -> Case:
    target = config.slo.max_error_ratio
    high = min(1.0, 4 * target)
    return Case(
        firing=_requests(scope, config, steady(_split(high))),
        active_from=RATE_ACTIVE,
        labels=alert_labels(scope),
        value=high,
        quiet=(Quiet("under the target", _requests(scope, config, steady(_split(target / 2)))),),
    )


Traffic = Callable[[RuntimeScope, DeploymentConfig, Sequence[tuple[float, float]]], tuple[Series, ...]]


def _burn_case(
    settings: BurnRateWindow, budget: float, traffic: Traffic, scope: RuntimeScope, config: DeploymentConfig
) -> Case:
    threshold = settings.burn_rate * budget
    assert threshold < 1, f"a burn rate of {settings.burn_rate} over a {budget} budget can never fire"
    long, short = minutes(settings.long_window), minutes(settings.short_window)
    high = halfway_above(threshold)
    # Everything fails for one long window, then nothing: the long window still burns, the short one is clean.
    recovered_at = long + short + 1
    still_burning = (long - (recovered_at - long)) / long
    assert still_burning > threshold, "the recovery case must keep the long window over the threshold"
    recovery = [_split(1.0)] * long + [_split(0.0)] * (short + 1)
    recovered = traffic(scope, config, recovery)
    return Case(
        firing=traffic(scope, config, steady(_split(high))),
        active_from=RATE_ACTIVE,
        labels=alert_labels(scope),
        value=high,
        quiet=(
            Quiet("burning under the rate", traffic(scope, config, steady(_split(threshold / 2)))),
            Quiet("recovered: long window still over, short window clean", recovered, (recovered_at,)),
        ),
    )


def _window(config: DeploymentConfig, name: str) -> BurnRateWindow:
    """The burn-rate window (alerts.burnRates, shared by both SLOs) an alert named ...BudgetBurn<name> uses."""
    return next(window for window in config.observability.alerts.burn_rates if window.name == name)


def availability_burn_fast(scope: RuntimeScope, config: DeploymentConfig) -> Case:
    return _burn_case(_window(config, "Fast"), availability_budget(config), _requests, scope, config)


def availability_burn_slow(scope: RuntimeScope, config: DeploymentConfig) -> Case:
    return _burn_case(_window(config, "Slow"), availability_budget(config), _requests, scope, config)


def latency_burn_fast(scope: RuntimeScope, config: DeploymentConfig) -> Case:
    return _burn_case(_window(config, "Fast"), latency_budget(config), _latencies, scope, config)


def latency_burn_slow(scope: RuntimeScope, config: DeploymentConfig) -> Case:
    return _burn_case(_window(config, "Slow"), latency_budget(config), _latencies, scope, config)


def queue_saturation(scope: RuntimeScope, config: DeploymentConfig) -> Case:
    threshold = scope.alerts.queue_saturation.threshold_ratio
    capacity = scope.queue_capacity
    labels = runtime_labels(scope)

    def queue(share: float) -> tuple[Series, ...]:
        queued = gauge(catalog.QUEUED.name, labels, capacity * share)
        return (queued, gauge(catalog.QUEUE_CAPACITY.name, labels, capacity))

    high = halfway_above(threshold)
    return Case(
        firing=queue(high),
        active_from=0,
        labels={**alert_labels(scope), "pod": labels["pod"]},
        value=high,
        quiet=(Quiet("queue under the threshold", queue(threshold / 2)),),
    )


def engine_crash_looping(scope: RuntimeScope, config: DeploymentConfig) -> Case:
    settings = scope.alerts.engine_crash_looping
    (name,) = catalog.ENGINE_RESTARTS.series
    labels = runtime_labels(scope)
    assert settings.restarts <= minutes(settings.window), "one restart a minute must reach the threshold in the window"
    return Case(
        firing=(counter(name, labels, steady(1.0)),),
        active_from=settings.restarts,
        labels={**alert_labels(scope), "pod": labels["pod"]},
        value=settings.restarts,
        quiet=(Quiet("fewer restarts", (counter(name, labels, [1.0] * (settings.restarts - 1) + [0.0]),)),),
    )


def capacity_exhausted(scope: RuntimeScope, config: DeploymentConfig) -> Case:
    assert scope.autoscaler is not None
    most = config.cloud.autoscaling.max_replicas
    hpa = {"namespace": scope.namespace, external.HPA_LABEL: scope.autoscaler}
    ksm = {**hpa, "job": "kube-state-metrics", "instance": "10.0.0.9:8080"}

    latency = high_inference_latency(scope, config)
    over, under = latency.firing, latency.quiet[0].series

    def cluster(current: int, latencies: tuple[Series, ...]) -> tuple[Series, ...]:
        replicas = (gauge(external.HPA_CURRENT_REPLICAS, ksm, current), gauge(external.HPA_MAX_REPLICAS, ksm, most))
        return (*replicas, *latencies)

    return Case(
        firing=cluster(most, over),
        active_from=RATE_ACTIVE,
        labels=hpa,
        value=most,
        quiet=(
            Quiet("at the maximum, latency fine", cluster(most, under)),
            Quiet("latency over, room to scale", cluster(most - 1, over)),
        ),
    )


def target_down(scope: RuntimeScope, config: DeploymentConfig) -> Case:
    def targets(*up: float) -> tuple[Series, ...]:
        service = scope.services[0]
        return tuple(gauge(external.UP, scope_pod_labels(scope, pod=f"{service}-pod-{n}"), v) for n, v in enumerate(up))

    return Case(
        firing=targets(1, 0),
        active_from=0,
        labels=alert_labels(scope),
        value=0.5,
        quiet=(Quiet("all targets up", targets(1, 1)),),
    )


def metrics_absent(scope: RuntimeScope, config: DeploymentConfig) -> Case:
    name = catalog.ENGINE_READY.name
    elsewhere = {**runtime_labels(scope), "namespace": f"{scope.namespace}-other"}
    return Case(
        firing=(gauge(name, elsewhere, 1),),
        active_from=0,
        labels=alert_labels(scope),
        value=1,
        quiet=(Quiet("runtime scraped", (gauge(name, runtime_labels(scope), 1),)),),
    )


RUNTIME_CASES: dict[str, Callable[[RuntimeScope, DeploymentConfig], Case]] = {
    "HighInferenceLatency": high_inference_latency,
    "GPUMemoryHighUsage": gpu_memory_high_usage,
    "EngineKvCacheSaturated": engine_kv_cache_saturated,
    "EngineMetricsDown": engine_metrics_down,
    "HighRealTimeFactor": high_real_time_factor,
    "HighErrorRatio": high_error_ratio,
    "AvailabilityBudgetBurnFast": availability_burn_fast,
    "AvailabilityBudgetBurnSlow": availability_burn_slow,
    "LatencyBudgetBurnFast": latency_burn_fast,
    "LatencyBudgetBurnSlow": latency_burn_slow,
    "QueueSaturation": queue_saturation,
    "EngineCrashLooping": engine_crash_looping,
    "CapacityExhausted": capacity_exhausted,
    "RuntimeTargetDown": target_down,
    "RuntimeMetricsAbsent": metrics_absent,
}
"""Cases of the alerts written over a scope (alerts.BUILDERS), by their name without the scope's prefix."""


# The router's cases -------------------------------------------------------------------------------------


def router_pod_labels(config: DeploymentConfig, pod: str = "voxcpm-router-5c6d7-fghij") -> dict[str, str]:
    return scraped(config.namespace, config.hybrid.name, pod)


def _router_traffic(config: DeploymentConfig, share: float, bad: Mapping[str, str], counts: str) -> tuple[Series, ...]:
    """Traffic where the series `counts` with labels `bad` is `share` of the requests the router answered.

    Requests the cloud tier served make up the rest; when `counts` is not the request counter itself
    (fallbacks), every request was served and the bad series comes on top.
    """
    pod = router_pod_labels(config)
    (requests,) = catalog.ROUTER_REQUESTS.series
    served = PER_MINUTE * (1 - share) if counts == requests else PER_MINUTE
    return (
        counter(requests, {**pod, "tier": "cloud", "code": "200"}, steady(served)),
        counter(counts, {**pod, **bad}, steady(PER_MINUTE * share)),
    )


def _router_ratio_case(
    config: DeploymentConfig, threshold: float, bad: Mapping[str, str], counts: str, also_quiet: tuple[Quiet, ...] = ()
) -> Case:
    high = halfway_above(threshold)
    return Case(
        firing=_router_traffic(config, high, bad, counts),
        active_from=RATE_ACTIVE,
        labels=router.router_labels(config),
        value=high,
        quiet=(Quiet("under the threshold", _router_traffic(config, threshold / 2, bad, counts)), *also_quiet),
    )


def router_tier_unavailable(config: DeploymentConfig) -> Case:
    (requests,) = catalog.ROUTER_REQUESTS.series
    threshold = config.observability.alerts.router.tier_unavailable.threshold_ratio
    own = {"tier": catalog.ROUTER_SELF, "code": catalog.ROUTER_UNAVAILABLE}
    relayed = {
        "tier": "cloud",
        "code": catalog.ROUTER_UNAVAILABLE,
    }  # a tier's own 503, relayed: not the router's failure
    also = (Quiet("503s relayed from a tier", _router_traffic(config, halfway_above(threshold), relayed, requests)),)
    return _router_ratio_case(config, threshold, own, requests, also)


def router_fallback_rate_high(config: DeploymentConfig) -> Case:
    (fallbacks,) = catalog.ROUTER_FALLBACKS.series
    threshold = config.observability.alerts.router.fallback_rate_high.threshold_ratio
    return _router_ratio_case(config, threshold, {"from_tier": "edge", "to_tier": "cloud"}, fallbacks)


def router_endpoint_down(config: DeploymentConfig) -> Case:
    """The first endpoint out in every router pod, the others healthy."""
    name = catalog.ROUTER_ENDPOINT_HEALTHY.name
    (tier, down), *others = [(t, url) for t, urls in router_settings(config).endpoints.items() for url in urls]
    pods = (router_pod_labels(config, "router-a"), router_pod_labels(config, "router-b"))

    def health(*down_in_pod: float) -> tuple[Series, ...]:
        out = [
            gauge(name, {**pod, "tier": tier, "endpoint": down}, v) for pod, v in zip(pods, down_in_pod, strict=True)
        ]
        fine = [gauge(name, {**pod, "tier": t, "endpoint": url}, 1) for pod in pods for t, url in others]
        return (*out, *fine)

    return Case(
        firing=health(0, 0),
        active_from=0,
        labels={**router.router_labels(config), "tier": tier, "endpoint": down},
        value=0,
        quiet=(Quiet("one router pod still sends to it", health(0, 1)),),
    )


CONFIG_CASES: dict[str, Callable[[DeploymentConfig], Case]] = {
    "RouterTierUnavailable": router_tier_unavailable,
    "RouterFallbackRateHigh": router_fallback_rate_high,
    "RouterEndpointDown": router_endpoint_down,
}

SCOPES: dict[str, Callable[[DeploymentConfig], RuntimeScope | None]] = {"cloud": cloud_scope, "edge": edge_scope}
"""The scope of each concern whose alerts are written over a scope."""


def case_name(alert: AlertRule, config: DeploymentConfig) -> str:
    """The name its case is registered under: a scoped alert's name without its scope's prefix."""
    scope_of = SCOPES.get(alert.concern)
    scope = scope_of(config) if scope_of else None
    return alert.name.removeprefix(scope.prefix) if scope else alert.name


def has_case(alert: AlertRule, config: DeploymentConfig) -> bool:
    cases = RUNTIME_CASES if alert.concern in SCOPES else CONFIG_CASES
    return case_name(alert, config) in cases


def case_of(alert: AlertRule, config: DeploymentConfig) -> Case:
    """The alert's case, for its own scope's Services and settings (EdgeHighErrorRatio: the pools')."""
    name = case_name(alert, config)
    scope_of = SCOPES.get(alert.concern)
    if scope_of is None:
        return CONFIG_CASES[name](config)
    scope = scope_of(config)
    assert scope is not None, f"{alert.name} exists, so its scope does"
    return RUNTIME_CASES[name](scope, config)


# Annotations as Prometheus renders them ---------------------------------------------------------------

_ACTION = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def expand(template: str, labels: Mapping[str, str], value: float) -> str:
    """The few Go template actions our annotations use, rendered as Prometheus does; any other fails loudly."""

    def action(match: re.Match[str]) -> str:
        text = match[1]
        if text.startswith("$labels."):
            return labels[text.removeprefix("$labels.")]
        if text == "$value | humanizePercentage":
            return "%.4g%%" % (value * 100)
        printf = re.fullmatch(r'printf "([^"]+)" \$value', text)
        if printf:
            return printf[1] % value
        raise ValueError(f"the tests cannot expand {{{{ {text} }}}}; teach expand() or use a supported action")

    return _ACTION.sub(action, template)


# The promtool test file --------------------------------------------------------------------------------


def _test(name: str, series: Sequence[Series], checks: list[dict[str, object]]) -> dict[str, object]:
    last = max(int(str(check["eval_time"]).removesuffix("m")) for check in checks)
    length = max(last, *(len(s.samples) - 1 for s in series)) + 1
    return {
        "name": name,
        "interval": f"{EVALUATION_MINUTES}m",
        "input_series": [s.promtool(length) for s in series],
        "alert_rule_test": checks,
    }


def unit_tests(alert: AlertRule, rule: Mapping[str, object], case: Case) -> list[dict[str, object]]:
    """promtool tests for one alert: silent one interval before it should fire, firing exactly then, and quiet cases."""
    fires_at = case.active_from + minutes(alert.settings.for_)
    annotations = rule["annotations"]
    assert isinstance(annotations, dict)
    expected = [
        {
            "exp_labels": {**labels, **rule["labels"]},  # type: ignore[dict-item]
            "exp_annotations": {key: expand(text, labels, value) for key, text in annotations.items()},
        }
        for labels, value in ((case.labels, case.value), *case.more)
    ]
    checks: list[dict[str, object]] = []
    if fires_at >= EVALUATION_MINUTES:
        checks.append({"eval_time": f"{fires_at - EVALUATION_MINUTES}m", "alertname": alert.name, "exp_alerts": []})
    checks.append({"eval_time": f"{fires_at}m", "alertname": alert.name, "exp_alerts": expected})
    tests = [_test(f"{alert.name} fires at {fires_at}m", case.firing, checks)]
    for quiet in case.quiet:
        at = quiet.at or (fires_at, fires_at + 10)
        silent = [{"eval_time": f"{t}m", "alertname": alert.name, "exp_alerts": []} for t in at]
        tests.append(_test(f"{alert.name} stays silent: {quiet.name}", quiet.series, silent))
    return tests
